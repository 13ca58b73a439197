"""``callcenter simulator`` as its own process: SIGTERM with a call in progress (a webhook
in flight to an app that does not answer) ends it within seconds, with status 0, leaving no
process of its own behind (nor the embedded Redis it started)."""

import base64
import json
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import psutil
import pytest

from tests.test_serving import BIN, embedded_servers, env, free_port  # noqa: F401 - a fixture

PROMPT_SECONDS = 6.0  # a stopping ticker waits 1 s; the embedded Redis takes ~2 s to stop


class SilentApp:
    """An "app" that accepts the simulator's webhooks and never answers them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.socket.close()
        for conn in self.accepted:
            conn.close()


def credentials(env) -> str:  # noqa: F811
    """The account SID and token the simulator signs with (derived from the instance)."""
    out = subprocess.run(
        [
            BIN / "python",
            "-c",
            "from app import load_config; import os;"
            "c = load_config({}, os.environ['INSTANCE_PATH']);"
            "print(c['TWILIO_ACCOUNT_SID'] + ':' + c['TWILIO_AUTH_TOKEN'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def request(url: str, auth: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def wait_listening(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"simulator exited early: {process.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the simulator did not listen on {port} within {seconds} s")


def test_sigterm_with_a_call_in_progress_exits_promptly_and_cleanly(env, tmp_path):  # noqa: F811
    app = SilentApp()
    port = free_port()
    env = env | {"PUBLIC_BASE_URL": f"http://127.0.0.1:{app.port}"}
    auth = credentials(env)
    process = subprocess.Popen(
        [BIN / "callcenter", "simulator", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_listening(port, process)
        base = f"http://127.0.0.1:{port}"
        steps = [["wait", 60], ["hangup"]]
        placed = request(
            f"{base}/simulator/calls",
            auth,
            {"from": "+13135550101", "to": "+13135550100", "steps": steps},
        )
        assert len(placed["sid"]) == 34
        deadline = time.monotonic() + 10
        while not app.accepted and time.monotonic() < deadline:  # the voice webhook is out
            time.sleep(0.1)
        assert app.accepted, "the simulator never requested the Voice URL"
        own = psutil.Process(process.pid).children(recursive=True)
        redis = embedded_servers(tmp_path / "instance")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        took = time.monotonic() - started
        assert process.returncode == 0, output
        assert took < PROMPT_SECONDS, f"{took:.1f} s to stop"
        assert not [p for p in own + redis if p.is_running() and p.status() != "zombie"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        app.close()
