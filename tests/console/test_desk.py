"""The agent's desk: the screen pop of the offered or connected call, the agent's own live
feed (GET /api/agents/me/stream) and the page. The router is driven directly; its offer
actions are not dispatched (no softphone rings), which the desk does not need."""

from __future__ import annotations

import string
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from console.call_script import script_for_call
from console.desk import EXTENSION, ivr_steps
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.audit import audit
from crm_core.models import (
    ActivityKind,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Call,
    CallDirection,
    Customer,
    CustomerPhone,
    Dealer,
    Lead,
    LeadSource,
    LeadStage,
    Task,
    TaskKind,
    Vehicle,
    VehicleRelation,
)
from crm_core.schemas import parse
from crm_core.timeline import add_activity
from crm_core.users import get_user
from routing.config import profile
from scripts import Library
from scripts.service import BUNDLED
from tests.console.sse import Feed

CALLER = "+13135550100"
STRANGER = "+13135550199"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    yield from make_app(database_url, redis_url, clock, tmp_path, ACD_STREAM_BLOCK_SECONDS=0.2)


@pytest.fixture
def desk(deps, clock, api):
    """A sales queue, an agent who can take it, a supervisor; returns the router."""
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
    api.user("agent", skills={"sales": 5})
    api.user("agent", username="other", skills={"sales": 5})
    api.user("supervisor")
    return deps.router


def add_customer(deps, clock, *, touchpoints: int = 7) -> tuple[int, int]:
    """A customer with a phone, an older lost lead and a newer open one, vehicles, a long
    timeline, appointments and tasks; returns (customer id, open lead id)."""
    now = clock.now()
    with deps.session_factory.begin() as s:
        c = Customer(
            first_name="Dana",
            last_name="Reyes",
            language="es-US",
            preferred_makes=["Ford"],
            preferred_models=["F-150"],
            created_at=now,
            updated_at=now,
            phones=[CustomerPhone(e164=CALLER, is_primary=True)],
        )
        s.add(c)
        s.flush()

        def lead(stage, age):
            at = now - timedelta(days=age)
            return Lead(
                customer_id=c.id,
                source_type=LeadSource.WEBSITE,
                source_name="dealer site",
                stage=stage,
                temperature=80,
                created_at=at,
                updated_at=at,
                stage_changed_at=at,
            )

        old, open_lead = lead(LeadStage.LOST, 30), lead(LeadStage.QUALIFIED, 2)
        s.add_all([old, open_lead])
        s.flush()
        s.add_all(
            [
                Vehicle(
                    customer_id=c.id,
                    lead_id=open_lead.id,
                    relation=VehicleRelation.INTEREST,
                    year=2025,
                    make="Ford",
                    model="F-150",
                ),
                Vehicle(
                    customer_id=c.id,
                    relation=VehicleRelation.TRADE_IN,
                    year=2016,
                    make="Honda",
                    model="Civic",
                    trade_value=9000,
                ),
                Vehicle(customer_id=c.id, relation=VehicleRelation.OWNED, make="Kia"),
            ]
        )
        for i in range(touchpoints):
            add_activity(
                s,
                customer_id=c.id,
                kind=ActivityKind.NOTE,
                summary=f"note {i}",
                at=now - timedelta(hours=touchpoints - i),
            )
        for status, days in (
            (AppointmentStatus.SCHEDULED, 1),
            (AppointmentStatus.CANCELLED, 2),
            (AppointmentStatus.SCHEDULED, -3),  # in the past
        ):
            start = now + timedelta(days=days)
            s.add(
                Appointment(
                    customer_id=c.id,
                    type=AppointmentType.TEST_DRIVE,
                    status=status,
                    start_at=start,
                    end_at=start + timedelta(hours=1),
                    created_at=now,
                )
            )
        s.add(Task(kind=TaskKind.CALLBACK, customer_id=c.id, title="call back", due_at=now,
                   created_at=now))  # fmt: skip
        return c.id, open_lead.id


def add_call(deps, clock, sid: str, phone: str, **fields) -> None:
    with deps.session_factory.begin() as s:
        s.add(
            Call(
                call_sid=sid,
                direction=CallDirection.INBOUND,
                from_number=phone,
                to_number="+18005550000",
                created_at=clock.now(),
                queue="sales",
                ivr_path="main>sales>new",
                language="es-US",
                script_name="auto-attendant",
                script_version="3",
                **fields,
            )
        )


def test_the_pop_of_a_known_caller_has_everything_without_a_click(api, deps, clock, desk):
    customer_id, lead_id = add_customer(deps, clock)
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    clock.advance(12)
    pop = api.get("/api/agents/me/screen-pop")
    assert pop.status_code == 200, pop.json
    body = pop.json
    assert (body["stage"], body["entry"], body["call_sid"], body["phone"]) == (
        "offer",
        "CA1",
        "CA1",
        CALLER,
    )
    assert body["customer"]["id"] == customer_id
    assert body["customer"]["name"] == "Dana Reyes"
    assert body["customer"]["phones"] == [{"number": CALLER, "kind": "mobile", "primary": True}]
    assert body["customer"]["do_not_call"] is False
    assert body["customer"]["preferred_makes"] == ["Ford"]
    assert body["lead"]["id"] == lead_id
    assert (body["lead"]["stage"], body["lead"]["temperature"]) == ("qualified", 80)
    assert body["lead"]["source_type"] == "website"
    assert [v["model"] for v in body["vehicles"]["interest"]] == ["F-150"]
    assert [(v["model"], v["trade_value"]) for v in body["vehicles"]["trade_in"]] == [
        ("Civic", 9000.0)
    ]
    assert body["ivr_path"] == "main>sales>new" and body["language"] == "es-US"
    assert body["script"] == {"name": "auto-attendant", "version": "3"}
    assert body["queue"] == "sales" and body["waited_seconds"] == 12
    assert body["offer_deadline"] == (clock.now() - timedelta(seconds=12) + timedelta(
        seconds=15)).isoformat()  # fmt: skip
    assert [a["summary"] for a in body["timeline"]] == ["note 6", "note 5", "note 4", "note 3",
                                                        "note 2"]  # fmt: skip
    assert [(a["type"], a["status"]) for a in body["appointments"]] == [("test_drive", "scheduled")]
    assert [t["title"] for t in body["tasks"]] == ["call back"]


def test_connected_the_pop_counts_the_wait_to_the_answer(api, deps, clock, desk):
    add_customer(deps, clock)
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    clock.advance(5)
    assert api.post("/api/agents/me/offers/CA1/accept").json["state"] == "busy"
    clock.advance(60)
    body = api.get("/api/agents/me/screen-pop").json
    assert body["stage"] == "connected" and body["waited_seconds"] == 5
    assert body["answered_at"] == (clock.now() - timedelta(seconds=60)).isoformat()
    # In wrap-up the pop is still there (from the Call row), for the disposition.
    desk.call_ended("CA1")
    body = api.get("/api/agents/me/screen-pop").json
    assert body["stage"] == "wrap_up" and body["customer"]["name"] == "Dana Reyes"
    state = api.get("/api/agents/me/state").json
    assert state["state"] == "wrap_up"


def test_an_unknown_caller_still_gets_the_number_and_the_ivr(api, deps, clock, desk):
    add_customer(deps, clock)
    add_call(deps, clock, "CA2", STRANGER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA2", "sales", call_sid="CA2", phone=STRANGER)
    body = api.get("/api/agents/me/screen-pop").json
    assert body["customer"] is None and body["lead"] is None
    assert body["phone"] == STRANGER and body["ivr_path"] == "main>sales>new"
    assert body["timeline"] == [] and body["appointments"] == [] and body["tasks"] == []


def test_a_caller_with_no_call_row_and_no_phone_pops_what_the_router_knows(api, desk):
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("E1", "sales")
    body = api.get("/api/agents/me/screen-pop").json
    assert (body["entry"], body["call_sid"], body["phone"], body["customer"]) == (
        "E1",
        None,
        None,
        None,
    )


def test_nothing_offered_is_a_404(api, desk):
    assert api.get("/api/agents/me/screen-pop").json["error"]["field"] == "entry"
    api.post("/api/agents/me/presence", json={"state": "available"})
    missing = api.get("/api/agents/me/screen-pop")
    assert missing.status_code == 404 and missing.json["error"]["id"]


def test_the_pop_is_only_the_signed_in_agents(api, deps, clock, desk):
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    assert api.get("/api/agents/me/screen-pop").status_code == 200
    assert api.get("/api/agents/me/screen-pop", as_="other").status_code == 404


def test_the_pop_takes_a_fixed_number_of_queries(api, deps, clock, desk):
    add_customer(deps, clock, touchpoints=40)
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(deps.read_engine, "before_cursor_execute", count)
    try:
        assert api.get("/api/agents/me/screen-pop").status_code == 200
    finally:
        event.remove(deps.read_engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # call, customer + phones, leads, vehicles, timeline, appointments, tasks; the bearer
    # token's lookup uses the writer, not this engine.
    assert len(selects) <= 8, selects


@pytest.mark.parametrize("path", ["/api/agents/me/screen-pop", "/api/agents/me/stream"])
def test_the_api_needs_a_login(client, desk, path):
    answer = client.get(path)
    assert answer.status_code == 401 and answer.json["error"]["id"]


def test_the_page_needs_a_login_and_serves_every_role(client, api, desk):
    answer = client.get("/agent")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    for role in ("agent", "supervisor"):
        page = api.get("/agent", as_=role)
        assert page.status_code == 200
        assert b'id="desk-settings"' in page.data and b"agent.js" in page.data
    script = api.get("/console/desk/agent.js")
    assert script.status_code == 200
    script.close()


# ------------------------------------------------------------------------------ the feed


@pytest.fixture
def feeds(api, app):
    opened: list[Feed] = []

    def open_feed(as_="agent", **headers) -> Feed:
        response = api.get("/api/agents/me/stream", as_=as_, headers=headers, buffered=False)
        feed = Feed(response)
        opened.append(feed)
        return feed

    yield open_feed
    for feed in opened:
        feed.close()
    assert len(app.extensions[EXTENSION]) == 0, "a closed feed kept its Redis connection"


def test_the_feed_opens_with_the_state_then_follows_the_agents_events(api, deps, desk, feeds):
    agent_id, _ = api.user("agent")
    other_id, _ = api.user("other")
    feed = feeds()
    assert feed.response.mimetype == "text/event-stream"
    assert feed.response.headers["Cache-Control"] == "no-cache"
    assert feed.next() == {"retry": "1000"}
    first = feed.next_event()
    assert first["event"] == "state" and first["data"]["state"] == "offline"
    assert first["data"]["id"] == agent_id
    # Another agent's event is not sent; this agent's presence change is, re-read.
    with deps.read_session_factory() as s:
        me, other = profile(get_user(s, agent_id)), profile(get_user(s, other_id))
    desk.set_presence(other, "available")
    desk.set_presence(me, "away", "lunch")
    state = feed.next_event()
    ids = [i.decode() for i, _ in desk.redis.xrange(desk.keys.events)]
    assert state["event"] == "state" and state["id"] == ids[-1]
    assert (state["data"]["state"], state["data"]["reason"]) == ("away", "lunch")
    desk.set_presence(me, "available")
    desk.enqueue("CA1", "sales", call_sid="CA1")
    offered = feed.next_event()
    while offered["data"]["state"] != "reserved":
        offered = feed.next_event()
    assert offered["data"]["offer"]["entry"] == "CA1" and offered["data"]["offer"]["deadline"]


def test_a_caller_hanging_up_while_ringing_reaches_the_agent(api, deps, desk, feeds):
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1")
    feed = feeds()
    assert feed.next_event()["data"]["state"] == "reserved"
    desk.caller_gone("CA1")
    state = feed.next_event()
    assert state["data"]["state"] == "available" and state["data"]["offer"] is None


def test_last_event_id_resumes_with_the_state_after_it(api, deps, desk, feeds):
    api.post("/api/agents/me/presence", json={"state": "away", "reason": "break"})
    feed = feeds()
    seen = feed.next_event()["id"]
    feed.close()
    api.post("/api/agents/me/presence", json={"state": "available"})
    resumed = feeds(**{"Last-Event-ID": seen})
    assert resumed.next() == {"retry": "1000"}
    state = resumed.next_event()
    assert state["data"]["state"] == "available" and state["id"] != seen
    assert resumed.next() == {"comment": "keep-alive"}


def test_the_desks_and_the_wallboards_feeds_share_one_reader(api, deps, desk, feeds, app):
    hub = app.extensions[EXTENSION]
    mine = feeds()
    mine.next_event()
    board = Feed(api.get("/api/acd/stream", as_="supervisor", buffered=False))
    try:
        assert board.next_event()["event"] == "snapshot"
        assert len(hub) == 2
        batches = hub.batches
        api.post("/api/agents/me/presence", json={"state": "available"})
        newest = [i.decode() for i, _ in desk.redis.xrange(desk.keys.events)][-1]
        assert mine.next_event()["data"]["state"] == "available"
        seen = board.next_event()
        while seen["id"] != newest:
            seen = board.next_event()
        assert hub.batches - batches <= 2  # the one reader's reads, not one per feed
    finally:
        board.close()


# ------------------------------------------------------------------ the desk after a reload


def test_the_desk_document_of_an_idle_agent_has_no_call(api, desk):
    api.post("/api/agents/me/presence", json={"state": "available"})
    body = api.get("/api/agents/me/desk").json
    assert body["state"]["state"] == "available"
    assert (body["pop"], body["controls"], body["script"]) == (None, None, None)


def test_the_desk_document_brings_back_mute_hold_the_script_step_and_the_leg(
    api, deps, clock, desk
):
    add_customer(deps, clock)
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    api.post("/api/agents/me/offers/CA1/accept")
    me, _ = api.user("agent")
    deps.router.redis.hset(deps.router.keys.legs, f"CA1|{me}", "CAleg")  # the Dispatcher's
    # What the in-call controls write when they act (console/incall.py): mute, then hold.
    with deps.session_factory.begin() as s:
        audit(s, clock, actor_id=me, action="call.mute", target="call:CA1", muted=True)
        audit(s, clock, actor_id=me, action="call.hold", target="call:CA1", caller_hold=True)
    moved = api.post(
        "/api/agents/me/script/position",
        json={"call_sid": "CA1", "script": "inbound", "step": "name_and_number"},
    )
    assert moved.status_code == 200, moved.json
    body = api.get("/api/agents/me/desk").json
    assert body["state"]["state"] == "busy" and body["pop"]["stage"] == "connected"
    assert body["pop"]["customer"]["name"] == "Dana Reyes"
    assert body["controls"] == {"muted": True, "held": True, "consulting": False, "leg": "CAleg"}
    assert body["script"] == {"script": "inbound", "step": "name_and_number"}
    # Another agent's desk knows nothing of it.
    assert api.get("/api/agents/me/desk", as_="other").json["controls"] is None


def test_a_clicked_answer_moves_the_script_position_too(api, deps, clock, desk):
    add_customer(deps, clock)
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    api.post("/api/agents/me/offers/CA1/accept")
    answered = api.post(
        "/api/agents/me/script/answer",
        json={"call_sid": "CA1", "step": "greet", "answer": "vehicle", "script": "inbound"},
    )
    assert answered.status_code == 200, answered.json
    assert api.get("/api/agents/me/desk").json["script"] == {
        "script": "inbound",
        "step": "name_and_number",
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"call_sid": "CA1", "script": "inbound", "step": "no_such_step"}, 400, "step"),
        ({"call_sid": "CA1", "script": "no_such_script", "step": "greet"}, 404, "name"),
        ({"call_sid": "CA9", "script": "inbound", "step": "greet"}, 409, "call_sid"),
        ({"call_sid": "CA1", "script": "inbound", "extra": 1}, 400, None),
        ({"script": "inbound"}, 400, "call_sid"),
    ],
)
def test_a_wrong_script_position_is_a_clear_4xx(api, deps, clock, desk, body, status, field):
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    api.post("/api/agents/me/offers/CA1/accept")
    answer = api.post("/api/agents/me/script/position", json=body)
    assert answer.status_code == status, answer.json
    assert answer.json["error"]["message"]
    if field:
        assert answer.json["error"]["field"] == field


def test_the_pop_names_the_queue_the_menu_and_the_dealerships_zone(api, deps, clock, desk):
    with deps.session_factory.begin() as s:
        create_queue(
            s,
            parse(
                QueueIn,
                {
                    "name": "service",
                    "display_name": "Service desk",
                    "required_skills": {"sales": 1},
                    "time_zone": "America/Denver",
                },
            ),
            clock,
        )
    deps.router.queues.invalidate()
    _, lead_id = add_customer(deps, clock)
    add_call(deps, clock, "CA1", CALLER)
    add_call(deps, clock, "CA2", STRANGER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA2", "service", call_sid="CA2", phone=STRANGER)
    body = api.get("/api/agents/me/screen-pop").json
    assert body["queue_display_name"] == "Service desk"
    assert body["ivr_steps"] == ["Sales", "New"]
    assert body["time_zone"] == "America/Denver"  # no lead: the queue's zone
    api.post("/api/agents/me/offers/CA2/reject")
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    body = api.get("/api/agents/me/screen-pop").json
    assert body["time_zone"] == "America/New_York"  # the sales queue has none: the setting
    with deps.session_factory.begin() as s:
        dealer = Dealer(name="Lakeside Motors", time_zone="America/Chicago")
        s.add(dealer)
        s.flush()
        s.get(Lead, lead_id).dealer_id = dealer.id
    body = api.get("/api/agents/me/screen-pop").json
    assert body["time_zone"] == "America/Chicago"  # the lead's dealer first
    assert body["dealer"] == {"name": "Lakeside Motors", "time_zone": "America/Chicago"}


@given(
    st.lists(
        st.text(alphabet=string.ascii_letters + string.digits + " _-", min_size=1, max_size=12)
        .map(str.strip)
        .filter(bool),
        max_size=5,
    )
)
def test_the_ivr_path_in_words_keeps_every_choice_in_order(choices):
    path = " > ".join(choices)
    steps = ivr_steps(path)
    kept = choices[1:] if len(choices) > 1 and choices[0].lower() == "main" else choices
    assert [s.lower() for s in steps] == [c.replace("_", " ").lower() for c in kept]
    assert all(s[:1] == s[:1].upper() for s in steps)


# ------------------------------------------------------------------ which script, for which call


def _row(direction: CallDirection, queue: str | None = "sales") -> Call:
    return Call(call_sid="CAx", direction=direction, queue=queue)


def test_script_for_call_follows_the_calls_direction_and_queue(deps):
    library = deps.scripts
    assert script_for_call(_row(CallDirection.INBOUND), library)[0] == "inbound"
    assert script_for_call(_row(CallDirection.OUTBOUND_DIAL), library)[0] == "outbound_sales"
    assert script_for_call(_row(CallDirection.OUTBOUND_API), library)[0] == "outbound_sales"
    # A row read back as text (a plain select) is the same call.
    assert script_for_call(_row("inbound"), library)[0] == "inbound"
    # The router's callback-in-queue is a call we place, whatever its row says.
    callback = {"kind": "callback", "queue": "sales"}
    assert script_for_call(_row(CallDirection.INBOUND), library, entry=callback)[0] == (
        "outbound_sales"
    )
    assert script_for_call(None, library, entry={"kind": "call", "queue": "sales"})[0] == "inbound"
    assert script_for_call(None, library)[0] == "outbound_sales"  # no call: practice


def test_script_for_call_prefers_the_queues_own_inbound_script(deps, tmp_path):
    for source in ("inbound", "outbound_sales", "elevator_pitch"):
        text = (BUNDLED / f"{source}.yaml").read_text()
        (tmp_path / f"{source}.yaml").write_text(text)
    own = (tmp_path / "inbound.yaml").read_text().replace("name: inbound", "name: inbound_sales")
    (tmp_path / "inbound_sales.yaml").write_text(own)
    library = Library(tmp_path)
    assert script_for_call(_row(CallDirection.INBOUND), library)[0] == "inbound_sales"
    assert script_for_call(_row(CallDirection.INBOUND, "service"), library)[0] == "inbound"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/agents/me/call/keep", {"keep": True}, 409),  # no call
        ("/api/agents/me/call/keep", {"keep": "yes"}, 400),
        ("/api/agents/me/call/keep", {}, 400),
        ("/api/agents/me/call/keep", {"keep": True, "extra": 1}, 400),
        ("/api/agents/me/call/rejoin", {}, 409),  # no call
        ("/api/agents/me/call/rejoin", {"call": 5}, 400),
    ],
)
def test_keep_and_rejoin_refuse_in_words_without_a_call(api, desk, path, body, status):
    answer = api.post(path, json=body)
    assert answer.status_code == status, answer.json
    assert answer.json["error"]["message"]


def test_keep_and_rejoin_name_the_call_they_act_on(api, deps, clock, desk):
    add_call(deps, clock, "CA1", CALLER)
    api.post("/api/agents/me/presence", json={"state": "available"})
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    api.post("/api/agents/me/offers/CA1/accept")
    for path, body in (
        ("/api/agents/me/call/keep", {"keep": True, "call": "CA2"}),
        ("/api/agents/me/call/rejoin", {"call": "CA2"}),
    ):
        other = api.post(path, json=body)
        assert other.status_code == 404 and other.json["error"]["field"] == "call"
