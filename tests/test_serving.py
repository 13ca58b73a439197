"""The real serving commands, as separate processes on loopback: the production command
(gunicorn with several workers) and ``callcenter demo``, both on the embedded defaults."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {seconds} s")


def embedded_servers(instance: Path) -> list[psutil.Process]:
    """The embedded Redis servers serving this instance folder (via its registry file)."""
    settings = instance / "redis.rdb.settings"
    if not settings.exists():
        return []
    import json

    pidfile = Path(json.loads(settings.read_text())["pidfile"])
    if not pidfile.exists():
        return []
    pid = int(pidfile.read_text())
    return [psutil.Process(pid)] if psutil.pid_exists(pid) else []


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return clean | {"INSTANCE_PATH": str(tmp_path / "instance")}


def test_gunicorn_workers_share_one_embedded_redis_and_stop_it(env, tmp_path):
    instance = tmp_path / "instance"
    upgrade = subprocess.run(
        [BIN / "callcenter", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "app:create_app()"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(12):  # enough requests to reach every worker
            assert wait_healthy(f"http://127.0.0.1:{port}/healthz", server) == 200
        assert len(psutil.Process(server.pid).children()) == 3
        servers = embedded_servers(instance)
        assert len(servers) == 1, "three workers, one embedded Redis"
    finally:
        stop(server)
    servers[0].wait(timeout=30)
    assert not embedded_servers(instance)


def test_demo_serves_and_stops_cleanly_on_sigterm(env, tmp_path):
    instance = tmp_path / "instance"
    port = free_port()
    demo = subprocess.Popen(
        [BIN / "callcenter", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", demo) == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
            assert b"Log in" in page.read()
        children = psutil.Process(demo.pid).children(recursive=True)
        assert any("worker" in " ".join(c.cmdline()) for c in children), "no rq worker started"
        servers = embedded_servers(instance)
        assert len(servers) == 1
    finally:
        output = stop(demo)
    assert "ana-demo-pass" in output
    assert demo.returncode == 0, output
    for child in children:
        child.wait(timeout=30)
    servers[0].wait(timeout=30)
    assert not embedded_servers(instance)
