"""The real serving commands, as separate processes on loopback: the production command
(gunicorn with several workers), ``callcenter run`` and ``callcenter demo``, on the embedded
defaults. Each listens on a port the system picks (port 0), read back from its log; each
must stop promptly on SIGTERM and leave no process behind."""

import os
import re
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
STOP_SECONDS = 60  # SIGTERM to exit, on a loaded machine (about 5 s on a quiet one)
LISTENING = re.compile(r"(?:Running on|Listening at:) http://127\.0\.0\.1:(\d+)")


def free_port() -> int:
    """A port free now, for a server that cannot be told to pick one (port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A serving command started with its output in a file (a pipe nobody reads while the
    test runs could fill and stall it), the port it listens on read from that output."""

    def __init__(self, args: list, env: dict, log: Path, seconds: float = 120) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.port = self._port(seconds)

    def _port(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = LISTENING.search(self.output)
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                pytest.fail(f"server exited early:\n{self.output}")
            time.sleep(0.2)
        self.process.kill()
        pytest.fail(f"no listening address within {seconds} s:\n{self.output}")

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, seconds: float = STOP_SECONDS) -> float:
        """SIGTERM; how long it took to exit. Fails (and kills) if it does not in time."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            for child in self.descendants():
                child.kill()
            self.process.kill()
            self.process.wait()
            pytest.fail(f"still running {seconds} s after SIGTERM:\n{self.output[-3000:]}")
        return time.monotonic() - started

    def kill(self) -> None:
        """After a failure: nothing may outlive the test."""
        if self.process.poll() is None:
            for child in self.descendants():
                child.kill()
            self.process.kill()
            self.process.wait()


def assert_all_gone(processes: list[psutil.Process], seconds: float = 30) -> None:
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early with status {process.returncode}")
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
    server = Server(
        [BIN / "gunicorn", "-w", "3", "-b", "127.0.0.1:0", "app:create_app()"],
        env,
        tmp_path / "gunicorn.log",
    )
    try:
        for _ in range(12):  # enough requests to reach every worker
            assert wait_healthy(f"{server.url}/healthz", server.process) == 200
        children = server.descendants()
        assert len(children) == 3
        servers = embedded_servers(instance)
        assert len(servers) == 1, "three workers, one embedded Redis"
        server.stop()
    finally:
        server.kill()
    assert_all_gone(children + servers)
    assert not embedded_servers(instance)


def test_demo_serves_and_stops_cleanly_on_sigterm(env, tmp_path):
    instance = tmp_path / "instance"
    demo = Server([BIN / "callcenter", "demo", "--port", "0"], env, tmp_path / "demo.log")
    try:
        assert wait_healthy(f"{demo.url}/healthz", demo.process) == 200
        with urllib.request.urlopen(f"{demo.url}/login", timeout=5) as page:
            assert b"Log in" in page.read()
        children = demo.descendants()
        assert any("worker" in " ".join(c.cmdline()) for c in children), "no rq worker started"
        servers = embedded_servers(instance)
        assert len(servers) == 1
        demo.stop()
    finally:
        demo.kill()
    assert "ana-demo-pass" in demo.output
    assert demo.process.returncode == 0, demo.output
    assert_all_gone(children + servers)
    assert not embedded_servers(instance)


def test_live_simulator_call_through_the_development_server(env, tmp_path):
    """`callcenter run` with CARRIER=simulator: a call placed on the control API runs in
    real time over HTTP, signed webhooks to the app and back, until the message is saved;
    then SIGTERM stops the server, its worker and the embedded Redis promptly, with the
    worker still busy with what the call left (the ticker's records, the download job)."""
    import base64
    import json

    from app import load_config

    instance = tmp_path / "instance"
    env = env | {"SECRET_KEY": "live-test", "CARRIER": "simulator"}
    creds = load_config({"SECRET_KEY": "live-test"}, str(tmp_path))  # the port plays no part
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
    server = Server([BIN / "callcenter", "run", "--port", "0"], env, tmp_path / "run.log")
    try:
        wait_healthy(f"{server.url}/healthz", server.process)
        # The operator (made open around the clock above) with nobody logged in: the caller
        # leaves a message.
        steps = [
            ["wait", 1],
            ["press", "0"],  # during the greeting: a caller who knows the menu
            ["expect_say", "after the tone"],
            ["talk", 2],
            ["press", "#"],
            ["expect_say", "we received your message"],
        ]
        request = urllib.request.Request(
            f"{server.url}/simulator/calls",
            method="POST",
            data=json.dumps(
                {"from": "+13135550101", "to": "+13135550100", "steps": steps}
            ).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            sid = json.load(response)["sid"]
        state = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            check = urllib.request.Request(
                f"{server.url}/simulator/calls/{sid}",
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
        assert "thank you for calling" in heard and "we received your message" in heard
        children = server.descendants()
        assert any("worker" in " ".join(c.cmdline()) for c in children), "no rq worker started"
        servers = embedded_servers(instance)
        server.stop()
    finally:
        server.kill()
    assert server.process.returncode == 0, server.output[-3000:]
    assert f"Local carrier simulator: call +13135550100 with POST {server.url}" in server.output
    assert_all_gone(children + servers)
    assert not embedded_servers(instance)
