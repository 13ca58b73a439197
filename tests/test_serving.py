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


def test_live_simulator_call_through_the_development_server(env, tmp_path):
    """`callcenter run` with CARRIER=simulator: a call placed on the control API runs in
    real time over HTTP, signed webhooks to the app and back, until the message is saved."""
    import base64
    import json

    from app import load_config

    env = env | {"SECRET_KEY": "live-test", "CARRIER": "simulator"}
    port = free_port()
    creds = load_config(
        {"SECRET_KEY": "live-test", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}, str(tmp_path)
    )
    auth = base64.b64encode(
        f"{creds['TWILIO_ACCOUNT_SID']}:{creds['TWILIO_AUTH_TOKEN']}".encode()
    ).decode()
    subprocess.run(
        [BIN / "callcenter", "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120
    )
    subprocess.run(
        [BIN / "callcenter", "queues", "set", "operator", "--hours", ""],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = subprocess.Popen(
        [BIN / "callcenter", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", server)
        # The operator (made open around the clock above) with nobody logged in: the caller
        # leaves a message.
        steps = [
            ["wait", 1],
            ["press", "0"],  # during the greeting: a caller who knows the menu
            ["expect_say", "after the tone"],
            ["talk", 2],
            ["press", "#"],
            ["expect_say", "your message has been saved"],
        ]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/simulator/calls",
            method="POST",
            data=json.dumps(
                {"from": "+13135550101", "to": "+13135550100", "steps": steps}
            ).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            sid = json.load(response)["sid"]
        state = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            check = urllib.request.Request(
                f"http://127.0.0.1:{port}/simulator/calls/{sid}",
                headers={"Authorization": f"Basic {auth}"},
            )
            with urllib.request.urlopen(check, timeout=10) as response:
                state = json.load(response)
            if state["status"] == "completed":
                break
            time.sleep(0.5)
        assert state["status"] == "completed", state
        assert state["failures"] == [] and state["errors"] == [], state
        heard = " ".join(t for _, kind, t in state["transcript"] if kind == "heard say").lower()
        assert "thank you for calling" in heard and "your message has been saved" in heard
    finally:
        output = stop(server)
    assert "Local carrier simulator: call +13135550100 with POST" in output
