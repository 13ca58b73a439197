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
from email.utils import parsedate_to_datetime

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


# ------------------------------------------------------------------------------------------
# The simulator's process and the app's: a webhook inside which the app calls the REST API.

ACCOUNT = "AC" + "0" * 32
TOKEN = "12345"
NUMBER = "+13135550100"
CALLER = "+13135550101"
RING_SECONDS = 5.0  # from the caller's place in the queue to the agent's softphone ringing
SLOWEST_WEBHOOK = 5.0  # Twilio gives up at 15 s (error 11200)


class Timed:
    """The app's WSGI callable, noting when each webhook came and how long it took."""

    def __init__(self, app) -> None:
        self.app = app
        self.took: list[tuple[float, str, float]] = []  # (seconds, path, wall-clock start)

    def __call__(self, environ, start_response):
        came, started = time.time(), time.monotonic()
        try:
            return [b"".join(self.app(environ, start_response))]
        finally:
            path = environ.get("PATH_INFO", "")
            self.took.append((time.monotonic() - started, path, came))


@pytest.fixture
def served_app(database_url, redis_url, clock, tmp_path):
    """The app (this process, the test database and Redis) behind a real threaded HTTP
    server, talking to the simulator's REST API over HTTP, as it would to Twilio."""
    from werkzeug.serving import make_server

    from tests.conftest import make_app

    api_port = free_port()
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [], threaded=True)
    public = f"http://127.0.0.1:{server.port}"
    made = make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        PUBLIC_BASE_URL=public,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{api_port}",
        TWILIO_CALLER_ID=NUMBER,
    )
    app = next(made)
    server.app = timed = Timed(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, timed, public, api_port
    finally:
        server.shutdown()
        server.server_close()
        next(made, None)


def test_a_caller_in_the_queue_rings_the_agent_at_once_over_http(
    served_app,
    env,  # noqa: F811
    tmp_path,
    clock,
    redis_url,
):
    """The app answers the caller's webhooks by calling the simulator's REST API (the
    agent's leg): neither waits for the other, as with the simulator embedded."""
    import importlib

    from sqlalchemy import select

    from crm_core.acd import create_queue
    from crm_core.acd_schemas import QueueIn
    from crm_core.models import User
    from crm_core.schemas import UserIn, parse
    from crm_core.users import create_user
    from routing.config import profile

    app, timed, public, api_port = served_app
    deps = app.extensions["callcenter"]
    default_queues = importlib.import_module(
        "migrations.versions.0005_business_hours_holidays_default_queues"
    ).DEFAULT_QUEUES
    with deps.session_factory.begin() as s:
        for name, display, skills, hours, empty in default_queues:
            data = {"name": name, "display_name": display, "required_skills": skills}
            create_queue(s, parse(QueueIn, data | {"hours": hours, "empty_action": empty}), clock)
        create_user(
            s,
            parse(UserIn, {"username": "ana", "password": "x" * 12, "skills": {"sales": 5}}),
            clock,
        )
    deps.router.queues.invalidate()
    with deps.session_factory() as s:
        ana = profile(s.scalars(select(User)).one())
    deps.router.set_presence(ana, "available")

    process = subprocess.Popen(
        [BIN / "callcenter", "simulator", "--port", str(api_port)],
        env=env
        | {
            "PUBLIC_BASE_URL": public,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_CALLER_ID": NUMBER,
            "CARRIER": "simulator",
            "REDIS_URL": redis_url,  # not used by the simulator; no embedded server to start
            "DATABASE_URL": f"sqlite:///{tmp_path / 'simulator.db'}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    auth = f"{ACCOUNT}:{TOKEN}"
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_listening(api_port, process)
        # Sales, then new vehicles: each key cuts its menu short, as callers who know do.
        steps = [["wait", 2], ["press", "1"], ["wait", 2], ["press", "1"], ["wait", 60]]
        steps.append(["hangup"])
        caller = request(
            f"{base}/simulator/calls", auth, {"from": CALLER, "to": NUMBER, "steps": steps}
        )["sid"]
        agent_leg = None
        deadline = time.monotonic() + 60
        while agent_leg is None and time.monotonic() < deadline:
            try:
                calls = request(f"{base}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", auth)
            except OSError:  # the simulator did not answer within 10 s: not yet
                continue
            legs = [c for c in calls["calls"] if c["to"] == "client:agent_ana"]
            agent_leg = legs[0] if legs else None
            time.sleep(0.1)
        state = request(f"{base}/simulator/calls/{caller}", auth)
        heard = " ".join(f"{kind}: {text}" for _, kind, text in state["transcript"]).lower()
        queued = [came for _, path, came in timed.took if path == "/twilio/acd/enqueue"]
        assert queued and agent_leg is not None, (timed.took, heard)
        rang = parsedate_to_datetime(agent_leg["date_created"]).timestamp()  # whole seconds
        assert rang - queued[0] < RING_SECONDS, (rang - queued[0], heard)
        slowest = max(timed.took)
        assert slowest[0] < SLOWEST_WEBHOOK, slowest
        assert state["errors"] == [] and "sorry" not in heard, (state["errors"], heard)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
