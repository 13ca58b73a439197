"""Whole calls through the auto-attendant: the simulator plays the caller (keys, words,
silence, hang-ups), the app's signed webhooks answer from the ``auto_attendant`` script,
and the ACD takes the caller at the end. The clock is injected: 2026-01-05 15:00 UTC is a
Monday, 10:00 in New York, when every team is open."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core import customers
from crm_core.acd import RoutingQueue, create_queue, update_queue
from crm_core.acd_schemas import QueueIn, QueueUpdate
from crm_core.hours import add_holiday
from crm_core.leads import create_lead
from crm_core.models import (
    Activity,
    ActivityKind,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Call,
    CallStatus,
    Task,
    TaskKind,
    User,
)
from crm_core.schemas import CustomerIn, LeadIn, UserIn, parse
from crm_core.users import create_user
from routing.config import profile
from telephony.models import TelephonyError
from telephony.simulator.engine import Simulator
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"
CALLER = "+13135550101"
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
        DEALER_NAME="Motor City Motors",
    )


@pytest.fixture
def queues(deps, clock):
    """The queues a fresh ``db upgrade`` creates (migration 0005), as the IVR names them."""
    with deps.session_factory.begin() as s:
        for name, display, skills, hours, empty in DEFAULT_QUEUES:
            data = {"name": name, "display_name": display, "required_skills": skills}
            data |= {"hours": hours, "empty_action": empty}
            create_queue(s, parse(QueueIn, data), clock)
    deps.router.queues.invalidate()


@pytest.fixture
def agent(deps, clock, queues):
    """Someone who could take any call is logged in but away: callers wait in the queue."""
    with deps.session_factory.begin() as s:
        skills = {"sales": 5, "service": 5, "finance": 5, "spanish": 5}
        create_user(
            s, parse(UserIn, {"username": "ana", "password": "x" * 12, "skills": skills}), clock
        )
    with deps.session_factory() as s:
        ana = profile(s.scalars(select(User)).one())
    deps.router.set_presence(ana, "away", "meeting")
    return ana


@pytest.fixture
def sim(app, deps, clock):
    return make_sim(app, deps, clock)


def make_sim(app, deps, clock):
    """The simulator from now on (a test that moves the clock makes it afterwards)."""
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
        f"{PUBLIC}/twilio/voice",
        status_callback=f"{PUBLIC}/twilio/voice/status",
        fallback_url=f"{PUBLIC}/twilio/voice/fallback",
    )
    return sim


def run(sim, deps, seconds):
    for _ in range(int(seconds)):
        sim.advance(1)
        deps.dispatcher.run(deps.router.tick())


def until_queued(sim, deps, caller, seconds=150):
    """Time passes until the caller is in the ACD (the whole menu takes a while to hear)."""
    for _ in range(seconds):
        run(sim, deps, 1)
        entry = deps.router.entry(caller.call.sid)
        if entry is not None:
            return entry
    raise AssertionError(f"never queued: {caller.transcript}")


def call_row(deps, sid) -> Call:
    with deps.session_factory() as s:
        return s.scalars(select(Call).where(Call.call_sid == sid)).one()


def no_errors(sim, deps, *callers):
    for caller in callers:
        assert caller.failures == [], caller.transcript
    assert sim.errors == []
    with deps.session_factory() as s:
        assert s.scalars(select(TelephonyError)).all() == []


def customer(deps, clock, **fields):
    with deps.session_factory.begin() as s:
        return customers.create_customer(
            s, parse(CustomerIn, {"phones": [CALLER], **fields}), clock
        ).id


# ---------------------------------------------------------------- every branch, both languages

ENGLISH, SPANISH = "en-US", "es-MX"
# keys after the greeting (Spanish: 8 first), what the caller then hears, the path, the queue,
# the ACD priority (2 = emergency) and skills.
BRANCHES = [
    ("11", "please hold", "sales > new vehicles", "sales", 0),
    ("12", "please hold", "sales > pre-owned vehicles", "sales", 0),
    ("13", "please hold", "sales > trade-in value", "sales", 0),
    ("21", "please hold", "service > schedule service", "service", 0),
    ("22", "please hold", "service > vehicle status", "service", 0),
    ("23", "please hold", "service > parts", "service", 0),
    ("3", "payments and finance team", "payments and finance", "payments", 0),
    ("0", "", "operator", "operator", 0),
    ("5", "i don't see an upcoming appointment", "my appointment > no appointment", "operator", 0),
]
SPANISH_HEARD = {
    "please hold": "por favor espere",
    "payments and finance team": "equipo de pagos",
    "i don't see an upcoming appointment": "no encuentro una cita",
    "": "",
}


@pytest.mark.parametrize("lang", [ENGLISH, SPANISH])
@pytest.mark.parametrize(("keys", "heard", "path", "queue", "priority"), BRANCHES)
def test_every_menu_branch_reaches_its_queue(
    sim, deps, agent, lang, keys, heard, path, queue, priority
):
    caller = sim.call(CALLER, NUMBER)
    if lang == SPANISH:
        caller.expect_say("para español, oprima 8").press("8").expect_say("para ventas, oprima 1")
    else:
        caller.expect_say("thank you for calling motor city motors").expect_say("may be recorded")
        caller.expect_say("for sales, press 1")
    for key in keys:
        caller.wait(0.5).press(key)
    if heard:
        caller.expect_say(SPANISH_HEARD[heard] if lang == SPANISH else heard)
    caller.wait(30).hangup()
    entry = until_queued(sim, deps, caller)
    assert entry["queue"] == queue and entry["prio"] == priority
    if lang == SPANISH:
        assert entry["need"] == {"spanish": 1} and entry["lang"] == SPANISH
    else:
        assert not entry["need"]
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert row.ivr_path == (f"es > {path}" if lang == SPANISH else path)
    assert row.script_name == "auto_attendant" and row.script_version == "2"
    assert row.language == lang and row.queue == queue
    assert row.sensitive is (queue == "payments")
    assert row.status is CallStatus.COMPLETED


@pytest.mark.parametrize("lang", [ENGLISH, SPANISH])
def test_roadside_asks_where_the_caller_is_and_queues_at_emergency_priority(
    sim, deps, agent, clock, lang
):
    customer(deps, clock, first_name="Rosa")
    where = "Highway 10 near exit 25 in Houston"
    caller = sim.call(CALLER, NUMBER)
    if lang == SPANISH:
        caller.expect_say("oprima 8").press("8").expect_say("oprima 4").press("4")
        caller.expect_say("marque 9 1 1").expect_say("díganos dónde se encuentra")
    else:
        caller.expect_say("press 4").press("4").expect_say("dial 9 1 1")
        caller.expect_say("tell us where you are")
    caller.wait(0.5).speak(where).expect_say("especialista" if lang == SPANISH else "specialist")
    caller.wait(30).hangup()
    entry = until_queued(sim, deps, caller)
    assert entry["queue"] == "roadside" and entry["prio"] == 2
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert row.notes == f"Roadside assistance. Location: {where}"
    prefix = "es > " if lang == SPANISH else ""
    assert row.ivr_path == f"{prefix}roadside assistance > location"
    with deps.session_factory() as s:
        notes = s.scalars(select(Activity).where(Activity.kind == ActivityKind.NOTE)).all()
        (note,) = [n for n in notes if n.data.get("incident") == "roadside"]
        assert note.customer_id == row.customer_id and note.data["location"] == where


def test_roadside_without_a_location_still_reaches_the_queue(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("press 4").press("4")
    caller.expect_say("tell us where you are").expect_say("say your location again", within=20)
    caller.expect_say("roadside specialist", within=20).wait(10).hangup()
    run(sim, deps, 120)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert "not captured" in row.notes and row.ivr_path.endswith("no location")


def test_a_roadside_caller_jumps_the_queue(sim, deps, agent):
    """A caller already waits in the roadside queue at normal priority (dialled straight
    into it); the IVR's roadside caller comes later and is answered first."""
    sim.add_number("+13135550111", f"{PUBLIC}/twilio/acd/enqueue?queue=roadside")
    early = sim.call("+13135550199", "+13135550111").wait(300).hangup()
    ana = sim.phone("client:agent_ana", answer_after=2)
    caller = sim.call(CALLER, NUMBER).expect_say("press 4").press("4")
    caller.expect_say("tell us where you are").speak("Main Street and 5th").wait(90).hangup()
    until_queued(sim, deps, caller)
    assert deps.router.entry(early.call.sid)["prio"] == 0
    deps.dispatcher.run(deps.router.set_presence(agent, "available").actions)
    run(sim, deps, 10)
    assert len(ana.answered) == 1
    assert deps.router.entry(caller.call.sid)["state"] == "connected"
    assert deps.router.entry(early.call.sid)["state"] == "waiting"


def test_speech_picks_options_by_label_and_keywords(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("for sales, press 1").speak("I need an oil change")
    caller.expect_say("to schedule service").speak("schedule service").expect_say("please hold")
    caller.wait(20).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    assert call_row(deps, caller.call.sid).ivr_path == "service > schedule service"


def test_repeat_and_back_to_the_main_menu(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("press 9").press("9")
    caller.expect_say("for sales, press 1").press("1").expect_say("press star").press("*")
    caller.expect_say("for sales, press 1").press("0").wait(20).hangup()
    run(sim, deps, 90)
    no_errors(sim, deps, caller)
    assert caller.heard_text().count("for sales, press 1") == 3
    assert call_row(deps, caller.call.sid).ivr_path == "sales > operator"


def test_eight_from_the_spanish_menu_goes_back_to_english(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("oprima 8").press("8")
    caller.expect_say("for english, press 8").press("8").expect_say("for sales, press 1")
    caller.press("0").wait(20).hangup()
    run(sim, deps, 90)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert row.ivr_path == "es > en > operator" and row.language == "en-US"


# ---------------------------------------------------------------- retries


def test_silence_three_times_goes_to_the_operator(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("didn't hear a choice", within=40)
    caller.expect_say("connect you with someone", within=60).wait(20).hangup()
    run(sim, deps, 150)
    no_errors(sim, deps, caller)
    assert caller.heard_text().count("didn't hear a choice") == 2
    row = call_row(deps, caller.call.sid)
    assert row.ivr_path == "no choice > operator" or row.ivr_path == "no choice"
    assert row.queue == "operator"


def test_wrong_keys_are_named_and_then_a_person_helps(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("press 9").press("7")
    caller.expect_say("not one of the options").expect_say("press 9").press("#")
    caller.expect_say("didn't hear a choice").expect_say("press 9").speak("banana bread")
    caller.expect_say("connect you with someone").wait(20).hangup()
    run(sim, deps, 120)
    no_errors(sim, deps, caller)
    assert call_row(deps, caller.call.sid).queue == "operator"


def test_spanish_retries_speak_spanish(sim, deps, agent):
    caller = sim.call(CALLER, NUMBER).expect_say("oprima 8").press("8")
    caller.expect_say("para ventas").press("7").expect_say("esa no es una de las opciones")
    caller.wait(20).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)


# ---------------------------------------------------------------- hours and holidays


def test_after_hours_the_caller_asks_for_a_callback_when_the_team_opens(app, deps, queues, clock):
    clock.set(datetime(2026, 1, 5, 2, 0, tzinfo=UTC))  # Sunday 21:00 in New York
    sim = make_sim(app, deps, clock)
    caller = sim.call(CALLER, NUMBER).expect_say("our office is closed")
    caller.expect_say("monday to friday, 7:30 am to 6 pm").expect_say("press 2").press("2")
    caller.expect_say("will call you back as soon as we open")
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert row.ivr_path == "after hours > callback" and row.status is CallStatus.COMPLETED
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
    # Service opens first (Monday 07:30 in New York): its team calls back then.
    assert task.kind is TaskKind.CALLBACK and task.pool == "service" and task.phone == CALLER
    assert task.due_at == datetime(2026, 1, 5, 12, 30, tzinfo=UTC)


def test_after_hours_voicemail_keeps_the_recording_and_its_transcription(app, deps, queues, clock):
    customer(deps, clock, first_name="Maria")
    clock.set(datetime(2026, 1, 5, 2, 0, tzinfo=UTC))
    sim = make_sim(app, deps, clock)
    words = "Hi this is Maria calling about the blue Civic please call me back"
    caller = sim.call(CALLER, NUMBER).expect_say("our office is closed").press("1")
    caller.expect_say("after the tone").wait(1).talk(8, words).press("#")
    caller.expect_say("we received your message")
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
        row = s.scalars(select(Call)).one()
    assert task.kind is TaskKind.VOICEMAIL and task.customer_id == row.customer_id
    assert task.notes == words
    assert row.ivr_path == "after hours > voicemail"


def test_a_queue_closed_in_its_own_time_zone(app, deps, agent, clock):
    """16:30 UTC: 11:30 in New York, 8:30 in Los Angeles, where this sales team works."""
    with deps.session_factory.begin() as s:
        update_queue(s, "sales", parse(QueueUpdate, {"time_zone": "America/Los_Angeles"}), clock)
    deps.router.queues.invalidate()
    clock.set(datetime(2026, 1, 5, 16, 30, tzinfo=UTC))
    sim = make_sim(app, deps, clock)
    caller = sim.call(CALLER, NUMBER).expect_say("press 1").press("1")
    caller.expect_say("our office is closed").expect_say("9 am to 8 pm").press("2")
    caller.expect_say("call you back")
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
    assert task.pool == "sales" and task.due_at == datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    assert call_row(deps, caller.call.sid).ivr_path == "sales > closed > callback"
    # Service, in New York, is open at the same moment.
    second = sim.call("+13135550102", NUMBER).expect_say("press 2").press("2")
    second.expect_say("to schedule service").wait(5).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, second)


def test_a_holiday_closes_the_line_and_says_so(sim, deps, queues, clock):
    with deps.session_factory.begin() as s:
        add_holiday(s, date(2026, 1, 5), "Dealership closed")
    caller = sim.call(CALLER, NUMBER).expect_say("closed today for the holiday").press("1")
    caller.expect_say("after the tone").talk(5).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    assert call_row(deps, caller.call.sid).ivr_path == "holiday > voicemail"
    with deps.session_factory() as s:
        assert s.scalars(select(Task)).one().kind is TaskKind.VOICEMAIL


def test_a_holiday_for_one_queue_with_special_hours(sim, deps, agent, clock):
    with deps.session_factory.begin() as s:
        service_id = s.scalar(select(RoutingQueue.id).where(RoutingQueue.name == "service"))
        add_holiday(s, date(2026, 1, 5), "Inventory day", queue_id=service_id, hours="12:00-14:00")
    caller = sim.call(CALLER, NUMBER).expect_say("press 2").press("2")
    caller.expect_say("closed today for the holiday").wait(1).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    assert call_row(deps, caller.call.sid).ivr_path == "service > holiday"


def test_roadside_is_open_after_hours(app, deps, agent, clock):
    clock.set(datetime(2026, 1, 5, 2, 0, tzinfo=UTC))
    sim = make_sim(app, deps, clock)
    caller = sim.call(CALLER, NUMBER).expect_say("for roadside assistance, press 4").press("4")
    caller.expect_say("tell us where you are").speak("Interstate 94 at exit 210").wait(20).hangup()
    assert until_queued(sim, deps, caller)["prio"] == 2
    run(sim, deps, 40)
    no_errors(sim, deps, caller)


# ---------------------------------------------------------------- known callers


def appointment(deps, customer_id, start, kind=AppointmentType.SERVICE):
    with deps.session_factory.begin() as s:
        booked = Appointment(
            customer_id=customer_id,
            type=kind,
            start_at=start,
            end_at=start + timedelta(hours=1),
            created_at=start - timedelta(days=3),
        )
        s.add(booked)
        s.flush()
        return booked.id


TUESDAY_3PM = datetime(2026, 1, 6, 20, 0, tzinfo=UTC)  # 15:00 in New York


def test_a_known_caller_is_greeted_by_name(sim, deps, agent, clock):
    customer(deps, clock, first_name="Maria")
    caller = sim.call(CALLER, NUMBER).expect_say("hi maria, thank you for calling motor city")
    caller.press("0").wait(10).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)


def test_a_spanish_speaking_customer_hears_spanish_first(sim, deps, agent, clock):
    customer(deps, clock, first_name="Lupe", language="es-MX")
    caller = sim.call(CALLER, NUMBER).expect_say("hola lupe").expect_say("para ventas, oprima 1")
    caller.press("0").wait(10).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert row.language == "es-MX" and row.ivr_path == "es > operator"


@pytest.mark.parametrize("lang", [ENGLISH, SPANISH])
def test_the_appointment_shortcut_confirms(sim, deps, agent, clock, lang):
    who = customer(deps, clock, first_name="Maria", language=lang)
    booked = appointment(deps, who, TUESDAY_3PM)
    expected = (
        "su cita del martes 6 de enero a las 3 p. m."
        if lang == SPANISH
        else "your appointment on tuesday, january 6 at 3 pm? press 1"
    )
    caller = sim.call(CALLER, NUMBER).expect_say(expected).press("1")
    caller.expect_say("confirmarla" if lang == SPANISH else "to confirm it").press("1")
    caller.expect_say("confirmada" if lang == SPANISH else "is confirmed")
    run(sim, deps, 90)
    no_errors(sim, deps, caller)
    with deps.session_factory() as s:
        assert s.get(Appointment, booked).status is AppointmentStatus.CONFIRMED
    row = call_row(deps, caller.call.sid)
    prefix = "es > " if lang == SPANISH else ""
    assert row.ivr_path == f"{prefix}appointment shortcut > confirmed"
    assert row.status is CallStatus.COMPLETED


def test_the_appointment_menu_asks_for_a_new_time(sim, deps, agent, clock):
    who = customer(deps, clock, first_name="Maria")
    appointment(deps, who, TUESDAY_3PM)
    caller = sim.call(CALLER, NUMBER).expect_say("press 1. for anything else, press 2").press("2")
    caller.expect_say("for sales, press 1").press("5").expect_say("january 6 at 3 pm")
    caller.press("2").expect_say("call you back shortly to find a new time")
    run(sim, deps, 90)
    no_errors(sim, deps, caller)
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
    assert task.kind is TaskKind.CALLBACK and task.pool == "service" and "Reschedule" in task.title
    assert call_row(deps, caller.call.sid).ivr_path == "my appointment > reschedule"


def test_the_appointment_menu_zero_talks_to_the_team(sim, deps, agent, clock):
    who = customer(deps, clock, first_name="Maria")
    appointment(deps, who, TUESDAY_3PM, kind=AppointmentType.TEST_DRIVE)
    caller = sim.call(CALLER, NUMBER).expect_say("press 1.").press("1")
    caller.expect_say("press 0").press("0").expect_say("please hold").wait(10).hangup()
    run(sim, deps, 90)
    no_errors(sim, deps, caller)
    assert call_row(deps, caller.call.sid).queue == "sales"


def test_the_lead_shortcut_connects_to_sales_with_the_lead(sim, deps, agent, clock):
    who = customer(
        deps, clock, first_name="Sam", preferred_makes=["Toyota"], preferred_models=["RAV4"]
    )
    with deps.session_factory.begin() as s:
        lead = create_lead(s, parse(LeadIn, {"customer_id": who, "source_type": "website"}), clock)
        lead_id = lead.id
    caller = sim.call(CALLER, NUMBER).expect_say("the toyota rav4 you asked us about").press("1")
    caller.expect_say("please hold").wait(10).hangup()
    run(sim, deps, 60)
    no_errors(sim, deps, caller)
    row = call_row(deps, caller.call.sid)
    assert row.lead_id == lead_id and row.queue == "sales" and row.ivr_path == "lead > sales"


# ---------------------------------------------------------------- hanging up anywhere

HANG_UPS = {
    "greeting": ([], ""),
    "menu": (["wait:12"], ""),
    "submenu": (["1", "wait:3"], "sales"),
    "roadside location": (["4", "wait:8"], "roadside assistance"),
    "no appointment": (["5"], "my appointment > no appointment"),
    "spanish": (["8", "wait:2"], "es"),
}


@pytest.mark.parametrize("where", list(HANG_UPS))
def test_hanging_up_at_any_step_leaves_a_complete_call_row(sim, deps, agent, where):
    steps, path = HANG_UPS[where]
    caller = sim.call(CALLER, NUMBER).wait(2)
    for step in steps:
        if step.startswith("wait:"):
            caller.wait(float(step[5:]))
        else:
            caller.press(step).wait(1)
    caller.hangup()
    run(sim, deps, 60)
    no_errors(sim, deps)
    row = call_row(deps, caller.call.sid)
    assert row.status is CallStatus.COMPLETED and row.ended_at and row.duration_seconds >= 0
    assert row.from_number == CALLER and row.to_number == NUMBER and row.customer_id
    assert row.script_name == "auto_attendant" and row.language
    assert (row.ivr_path or "") == path
    assert deps.router.entry(caller.call.sid) is None or where == "no appointment"


def test_hanging_up_during_the_after_hours_message_and_voicemail(app, deps, queues, clock):
    clock.set(datetime(2026, 1, 5, 2, 0, tzinfo=UTC))
    sim = make_sim(app, deps, clock)
    first = sim.call(CALLER, NUMBER).wait(3).hangup()
    second = sim.call("+13135550102", NUMBER).expect_say("press 1").press("1")
    second.expect_say("after the tone").talk(6, "please call me").hangup()
    run(sim, deps, 60)
    no_errors(sim, deps)
    assert call_row(deps, first.call.sid).ivr_path == "after hours"
    row = call_row(deps, second.call.sid)
    assert row.ivr_path == "after hours > voicemail" and row.status is CallStatus.COMPLETED
    with deps.session_factory() as s:  # the message a caller hangs up to end is kept
        task = s.scalars(select(Task)).one()
    assert task.call_id == row.id and task.notes == "please call me"
