"""The demo's browser phone and traffic switch (console/demo.py, telephony/simulator/traffic.py)
on the real database, Redis and simulator: the simulator runs on the test's ManualClock,
sends its webhooks to the app in this thread and answers the app's REST calls (WsgiAdapter),
as the embedded one does in ``callcenter demo``."""

from __future__ import annotations

import importlib
import re

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.demo import seed
from crm_core.models import Call, User
from crm_core.schemas import parse
from routing.config import profile
from telephony.models import TelephonyError
from telephony.simulator.engine import Simulator
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"
MARIA = "+13135550101"  # a seeded demo customer with an open lead
API = "http://simulator.test"
ACCOUNT = "AC" + "0" * 32
DEFAULT_QUEUES = importlib.import_module(
    "migrations.versions.0005_business_hours_holidays_default_queues"
).DEFAULT_QUEUES


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        TWILIO_API_BASE_URL=API,
        TWILIO_CALLER_ID=NUMBER,
        DEMO_MODE=True,
    )


@pytest.fixture
def demo_data(deps, clock):
    """What a fresh `callcenter demo` has: the migration's queues, then the demo's seed."""
    with deps.session_factory.begin() as s:
        for name, display, skills, hours, empty in DEFAULT_QUEUES:
            data = {"name": name, "display_name": display, "required_skills": skills}
            create_queue(s, parse(QueueIn, data | {"hours": hours, "empty_action": empty}), clock)
        assert seed(s, clock) is True
    deps.router.queues.invalidate()


@pytest.fixture
def sim(app, deps, clock, demo_data):
    return embed_simulator(app, deps, clock, PUBLIC)


def embed_simulator(app, deps, clock, public: str) -> Simulator:
    """What app.py does in `callcenter demo`, on the test's clock."""
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_base_url=API,
    )
    deps.carrier.http.session.mount(API, WsgiAdapter(make_rest_app(sim)))
    sim.add_number(
        NUMBER,
        f"{public}/twilio/voice",
        status_callback=f"{public}/twilio/voice/status",
        fallback_url=f"{public}/twilio/voice/fallback",
    )
    app.extensions["simulator"] = sim
    return sim


def run(sim, deps, seconds):
    """Simulated time passes; the ACD ticker runs every second, as `callcenter worker` does."""
    for _ in range(int(seconds)):
        sim.advance(1)
        deps.dispatcher.run(deps.router.tick())


class Browser:
    """The browser phone's requests: a cookie session and its CSRF token, no login."""

    def __init__(self, client) -> None:
        self.client = client
        page = client.get("/demo/phone")
        assert page.status_code == 200, page.data
        self.token = re.search(rb'name="csrf-token" content="([^"]+)"', page.data).group(1)

    def post(self, path, body=None, **kw):
        headers = {"X-CSRFToken": self.token.decode(), "Accept": "application/json"}
        return self.client.post(path, json=body, headers=headers, **kw)

    def get(self, path):
        return self.client.get(path, headers={"Accept": "application/json"})


def heard(browser, sid) -> str:
    view = browser.get(f"/demo/api/calls/{sid}").get_json()
    return " ".join(e["text"] for e in view["entries"] if e["kind"] == "heard say").lower()


# ---------------------------------------------------------------- demo mode only


def test_the_demo_urls_answer_404_outside_demo_mode(app, client, sim, api):
    app.config["DEMO_MODE"] = False
    assert client.get("/demo/phone").status_code == 404
    assert api.get("/demo/traffic", as_="supervisor").status_code == 404
    response = api.post("/demo/api/traffic", as_="supervisor", json={"running": True})
    assert response.status_code == 404 and response.get_json()["error"]["id"] == "not-found"
    assert api.get("/demo/api/calls/CA1", as_="supervisor").status_code == 404
    page = client.get("/").get_data(as_text=True)
    assert "not running the demo" in page and "ana-demo-pass" not in page


def test_the_demo_urls_answer_404_without_an_embedded_simulator(app, client, api):
    assert "simulator" not in app.extensions
    assert client.get("/demo/phone").status_code == 404
    assert api.get("/demo/api/traffic", as_="supervisor").status_code == 404


def test_the_start_page_links_the_demo_and_shows_the_logins(client, sim):
    page = client.get("/").get_data(as_text=True)
    for href in (
        'href="/agent"',
        'href="/wallboard"',
        'href="/demo/phone"',
        'href="/demo/traffic"',
    ):
        assert href in page
    for username, _role, password in (("ana", "", "ana-demo-pass"), ("sam", "", "sam-demo-pass")):
        assert f"<code>{username}</code>" in page and password in page
    assert "not running the demo" not in page


# ---------------------------------------------------------------- the browser phone


def test_the_browser_phone_dials_hears_the_greeting_and_presses_keys(client, sim, deps):
    with deps.session_factory() as s:  # logged in but away: a caller waits for her
        ana = profile(s.scalars(select(User).where(User.username == "ana")).one())
    deps.router.set_presence(ana, "away", "meeting")
    browser = Browser(client)
    placed = browser.post("/demo/api/calls", {"from": "(313) 555-0101"})
    assert placed.status_code == 201, placed.get_json()
    sid = placed.get_json()["sid"]
    assert sim.calls[sid].from_ == MARIA  # normalised to E.164: the screen pop finds Maria
    run(sim, deps, 3)
    view = browser.get(f"/demo/api/calls/{sid}").get_json()
    assert view["status"] == "in-progress" and not view["ended"]
    assert view["state"] == "listening for your keys or words"
    assert "hi maria" in heard(browser, sid)
    # Maria has an open lead: the IVR asks about it first; 2 is "anything else", the menu.
    response = browser.post(f"/demo/api/calls/{sid}/digits", {"digits": "2"})
    assert response.status_code == 200
    run(sim, deps, 3)
    assert "for sales, press 1" in heard(browser, sid)
    browser.post(f"/demo/api/calls/{sid}/digits", {"digits": "1"})
    run(sim, deps, 3)
    assert "for new vehicles, press 1" in heard(browser, sid)
    # Words go to the menu's speech input too.
    browser.post(f"/demo/api/calls/{sid}/speech", {"text": "  new   car "})
    run(sim, deps, 15)
    view = browser.get(f"/demo/api/calls/{sid}?after=0").get_json()
    kinds = [(e["kind"], e["text"]) for e in view["entries"]]
    assert ("pressed", "2") in kinds and ("pressed", "1") in kinds and ("said", "new car") in kinds
    assert view["state"] == "waiting in the queue"  # Ana is away
    later = browser.get(f"/demo/api/calls/{sid}?after={view['next']}").get_json()
    assert later["entries"] == [] or later["entries"][0]["at"] >= view["entries"][-1]["at"]
    hung = browser.post(f"/demo/api/calls/{sid}/hangup", {})
    assert hung.status_code == 200
    run(sim, deps, 2)
    view = browser.get(f"/demo/api/calls/{sid}").get_json()
    assert view["ended"] and view["status"] == "completed"
    again = browser.post(f"/demo/api/calls/{sid}/digits", {"digits": "1"})
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "sid"
    assert sim.errors == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/demo/api/calls", {"from": "not a number"}, "from"),
        ("/demo/api/calls", {"from": 3135550101}, "from"),
        ("/demo/api/calls", {}, "from"),
        ("/demo/api/calls", [], None),
        ("/demo/api/calls/{sid}/digits", {"digits": "12a"}, "digits"),
        ("/demo/api/calls/{sid}/digits", {"digits": ""}, "digits"),
        ("/demo/api/calls/{sid}/digits", {"digits": "1" * 21}, "digits"),
        ("/demo/api/calls/{sid}/digits", {"digits": 1}, "digits"),
        ("/demo/api/calls/{sid}/speech", {"text": "   "}, "text"),
        ("/demo/api/calls/{sid}/speech", {"text": "x" * 201}, "text"),
    ],
)
def test_the_browser_phone_refuses_bad_input_with_a_clear_400(client, sim, path, body, field):
    browser = Browser(client)
    sid = browser.post("/demo/api/calls", {"from": MARIA}).get_json()["sid"]
    response = browser.post(path.format(sid=sid), body)
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert error.get("field") == field and error["message"]


def test_the_browser_phone_knows_only_its_own_calls_and_limits_them(client, sim, deps):
    browser = Browser(client)
    scripted = sim.call("+13135550102", NUMBER)  # a call that is not the browser's
    for sid in (scripted.call.sid, "CAnope"):
        response = browser.get(f"/demo/api/calls/{sid}")
        assert response.status_code == 404 and response.get_json()["error"]["field"] == "sid"
    assert browser.get("/demo/api/calls/CA1?after=x").status_code == 400
    for _ in range(5):
        assert browser.post("/demo/api/calls", {"from": MARIA}).status_code == 201
    sixth = browser.post("/demo/api/calls", {"from": MARIA})
    assert sixth.status_code == 409
    no_csrf = client.post(
        "/demo/api/calls", json={"from": MARIA}, headers={"Accept": "application/json"}
    )
    assert no_csrf.status_code == 400 and no_csrf.get_json()["error"]["id"] == "csrf"


# ---------------------------------------------------------------- the traffic switch


def test_the_traffic_switch_needs_a_supervisor(client, sim, api):
    response = client.get("/demo/api/traffic")
    assert response.status_code == 401 and response.get_json()["error"]["message"]
    assert api.get("/demo/api/traffic", as_="agent").status_code == 403
    assert client.get("/demo/traffic").status_code == 302  # the page: to the login form
    assert api.get("/demo/traffic", as_="supervisor").status_code == 200
    api.user("admin", username="root")  # "admin" is a demo login already
    state = api.get("/demo/api/traffic", as_="root").get_json()
    assert state["running"] is False and state["calls_placed"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"running": "yes"}, "running"),
        ({}, "running"),
        ({"running": True, "callers_per_minute": 61}, "callers_per_minute"),
        ({"running": True, "callers_per_minute": -1}, "callers_per_minute"),
        ({"running": True, "callers_per_minute": "6"}, "callers_per_minute"),
        ({"running": True, "callers_per_minute": True}, "callers_per_minute"),
        ({"running": True, "agents": 21}, "agents"),
        ({"running": True, "agents": 2.5}, "agents"),
        ({"running": True, "agents": None}, "agents"),
    ],
)
def test_the_traffic_switch_refuses_bad_settings(sim, api, body, field):
    response = api.post("/demo/api/traffic", as_="supervisor", json=body)
    assert response.status_code == 400, response.data
    assert response.get_json()["error"]["field"] == field
    assert api.get("/demo/api/traffic", as_="supervisor").get_json()["running"] is False


def test_traffic_places_callers_who_reach_simulated_agents_and_outcomes_are_recorded(
    sim, deps, api
):
    response = api.post(
        "/demo/api/traffic",
        as_="supervisor",
        json={"running": True, "callers_per_minute": 20, "agents": 3},
    )
    assert response.status_code == 200, response.data
    assert response.get_json()["running"] is True
    run(sim, deps, 1)
    with deps.session_factory() as s:
        sims = {u.id: u for u in s.scalars(select(User).where(User.username.like("sim-%")))}
    assert sorted(u.username for u in sims.values()) == ["sim-1", "sim-2", "sim-3"]
    assert all(deps.router.agent(i)["state"] == "available" for i in sims)
    run(sim, deps, 420)
    state = api.get("/demo/api/traffic", as_="supervisor").get_json()
    assert state["calls_placed"] >= 60, state  # ~20 a minute for 7 minutes
    assert state["answered_by_agents"] >= 5 and state["wrapped_up"] >= 5, state
    assert sorted(state["agents"]) == ["agent_sim_1", "agent_sim_2", "agent_sim_3"]
    with deps.session_factory() as s:
        handled = s.scalars(select(Call).where(Call.disposition.is_not(None))).all()
        handled = [c for c in handled if c.agent_id in sims]
        assert len(handled) >= 5
        assert all(c.queue and c.talk_seconds for c in handled)
        assert len({c.queue for c in handled}) >= 2, "callers take different paths"
        assert s.scalars(select(TelephonyError)).all() == []
    assert sim.errors == []

    stopped = api.post("/demo/api/traffic", as_="supervisor", json={"running": False})
    assert stopped.get_json()["running"] is False
    placed = stopped.get_json()["calls_placed"]
    run(sim, deps, 300)  # calls in progress end; the agents sign out after theirs
    state = api.get("/demo/api/traffic", as_="supervisor").get_json()
    assert state["calls_placed"] == placed and state["active_calls"] == 0, state
    assert all(deps.router.agent(i)["state"] == "offline" for i in sims)


def test_shutdown_hangs_up_and_signs_the_simulated_agents_out(app, sim, deps, api):
    from console.demo import shutdown

    api.post(
        "/demo/api/traffic",
        as_="supervisor",
        json={"running": True, "callers_per_minute": 30, "agents": 2},
    )
    run(sim, deps, 120)
    assert any(not c.ended for c in sim.calls.values())
    shutdown(app)
    assert all(c.ended for c in sim.calls.values())
    with deps.session_factory() as s:
        ids = s.scalars(select(User.id).where(User.username.like("sim-%"))).all()
    assert ids and all(deps.router.agent(i)["state"] == "offline" for i in ids)


def test_stopping_the_demo_is_no_caller_abandoning(app, sim, deps, api):
    """Ending the demo ends the live calls as the system: the waits it cuts short are
    recorded as ended by the system, not abandoned, on the wallboard's tiles and chart; the
    Call rows say the system ended them. (Before, every waiting caller counted as an
    abandon.)"""
    from console.demo import shutdown
    from crm_core.acd_records import WaitRecord
    from routing.ticker import drain

    api.post(
        "/demo/api/traffic",
        as_="supervisor",
        json={"running": True, "callers_per_minute": 40, "agents": 1},
    )
    run(sim, deps, 90)
    entries = [deps.router.entry(k.decode()) for k in deps.redis.hkeys(deps.router.keys.entries)]
    waiting = [e["call_sid"] for e in entries if e and e["state"] in ("waiting", "offered")]
    assert waiting, "callers wait when the demo stops"
    drain(deps, "test")

    def abandons():
        with deps.session_factory() as s:
            kept = s.scalars(select(WaitRecord).where(WaitRecord.outcome == "abandoned")).all()
        tiles = api.get("/api/acd/queues", as_="supervisor").json["queues"]
        chart = api.get("/api/acd/service-level", as_="supervisor").json["queues"]
        return (
            len(kept),
            sum(q["today"]["abandoned"] for q in tiles),
            sum(q["total"]["abandoned"] for q in chart),
        )

    before = abandons()
    live = [c.sid for c in sim.calls.values() if not c.ended]
    shutdown(app)
    drain(deps, "test")
    assert abandons() == before
    with deps.session_factory() as s:
        ended = s.scalars(select(WaitRecord).where(WaitRecord.call_sid.in_(waiting))).all()
        assert {w.call_sid for w in ended} == set(waiting)
        assert {w.outcome.value for w in ended} == {"system"}
        rows = s.scalars(select(Call).where(Call.call_sid.in_(live))).all()
        assert rows and {c.ended_by for c in rows} == {"system"}
