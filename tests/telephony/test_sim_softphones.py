"""The local carrier's browser softphones (telephony/simulator/softphones.py): what the
page's SimDevice does, played here through the device API with the app's own tokens.

The whole path is real: the app issues the token (telephony.access_tokens), the simulator
checks it, its calls run the app's signed webhooks, and the app's Carrier (twilio-python)
reaches the simulator's REST API in this thread. Time is the test's ManualClock, moved by
``run`` (the ACD's ticker included), so nothing here waits on a wall clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.models import Call, User
from crm_core.schemas import UserIn, parse
from crm_core.users import create_user
from routing.config import profile
from telephony.access_tokens import voice_token
from telephony.simulator import live
from telephony.simulator.engine import Simulator
from telephony.simulator.softphones import PREFIX
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"
CALLER = "+13135550101"
CUSTOMER = "+13135550142"
ACCOUNT = "AC" + "0" * 32
API = "http://simulator.test"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="simulator",
        TWILIO_API_BASE_URL=API,
        TWILIO_CALLER_ID=NUMBER,
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
    api = live.make_app(sim)
    deps.carrier.http.session.mount(API, WsgiAdapter(api))
    sim.add_number(NUMBER, f"{PUBLIC}/twilio/acd/enqueue?queue=sales")
    sim.softphones.configure(
        app_url=f"{PUBLIC}/twilio/client", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    sim.api = api.test_client()
    return sim


@pytest.fixture
def agents(deps, clock):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
        for name in ("ana", "luis"):
            data = {"username": name, "password": "x" * 12, "skills": {"sales": 5}}
            create_user(s, parse(UserIn, data), clock)
    with deps.session_factory() as s:
        return {u.username: profile(u) for u in s.scalars(select(User))}


class Device:
    """The page's SimDevice, in Python: the same requests with the same token."""

    def __init__(self, sim, deps, identity: str, *, issued=None) -> None:
        self.sim = sim
        now = issued or deps.clock.now()
        self.token = voice_token(deps.config, identity, now).token
        self.cursor = 0

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, json=None, **kwargs):
        return self.sim.api.post(PREFIX + path, json=json, headers=self.headers(), **kwargs)

    def register(self):
        reply = self.post("/register")
        assert reply.status_code == 200, reply.json
        self.cursor = reply.json["cursor"]
        return reply.json

    def events(self):
        reply = self.sim.api.get(
            f"{PREFIX}/events?after={self.cursor}&wait=0", headers=self.headers()
        )
        assert reply.status_code == 200, reply.json
        self.cursor = reply.json["cursor"]
        return reply.json["events"]


def run(sim, deps, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        sim.advance(step)
        deps.dispatcher.run(deps.router.tick())


def kinds(events):
    return [(e["type"], e["call"]["status"]) for e in events if e["type"] != "heard"]


def offered(sim, deps, agents, device):
    """Ana available, a caller enqueued to sales: her softphone rings (the incoming event)."""
    deps.router.set_presence(agents["ana"], "available")
    caller = sim.call(CALLER, NUMBER).wait(300).hangup()
    run(sim, deps, 2)
    (incoming,) = [e for e in device.events() if e["type"] == "incoming"]
    assert incoming["call"]["from"] == NUMBER and incoming["call"]["to"] == "client:agent_ana"
    assert incoming["call"]["direction"] == "incoming"
    return caller, incoming["call"]["sid"]


def test_the_browser_answers_the_offer_and_is_bridged_with_the_caller(sim, deps, agents):
    ana = Device(sim, deps, "agent_ana")
    assert ana.register() == {"address": "client:agent_ana", "identity": "agent_ana", "cursor": 0}
    caller, leg = offered(sim, deps, agents, ana)
    assert deps.router.agent(agents["ana"].id)["state"] == "reserved"

    assert ana.post(f"/calls/{leg}/accept").status_code == 200
    assert ana.post(f"/calls/{leg}/accept").status_code == 409  # another tab, too late
    run(sim, deps, 2)
    events = ana.events()
    assert ("status", "in-progress") in kinds(events)
    assert deps.router.agent(agents["ana"].id)["state"] == "busy"
    conference = sim.conference(caller.call.sid, create=False)  # named after the CallSid
    assert set(conference.participants) == {caller.call.sid, leg}

    assert ana.post(f"/calls/{leg}/mute", json={"muted": True}).json["muted"] is True
    assert ana.post(f"/calls/{leg}/hangup").status_code == 200
    run(sim, deps, 2)
    assert ("status", "completed") in kinds(ana.events())
    assert sim.calls[leg].status == "completed" and caller.call.ended
    assert deps.router.agent(agents["ana"].id)["state"] == "wrap_up"
    assert sim.errors == [] and caller.failures == []


def test_reject_is_busy_and_the_offer_is_released(sim, deps, agents):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    caller, leg = offered(sim, deps, agents, ana)
    assert ana.post(f"/calls/{leg}/reject").json["rejected"] is True
    run(sim, deps, 1)
    assert kinds(ana.events()) == [("status", "busy")]
    agent = deps.router.agent(agents["ana"].id)
    assert agent["state"] != "reserved" and not agent.get("offer")
    assert not caller.call.ended  # still waiting for someone else


def test_a_ringing_call_nobody_answers_ends_as_no_answer(sim, deps, agents):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    _, leg = offered(sim, deps, agents, ana)
    run(sim, deps, 25)  # the queue's 15 s offer, and the carrier's ring grace
    statuses = [s for t, s in kinds(ana.events()) if t == "status"]
    assert statuses and statuses[-1] in ("no-answer", "canceled")
    assert sim.calls[leg].ended
    assert ana.post(f"/calls/{leg}/accept").status_code == 409


def test_a_page_registering_while_its_phone_rings_is_told(sim, deps, agents):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    _, leg = offered(sim, deps, agents, ana)
    reloaded = Device(sim, deps, "agent_ana")
    reloaded.register()
    assert [(e["type"], e["call"]["sid"]) for e in reloaded.events()] == [("incoming", leg)]


def test_the_browser_hears_says_and_its_digits_reach_a_gather(sim, deps, agents):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    call = sim.create_call(
        to="client:agent_ana",
        from_=NUMBER,
        url=None,
        twiml=(
            "<Response><Say>Press your code</Say>"
            '<Gather numDigits="4" timeout="30"><Pause length="30"/></Gather></Response>'
        ),
    )
    run(sim, deps, 1)
    assert ana.post(f"/calls/{call.sid}/digits", json={"digits": "12"}).status_code == 409
    assert ana.post(f"/calls/{call.sid}/hangup").status_code == 409  # ringing: reject it
    assert ana.post(f"/calls/{call.sid}/accept").status_code == 200
    run(sim, deps, 3)
    heard = [e["text"] for e in ana.events() if e["type"] == "heard"]
    assert heard == ["Press your code"]
    assert ana.post(f"/calls/{call.sid}/digits", json={"digits": "1w2"}).status_code == 200
    run(sim, deps, 1)
    assert call.gather is not None and call.gather.digits == "12"


def test_connect_calls_the_twiml_app_as_twilio_does(sim, deps, agents):
    """Device.connect({params: {To}}): /twilio/client dials the customer for Ana."""
    rosa = sim.phone(CUSTOMER, answer_after=2)
    rosa.wait(30).hangup()
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    reply = ana.post("/calls", json={"params": {"To": CUSTOMER, "lead": "7"}})
    assert reply.status_code == 201, reply.json
    call_sid = reply.json["sid"]
    assert reply.json["direction"] == "outgoing" and reply.json["from"] == "client:agent_ana"
    run(sim, deps, 5)
    assert len(rosa.answered) == 1, sim.errors
    assert ("status", "in-progress") in kinds(ana.events())
    (leg,) = [c for c in sim.calls.values() if c.parent_sid == call_sid]
    assert leg.to == CUSTOMER and leg.status == "in-progress"
    with deps.session_factory() as s:
        row = s.scalars(select(Call).where(Call.call_sid == call_sid)).one()
        assert row.agent_id == agents["ana"].id and row.to_number == CUSTOMER
    assert ana.post(f"/calls/{call_sid}/hangup").status_code == 200
    run(sim, deps, 2)
    assert sim.calls[call_sid].status == "completed" and leg.ended
    assert ("status", "completed") in kinds(ana.events())
    assert sim.errors == []


def test_a_device_acts_only_as_itself(sim, deps, agents, clock):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    luis = Device(sim, deps, "agent_luis")
    assert luis.post("/calls/CA1/accept").status_code == 409  # not registered
    luis.register()
    _, leg = offered(sim, deps, agents, ana)
    assert luis.events() == []  # not his call
    for action in ("accept", "reject", "hangup"):
        reply = luis.post(f"/calls/{leg}/{action}")
        assert reply.status_code == 403 and reply.json["code"] == 20403
    assert luis.post("/calls/CA" + "f" * 32 + "/accept").status_code == 404
    assert luis.post(f"/calls/{leg}/transfer").status_code == 404

    assert sim.api.post(f"{PREFIX}/register").status_code == 401
    forged = sim.api.post(f"{PREFIX}/register", headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401 and forged.json["code"] == 20101
    old = Device(sim, deps, "agent_ana", issued=clock.now() - timedelta(hours=2))
    expired = old.post("/register")
    assert expired.status_code == 401 and expired.json["code"] == 20104
    basic = sim.api.post(f"{PREFIX}/register", auth=(ACCOUNT, TOKEN))
    assert basic.status_code == 401  # the account's credentials are not a softphone's


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/calls", {"params": ["To", CUSTOMER]}),
        ("/calls", {"params": {"To": 3135550142}}),
        ("/calls", {"params": {"bad name": "x"}}),
        ("/calls", {"params": {"To": "x" * 600}}),
        ("/calls", "not an object"),
    ],
)
def test_malformed_connects_are_400(sim, deps, path, body):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    reply = ana.post(path, json=body)
    assert reply.status_code == 400
    assert set(reply.json) == {"code", "message", "more_info", "status"}


def test_malformed_actions_and_polls_are_400(sim, deps, agents):
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    _, leg = offered(sim, deps, agents, ana)
    ana.post(f"/calls/{leg}/accept")
    run(sim, deps, 2)
    for body in ({"digits": "12a"}, {"digits": ""}, {"digits": 12}, {}):
        assert ana.post(f"/calls/{leg}/digits", json=body).status_code == 400
    assert ana.post(f"/calls/{leg}/mute", json={"muted": "yes"}).status_code == 400
    not_json = ana.post(f"/calls/{leg}/mute", data="muted", content_type="text/plain")
    assert not_json.status_code == 400
    for query in ("after=-1", "after=x", "wait=99", "wait=-1"):
        reply = sim.api.get(f"{PREFIX}/events?{query}", headers=ana.headers())
        assert reply.status_code == 400, query


def test_cors_preflight_and_unregister(sim, deps):
    preflight = sim.api.open(f"{PREFIX}/events", method="OPTIONS")
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    ana = Device(sim, deps, "agent_ana")
    ana.register()
    assert ana.post("/unregister").json == {"address": "client:agent_ana", "registered": False}
    gone = sim.api.get(f"{PREFIX}/events?wait=0", headers=ana.headers())
    assert gone.status_code == 409
