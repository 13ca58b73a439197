"""While Redis is away (a restart of a few seconds), nobody is turned away.

A Redis server of the test's own (``redis-server`` on a free port, no persistence, so a
restart loses every key, as the restart that was seen in production did) is stopped and
started again under a running app: callers hold in a loop that tries again and are then
routed, never sent to "everyone is away"; the API and pages answer 503 with Retry-After,
never 500; and everything works again without restarting the app. The carrier is the
simulator, reached through the real twilio-python client, and its webhooks are signed with
twilio-python's RequestValidator. What the ticker and an agent's page do after a restart
(notice the lost epoch and rebuild, re-announce the agent) is done here by calling the same
functions they call.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import redis
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.models import Call, User
from crm_core.schemas import UserIn, parse
from crm_core.users import create_user
from routing.config import profile
from routing.recovery import epoch_lost
from telephony.simulator.engine import Simulator
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.conftest import Api
from tests.telephony.conftest import PUBLIC, TOKEN, Twilio, twilio_app

NUMBER = "+13135550100"
CALLER = "+13135550101"
API = "http://simulator.test"
ACCOUNT = "AC" + "0" * 32
AWAY = "everyone who could help you is away"
APOLOGY = "we can't connect your call"
HOLD = "please stay on the line"

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


class RedisServer:
    """A redis-server process of this test's own, which can be stopped and started again."""

    def __init__(self, directory) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        probe.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(own_redis):
    return own_redis.url


@pytest.fixture
def server(app, own_redis):
    """The test's Redis, to stop and start; running again when the test ends, however it
    ends, for the app's own teardown (which empties it)."""
    yield own_redis
    if own_redis.process is None:
        own_redis.start()


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url, redis_url, clock, tmp_path, TWILIO_API_BASE_URL=API, TWILIO_CALLER_ID=NUMBER
    )


@pytest.fixture
def sim(app, deps, clock):
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_base_url=API,
    )
    deps.carrier.http.session.mount(API, WsgiAdapter(make_rest_app(sim)))
    sim.add_number(NUMBER, f"{PUBLIC}/twilio/acd/enqueue?queue=sales")
    return sim


@pytest.fixture
def agents(deps, clock):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
        create_user(
            s,
            parse(UserIn, {"username": "ana", "password": "x" * 12, "skills": {"sales": 8}}),
            clock,
        )
    with deps.session_factory() as s:
        return {u.username: profile(u) for u in s.scalars(select(User))}


def run(sim, deps, seconds, *, redis_up=True):
    """Simulated time passes; the ticker runs every second while Redis is there."""
    for _ in range(int(seconds)):
        sim.advance(1)
        if redis_up:
            deps.dispatcher.run(deps.router.tick())


def back_after_restart(deps, agents):
    """What happens within seconds of a restart: a ticker finds the epoch gone and rebuilds,
    and the agent's page, asked to re-announce, posts its presence again."""
    epoch_lost(deps)
    deps.dispatcher.run(deps.router.set_presence(agents["ana"], "available").actions)


def test_a_caller_arriving_during_a_restart_holds_and_is_answered_after_it(
    sim, deps, agents, server
):
    ana = sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(agents["ana"], "available")
    server.stop()
    caller = sim.call(CALLER, NUMBER).wait(120).hangup()
    run(sim, deps, 3, redis_up=False)  # the restart takes 3 s
    server.start()
    back_after_restart(deps, agents)
    run(sim, deps, 30)
    transcript = " ".join(str(t) for t in caller.transcript).lower()
    assert HOLD in transcript, caller.transcript
    assert AWAY not in transcript and APOLOGY not in transcript, caller.transcript
    assert caller.failures == [] and sim.errors == [], (caller.failures, sim.errors)
    assert len(ana.answered) == 1, sim.calls
    assert deps.router.agent(agents["ana"].id)["state"] == "busy"


def test_an_empty_queue_just_after_redis_lost_its_data_waits_for_the_agents_returning(
    sim, deps, agents, server
):
    ana = sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(agents["ana"], "available")
    first = sim.call(CALLER, NUMBER).wait(20).hangup()
    run(sim, deps, 40)
    assert len(ana.answered) == 1 and first.call.ended
    run(sim, deps, 60)  # the wrap-up is over
    server.stop()
    server.start()  # every key gone: Ana is not known to be there any more
    epoch_lost(deps)  # a ticker notices at once
    second = sim.call("+13135550102", NUMBER).wait(120).hangup()
    run(sim, deps, 3)  # Ana's page re-announces a few seconds later
    deps.dispatcher.run(deps.router.set_presence(agents["ana"], "available").actions)
    run(sim, deps, 30)
    transcript = " ".join(str(t) for t in second.transcript).lower()
    assert AWAY not in transcript and APOLOGY not in transcript, second.transcript
    assert second.failures == [] and sim.errors == [], (second.failures, sim.errors)
    assert len(ana.answered) == 2, sim.calls
    assert deps.router.entry(second.call.sid)["state"] == "connected"
    with deps.session_factory() as s:  # not a voicemail: the call is in Ana's queue's hands
        call = s.scalars(select(Call).where(Call.call_sid == second.call.sid)).one()
        assert call.queue == "sales" and "voicemail" not in (call.ivr_path or "")


def test_every_step_of_the_flow_answers_without_redis_and_again_after_it_returns(
    app, deps, agents, server
):
    twilio = Twilio(app.test_client())
    form = {"CallSid": "CA" + "1" * 32, "From": CALLER, "To": NUMBER, "CallStatus": "ringing"}
    server.stop()
    started = time.monotonic()
    answer = twilio.post("/twilio/acd/enqueue?queue=sales&lang=en-US", form)
    # Redis retried briefly, well within Twilio's 15 s for a webhook.
    assert answer.status_code == 200 and time.monotonic() - started < 5
    root = ET.fromstring(answer.get_data())
    assert [child.tag for child in root] == ["Say", "Pause", "Redirect"]
    assert (
        root.find("Redirect").text == f"{PUBLIC}/twilio/acd/enqueue?queue=sales&lang=en-US&held=1"
    )
    assert HOLD in root.find("Say").text.lower()
    # The wait URL holds the caller on, without a position.
    held = ET.fromstring(twilio.post("/twilio/acd/hold?lang=en-US", form).get_data())
    assert "Record" not in [child.tag for child in held.iter()]
    assert held.find("Pause") is not None
    # An agent's leg ending is a callback: 204, as Twilio expects.
    status = twilio.post("/twilio/acd/agent/status?entry=CA1&agent=1", {"CallStatus": "busy"})
    assert status.status_code == 204
    # After the rounds, the apology: a caller is not held for ever.
    last = twilio.post("/twilio/acd/enqueue?queue=sales&lang=en-US&held=5", form)
    assert "Record" in [child.tag for child in ET.fromstring(last.get_data())]
    server.start()
    back_after_restart(deps, agents)
    answer = twilio.post("/twilio/acd/enqueue?queue=sales&lang=en-US&held=1", form)
    root = ET.fromstring(answer.get_data())
    assert root.find("Enqueue") is not None, answer.get_data(as_text=True)


def test_the_api_answers_503_with_retry_after_and_pages_say_so_then_work_again(
    app, deps, clock, server
):
    api = Api(app, deps, clock)
    api.user("supervisor")
    api.user("agent")
    server.stop()
    queues = api.get("/api/acd/queues", as_="supervisor")
    assert queues.status_code == 503, queues.get_data(as_text=True)
    assert int(queues.headers["Retry-After"]) > 0
    error = queues.get_json()["error"]
    assert error["id"] == "live-state-unavailable" and "try again" in error["message"].lower()
    presence = api.post("/api/agents/me/presence", json={"state": "available"})
    assert presence.status_code == 503 and presence.headers["Retry-After"]
    page = app.test_client().get("/healthz", headers={"Accept": "text/html"})
    assert page.status_code == 503 and page.headers["Retry-After"]
    assert "try again" in page.get_data(as_text=True).lower()
    stream = api.get("/api/acd/stream", as_="supervisor")
    assert stream.status_code == 200  # the feed ends at once; the browser reconnects
    stream.get_data()
    server.start()
    assert api.get("/api/acd/queues", as_="supervisor").status_code == 200
    assert api.post("/api/agents/me/presence", json={"state": "available"}).status_code == 200
