"""What the desk shows beside a call (console/worklists.py): the script for my current call
rendered with the CRM's values, the elevator pitch, answers clicked, free notes, and my
callbacks and leads. The router is driven directly; no softphone rings."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.models import (
    TEXT_LEN,
    Activity,
    ActivityKind,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Call,
    CallDirection,
    CallStatus,
    Customer,
    CustomerPhone,
    Lead,
    LeadSource,
    LeadStage,
    Task,
    TaskKind,
    TaskStatus,
    Vehicle,
    VehicleRelation,
)
from crm_core.schemas import parse
from crm_core.timeline import add_activity
from scripts import BUNDLED

CALLER = "+13135550100"
OTHER_CALLER = "+13135550111"
SCRIPT = "/api/agents/me/script"
ANSWER = "/api/agents/me/script/answer"
INBOUND_SALES = """\
name: inbound_sales
version: 2
kind: outbound
languages: [en-US, es-MX]
steps:
  - id: greet
    kind: ask
    field: vehicle_of_interest
    text:
      en-US: "Thanks for calling {dealer.name}, I'm {agent.first_name}. The {vehicle.description}?"
      es-MX: "Gracias por llamar a {dealer.name}, soy {agent.first_name}. ¿{vehicle.description}?"
    answers:
      - id: "yes"
        label: {en-US: "Yes", es-MX: "Sí"}
        value: as inquired
        next: bye
      - id: "no"
        label: {en-US: "No", es-MX: "No"}
        next: bye
  - id: bye
    kind: end
    text:
      en-US: "Thank you, {customer.first_name}!"
      es-MX: "¡Gracias, {customer.first_name}!"
"""


@pytest.fixture
def scripts_dir(tmp_path):
    folder = tmp_path / "scripts"
    shutil.copytree(BUNDLED, folder)
    return folder


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path, scripts_dir):
    from tests.conftest import make_app

    yield from make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        SCRIPTS_DIR=str(scripts_dir),
        DEALER_NAME="Car Capital",
    )


@pytest.fixture
def desk(deps, clock, api):
    """Queues sales and service; "agent" (Ana Ruiz) and "other" take sales only."""
    with deps.session_factory.begin() as s:
        for name in ("sales", "service"):
            data = parse(QueueIn, {"name": name, "required_skills": {name: 1}})
            create_queue(s, data, clock)
    api.user("agent", skills={"sales": 5}, display_name="Ana Ruiz")
    api.user("agent", username="other", skills={"sales": 5}, display_name="Luis Ortega")
    api.user("supervisor")
    return deps.router


def add_customer(deps, clock, *, phone=CALLER, agent=None, **fields) -> tuple[int, int]:
    """Dana, with an open lead (assigned to ``agent``), a vehicle of interest and a test
    drive tomorrow at 14:00 UTC; returns (customer id, lead id)."""
    now = clock.now()
    with deps.session_factory.begin() as s:
        c = Customer(
            first_name="Dana",
            last_name="Reyes",
            created_at=now,
            updated_at=now,
            phones=[CustomerPhone(e164=phone, is_primary=True)],
            **fields,
        )
        s.add(c)
        s.flush()
        lead = Lead(
            customer_id=c.id,
            source_type=LeadSource.WEBSITE,
            source_name="CarFinder",
            stage=LeadStage.QUALIFIED,
            temperature=70,
            assigned_agent_id=agent,
            created_at=now,
            updated_at=now,
            stage_changed_at=now,
        )
        s.add(lead)
        s.flush()
        s.add(
            Vehicle(
                customer_id=c.id,
                lead_id=lead.id,
                relation=VehicleRelation.INTEREST,
                year=2025,
                make="Ford",
                model="F-150",
            )
        )
        start = now.replace(hour=14) + timedelta(days=1)
        s.add(
            Appointment(
                customer_id=c.id,
                lead_id=lead.id,
                type=AppointmentType.TEST_DRIVE,
                start_at=start,
                end_at=start + timedelta(hours=1),
                resource="Marco",
                created_at=now,
            )
        )
        return c.id, lead.id


def add_call(deps, clock, sid, *, direction=CallDirection.INBOUND, **fields) -> None:
    with deps.session_factory.begin() as s:
        s.add(
            Call(
                call_sid=sid,
                direction=direction,
                from_number=CALLER,
                to_number="+18005550000",
                created_at=clock.now(),
                **fields,
            )
        )


def connect(api, router, sid, *, queue="sales", as_="agent", phone=CALLER):
    """``as_`` goes available, the call ``sid`` is offered to them and they accept it."""
    assert (
        api.post("/api/agents/me/presence", json={"state": "available"}, as_=as_).status_code == 200
    )
    router.enqueue(sid, queue, call_sid=sid, phone=phone)
    accepted = api.post(f"/api/agents/me/offers/{sid}/accept", as_=as_)
    assert accepted.status_code == 200, accepted.json


def dial(api, deps, clock, sid, customer_id=None, language=None, as_="agent"):
    """A click-to-call in progress: the Call row routing/client.py writes."""
    agent_id, _ = api.user(as_)
    add_call(
        deps,
        clock,
        sid,
        direction=CallDirection.OUTBOUND_DIAL,
        status=CallStatus.IN_PROGRESS,
        agent_id=agent_id,
        customer_id=customer_id,
        language=language,
    )


def texts(body) -> dict[str, str]:
    return {s["id"]: s["text"] for s in body["steps"] + body["sections"]}


# ----------------------------------------------------------------------------- the script


def test_without_a_call_the_outbound_script_reads_with_fallbacks(api, desk):
    answer = api.get(SCRIPT)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["name"], body["version"], body["ref"], body["kind"]) == (
        "outbound_sales",
        1,
        "outbound_sales@1",
        "outbound",
    )
    assert body["language"] == "en-US" and body["call"] is None
    assert "practice" in body["chosen_by"] and body["start"] == "opening"
    said = texts(body)
    assert said["opening"] == (
        "Hi, may I please speak with the person who asked us about a vehicle?"
    )
    assert said["identify"] == (
        "Hi there, this is Ana Ruiz with Car Capital. I'm calling about the vehicle you "
        "asked about through our website."
    )
    assert "{" not in "".join(said.values())
    opening = body["steps"][0]
    assert opening["kind"] == "ask" and opening["field"] is None
    assert [a["id"] for a in opening["answers"]] == [
        "reached",
        "someone-else",
        "voicemail",
        "wrong-number",
    ]
    assert opening["answers"][0] == {
        "id": "reached",
        "label": "Speaking with the customer",
        "next": "identify",
        "value": None,
    }
    vehicle = next(s for s in body["steps"] if s["id"] == "vehicle")
    assert vehicle["field"] == "vehicle_of_interest"
    assert vehicle["answers"][0]["value"] == "as inquired"
    deposit = next(s for s in body["steps"] if s["id"] == "take_deposit")
    assert deposit["sensitive"] is True and deposit["next"] == "confirm_appointment"
    assert body["sections"] == [] and body["duration_seconds"] is None


def test_an_outbound_call_in_spanish_fills_the_crm_values(api, deps, clock, desk):
    customer_id, lead_id = add_customer(deps, clock, time_zone="America/Chicago")
    dial(api, deps, clock, "CAout", customer_id=customer_id, language="es-US")
    body = api.get(SCRIPT).json
    assert body["name"] == "outbound_sales" and body["chosen_by"] == "an outbound call"
    assert body["language"] == "es-MX"
    assert body["call"] == {
        "call_sid": "CAout",
        "stage": "dialing",
        "direction": "outbound",
        "queue": None,
        "customer_id": customer_id,
        "lead_id": lead_id,
    }
    said = texts(body)
    assert said["identify"] == (
        "Hola Dana, le habla Ana Ruiz de Car Capital. Le llamo por el 2025 Ford F-150 por "
        "el que nos preguntó en CarFinder."
    )
    # Tomorrow 14:00 UTC is 8 AM in Chicago; "con Marco", the appointment's resource.
    assert "martes 6 de enero a las 8 a. m. con Marco" in said["confirm_appointment"]
    labels = {a["id"]: a["label"] for a in body["steps"][0]["answers"]}
    assert labels["reached"] == "Habla el cliente"
    html = next(s["html"] for s in body["steps"] if s["id"] == "identify")
    assert html.startswith("<p>Hola Dana") and html.endswith("</p>")


def test_html_is_escaped(api, deps, clock, desk):
    customer_id, _ = add_customer(deps, clock)
    with deps.session_factory.begin() as s:
        s.get(Customer, customer_id).first_name = "<b>Dana</b>"
    dial(api, deps, clock, "CAout", customer_id=customer_id)
    step = api.get(SCRIPT).json["steps"][1]
    assert "&lt;b&gt;Dana&lt;/b&gt;" in step["html"] and "<b>" not in step["html"]
    assert "<b>Dana</b>" in step["text"]


def test_an_inbound_call_gets_its_queues_script_or_else_the_pitch(
    api, deps, clock, desk, scripts_dir
):
    customer_id, _ = add_customer(deps, clock)
    add_call(deps, clock, "CAin", queue="sales", customer_id=customer_id, language="en-US")
    connect(api, desk, "CAin")
    body = api.get(SCRIPT).json
    # The bundled inbound script, with the CRM's values in it.
    assert body["name"] == "inbound" and "the library's inbound" in body["chosen_by"]
    assert body["call"]["stage"] == "connected" and body["call"]["direction"] == "inbound"
    assert texts(body)["greet"] == (
        "Thank you for calling Car Capital, this is Ana. How can I help you today?"
    )
    assert texts(body)["vehicle"] == "Which vehicle caught your eye? Is it the 2025 Ford F-150?"
    # Without any inbound script in the library, the elevator pitch.
    (scripts_dir / "inbound.yaml").unlink()
    deps.scripts.reload()
    body = api.get(SCRIPT).json
    assert body["name"] == "elevator_pitch" and "no inbound_sales" in body["chosen_by"]
    # A manager adds inbound_sales.yaml: the next look uses it.
    (scripts_dir / "inbound_sales.yaml").write_text(INBOUND_SALES, encoding="utf-8")
    deps.scripts.reload()
    body = api.get(SCRIPT).json
    assert (body["ref"], body["start"]) == ("inbound_sales@2", "greet")
    assert texts(body)["greet"] == ("Thanks for calling Car Capital, I'm Ana. The 2025 Ford F-150?")
    # In wrap-up it is still the call's script.
    desk.call_ended("CAin")
    body = api.get(SCRIPT).json
    assert body["name"] == "inbound_sales" and body["call"]["stage"] == "wrap_up"


def test_a_queue_callback_is_an_outbound_conversation(api, deps, clock, desk):
    assert api.post("/api/agents/me/presence", json={"state": "available"}).status_code == 200
    desk.enqueue("CB1", "sales", kind="callback", phone=CALLER)
    body = api.get(SCRIPT).json
    assert body["name"] == "outbound_sales" and body["call"]["stage"] == "offer"


def test_the_elevator_pitch_has_timed_sections(api, deps, clock, desk):
    add_call(deps, clock, "CAin", queue="sales", language="es-MX")
    connect(api, desk, "CAin")
    body = api.get(SCRIPT, query_string={"name": "elevator_pitch"}).json
    assert (body["kind"], body["language"], body["duration_seconds"]) == ("pitch", "es-MX", 60)
    assert [(s["id"], s["seconds"], s["starts_at"]) for s in body["sections"]] == [
        ("hook", 10, 0),
        ("problem", 10, 10),
        ("solution", 15, 20),
        ("proof", 10, 35),
        ("ask", 15, 45),
    ]
    assert body["sections"][0]["text"].startswith("¡Gracias por preguntar! En Car Capital")
    assert body["steps"] == [] and body["chosen_by"] == "asked for by name"


@pytest.mark.parametrize(
    ("name", "status"),
    [("nope", 404), ("auto_attendant", 400), ("acd_hold", 400), ("", 400), ("../x", 404)],
)
def test_a_script_that_is_not_an_agents_is_refused_naming_the_field(api, desk, name, status):
    answer = api.get(SCRIPT, query_string={"name": name})
    assert answer.status_code == status and answer.json["error"]["field"] == "name"


# ------------------------------------------------------------------------------ answers


def test_an_answer_goes_on_the_timeline_with_the_lead_field(api, deps, clock, desk):
    customer_id, lead_id = add_customer(deps, clock)
    dial(api, deps, clock, "CAout", customer_id=customer_id, language="es-MX")
    answer = api.post(
        ANSWER, json={"call_sid": "CAout", "step": "timeframe", "answer": "this-week"}
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["script"] == "outbound_sales@1" and body["next"] == "trade_in"
    assert (body["field"], body["value"], body["label"]) == (
        "timeframe",
        "this week",
        "Esta semana",
    )
    assert body["recorded"] == "timeline" and body["lead_updated"] is False
    assert "no service" in body["why"]
    with deps.read_session_factory() as s:
        activity = s.get(Activity, body["activity_id"])
        assert (activity.customer_id, activity.lead_id) == (customer_id, lead_id)
        assert activity.summary == (
            "Script outbound_sales@1, timeframe: This week (timeframe: this week)"
        )
        assert activity.data["step"] == "timeframe" and activity.data["call_sid"] == "CAout"
    # An answer that fills no field says nothing of the lead.
    body = api.post(ANSWER, json={"call_sid": "CAout", "step": "opening", "answer": "reached"}).json
    assert body["field"] is None and body["value"] is None and "why" not in body


def test_an_answer_about_an_unknown_caller_goes_on_the_calls_notes(api, deps, clock, desk):
    dial(api, deps, clock, "CAout")
    body = api.post(
        ANSWER, json={"call_sid": "CAout", "step": "opening", "answer": "wrong-number"}
    ).json
    assert body["recorded"] == "call_notes" and body["next"] == "wrong_number"
    with deps.read_session_factory() as s:
        notes = s.scalars(select(Call.notes).where(Call.call_sid == "CAout")).one()
    assert (
        notes == "[2026-01-05 15:00 UTC] Ana Ruiz: Script outbound_sales@1, opening: Wrong number"
    )


def test_answers_only_on_my_own_current_call(api, deps, clock, desk):
    good = {"step": "opening", "answer": "reached"}
    assert api.post(ANSWER, json={"call_sid": "CAnone", **good}).status_code == 404
    dial(api, deps, clock, "CAtheirs", as_="other")
    refused = api.post(ANSWER, json={"call_sid": "CAtheirs", **good})
    assert refused.status_code == 409 and refused.json["error"]["field"] == "call_sid"
    # Only offered, not accepted yet.
    add_call(deps, clock, "CAin", queue="sales")
    assert api.post("/api/agents/me/presence", json={"state": "available"}).status_code == 200
    desk.enqueue("CAin", "sales", call_sid="CAin", phone=CALLER)
    offered = api.post(ANSWER, json={"call_sid": "CAin", **good})
    assert offered.status_code == 409 and "accept" in offered.json["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"step": "opening", "answer": "reached"}, "call_sid"),
        ({"call_sid": "CAout", "step": "nope", "answer": "reached"}, "step"),
        ({"call_sid": "CAout", "step": "opening", "answer": "nope"}, "answer"),
        ({"call_sid": "CAout", "step": "identify", "answer": "reached"}, "answer"),
        ({"call_sid": "CAout", "step": "opening", "answer": 3}, "answer"),
        ({"call_sid": "CAout", "step": "opening", "answer": "x", "extra": 1}, "extra"),
        ({"call_sid": "CAout", "step": "hook", "answer": "x", "script": "voicemail"}, "script"),
    ],
)
def test_a_malformed_answer_is_a_400_naming_the_field(api, deps, clock, desk, body, field):
    dial(api, deps, clock, "CAout")
    answer = api.post(ANSWER, json=body)
    assert answer.status_code in (400, 404), answer.json
    assert answer.json["error"]["field"] in (field, "name")


def test_an_answer_body_must_be_a_json_object(api, desk):
    for data, error in (("nonsense", "invalid-json"), ("[1]", "invalid-input")):
        answer = api.post(ANSWER, data=data, content_type="application/json")
        assert answer.status_code == 400 and answer.json["error"]["id"] == error


# -------------------------------------------------------------------------------- notes


def notes_of(deps, sid):
    with deps.read_session_factory() as s:
        return s.scalars(select(Call.notes).where(Call.call_sid == sid)).one()


def test_an_agent_writes_notes_on_their_own_call_a_supervisor_on_any(api, deps, clock, desk):
    add_call(deps, clock, "CAin", queue="sales")
    connect(api, desk, "CAin")
    first = api.post("/api/calls/CAin/notes", json={"notes": "  wants a red one  "})
    assert first.status_code == 200, first.json
    clock.advance(90)
    desk.call_ended("CAin")  # just wrapped: still mine
    assert api.post("/api/calls/CAin/notes", json={"notes": "call Friday"}).status_code == 200
    refused = api.post("/api/calls/CAin/notes", json={"notes": "mine now"}, as_="other")
    assert refused.status_code == 403 and refused.json["error"]["field"] == "call_sid"
    assert (
        api.post("/api/calls/CAin/notes", json={"notes": "ok"}, as_="supervisor").status_code == 200
    )
    assert notes_of(deps, "CAin").splitlines() == [
        "[2026-01-05 15:00 UTC] Ana Ruiz: wants a red one",
        "[2026-01-05 15:01 UTC] Ana Ruiz: call Friday",
        "[2026-01-05 15:01 UTC] supervisor: ok",
    ]


def test_notes_refusals(api, deps, clock, desk):
    assert api.post("/api/calls/CAnone/notes", json={"notes": "x"}).status_code == 404
    dial(api, deps, clock, "CAout")
    for body in ({}, {"notes": "   "}, {"notes": 5}, {"notes": "x" * (TEXT_LEN + 1)}):
        answer = api.post("/api/calls/CAout/notes", json=body)
        assert answer.status_code == 400 and answer.json["error"]["field"] == "notes", body
    assert (
        api.post("/api/calls/CAout/notes", json={"notes": "x" * (TEXT_LEN - 40)}).status_code == 200
    )
    full = api.post("/api/calls/CAout/notes", json={"notes": "one more thing"})
    assert full.status_code == 400 and full.json["error"]["field"] == "notes"


# -------------------------------------------------------------------------------- lists


def add_task(deps, clock, *, hours, owner=None, pool=None, **fields) -> int:
    now = clock.now()
    with deps.session_factory.begin() as s:
        task = Task(
            kind=fields.pop("kind", TaskKind.CALLBACK),
            title=fields.pop("title", f"due in {hours} h"),
            due_at=now + timedelta(hours=hours),
            owner_id=owner,
            pool=pool,
            created_at=now,
            **fields,
        )
        s.add(task)
        s.flush()
        return task.id


def test_my_callbacks_are_mine_and_my_queues_due_within_a_day(api, deps, clock, desk):
    me, _ = api.user("agent")
    other, _ = api.user("other")
    customer_id, _ = add_customer(deps, clock)
    blocked_id, _ = add_customer(deps, clock, phone=OTHER_CALLER, do_not_call=True)
    overdue = add_task(deps, clock, hours=-2, owner=me, customer_id=customer_id)
    pooled = add_task(deps, clock, hours=3, pool="sales", phone="+13135550122", priority=90)
    soon = add_task(deps, clock, hours=3, owner=me, customer_id=blocked_id)
    add_task(deps, clock, hours=30, owner=me)  # not due yet
    add_task(deps, clock, hours=1, pool="service")  # a queue I do not take
    add_task(deps, clock, hours=1, pool="sales", owner=other)  # claimed by another
    add_task(deps, clock, hours=1, owner=me, status=TaskStatus.DONE)
    add_task(deps, clock, hours=1, owner=me, kind=TaskKind.FOLLOW_UP)
    body = api.get("/api/agents/me/callbacks").json
    assert body["total"] == 3 and (body["limit"], body["offset"]) == (25, 0)
    assert [t["id"] for t in body["callbacks"]] == [overdue, pooled, soon]
    first, second, third = body["callbacks"]
    assert first["overdue"] is True and first["customer"] == {
        "id": customer_id,
        "name": "Dana Reyes",
    }
    assert first["click_to_call"] == {"to": CALLER, "via": "/twilio/client"}
    assert second["customer"] is None and second["pool"] == "sales"
    assert second["click_to_call"]["to"] == "+13135550122"
    assert third["phone"] == OTHER_CALLER and third["click_to_call"] is None  # do not call
    page = api.get("/api/agents/me/callbacks", query_string={"limit": 1, "offset": 1}).json
    assert [t["id"] for t in page["callbacks"]] == [pooled] and page["total"] == 3
    # The other agent sees the pool's task but none of mine.
    theirs = api.get("/api/agents/me/callbacks", as_="other").json
    assert [t["title"] for t in theirs["callbacks"]] == ["due in 1 h", "due in 3 h"]


def test_my_leads_hottest_first_with_last_touch_and_next_visit(api, deps, clock, desk):
    me, _ = api.user("agent")
    other, _ = api.user("other")
    customer_id, warm = add_customer(deps, clock, agent=me)
    now = clock.now()
    with deps.session_factory.begin() as s:
        add_activity(s, customer_id=customer_id, kind=ActivityKind.NOTE, summary="hi", at=now)

        def lead(temperature, stage=LeadStage.NEW, agent=me):
            row = Lead(
                customer_id=customer_id,
                source_type=LeadSource.PHONE,
                stage=stage,
                temperature=temperature,
                assigned_agent_id=agent,
                created_at=now,
                updated_at=now,
                stage_changed_at=now,
            )
            s.add(row)
            s.flush()
            return row.id

        hot, cold = lead(95), lead(10)
        lead(99, LeadStage.LOST)
        lead(99, agent=other)
        s.add(
            Appointment(
                customer_id=customer_id,
                type=AppointmentType.SALES_VISIT,
                status=AppointmentStatus.CANCELLED,
                start_at=now + timedelta(hours=2),
                end_at=now + timedelta(hours=3),
                created_at=now,
            )
        )
    body = api.get("/api/agents/me/leads").json
    assert body["total"] == 3
    assert [(x["id"], x["temperature"]) for x in body["leads"]] == [
        (hot, 95),
        (warm, 70),
        (cold, 10),
    ]
    top = body["leads"][1]
    assert top["stage"] == "qualified" and top["customer"]["name"] == "Dana Reyes"
    assert top["last_touch_at"] == now.isoformat()
    assert top["next_appointment_at"] == (now.replace(hour=14) + timedelta(days=1)).isoformat()
    assert top["click_to_call"] == {"to": CALLER, "via": "/twilio/client"}
    page = api.get("/api/agents/me/leads", query_string={"limit": "2", "offset": "2"}).json
    assert [x["id"] for x in page["leads"]] == [cold]
    assert api.get("/api/agents/me/leads", as_="other").json["total"] == 1


@pytest.mark.parametrize("path", ["/api/agents/me/callbacks", "/api/agents/me/leads"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "¹"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_paging_out_of_range_is_a_400_naming_the_field(api, desk, path, query, field):
    answer = api.get(path, query_string=query)
    assert answer.status_code == 400 and answer.json["error"]["field"] == field


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SCRIPT),
        ("GET", "/api/agents/me/callbacks"),
        ("GET", "/api/agents/me/leads"),
    ],
)
def test_the_api_needs_a_login(client, desk, method, path):
    answer = client.open(path, method=method)
    assert answer.status_code == 401


# --------------------------------------------------------------------------------- fuzz

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
FIELDS = st.sampled_from(["call_sid", "step", "answer", "script", "notes", "x"])


@FUZZ
@given(
    path=st.sampled_from([SCRIPT, "/api/agents/me/callbacks", "/api/agents/me/leads"]),
    query=st.dictionaries(
        st.sampled_from(["name", "limit", "offset", "x"]), st.text(max_size=20), max_size=3
    ),
)
def test_fuzzed_queries_never_fail_the_server(api, desk, path, query):
    assert api.get(path, query_string=query).status_code < 500


@FUZZ
@given(
    path=st.sampled_from([ANSWER, "/api/calls/CAout/notes"]),
    body=st.dictionaries(FIELDS, JSON, max_size=4) | JSON,
)
def test_fuzzed_bodies_never_fail_the_server(api, deps, clock, desk, path, body):
    with deps.read_session_factory() as s:
        placed = s.scalars(select(Call.id).where(Call.call_sid == "CAout")).first()
    if placed is None:
        dial(api, deps, clock, "CAout")
    answer = api.post(path, json=body)
    assert answer.status_code < 500, answer.json
