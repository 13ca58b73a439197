"""The auto-attendant's URLs: ``POST /twilio/voice`` (the number's Voice URL) and the steps
under ``/twilio/ivr/`` that its ``<Gather>`` and ``<Record>`` verbs post to.

Everything a caller hears comes from the ``auto_attendant`` script (``scripts/library/``,
or ``SCRIPTS_DIR``), in the caller's language, which every URL carries (``lang``), as it
carries how many tries the caller has had at the current question (``tries``). A step
writes how far the caller got on the Call row (``ivr_path``) before answering, so a caller
who hangs up anywhere leaves a row that says where. The last step hands the caller to the
ACD (``/twilio/acd/enqueue``, with the queue, the priority and the language's skills).

    /twilio/voice               greeting, recording notice; the menu, the shortcut for a
                                known caller's appointment or lead, or after hours
    /twilio/ivr/menu            the main menu's answer (a key, or words)
    /twilio/ivr/submenu         a sub-menu's answer (``option``: whose sub-menu)
    /twilio/ivr/shortcut        "are you calling about your appointment…?" (``kind``)
    /twilio/ivr/appointment     confirm, reschedule or talk about the next appointment
    /twilio/ivr/consent         "press 1 to agree to recording" (where a yes is needed)
    /twilio/ivr/roadside        the caller's location, said aloud, then the queue
    /twilio/ivr/closed          after hours: a message, a callback, or roadside
    /twilio/ivr/voicemail       the message's ``<Record>`` action: a task for the team
    /twilio/ivr/transcription   Twilio's transcription of that message (a callback)
"""

from __future__ import annotations

import logging

from flask import Blueprint, request

from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.hours import Openness
from crm_core.settings import Settings
from ivr import call, choices, service
from ivr.prompts import (
    BACK_KEY,
    ENGLISH,
    LOCATION_TRIES,
    MAX_TRIES,
    OPERATOR_KEY,
    Route,
    Turn,
    ask_location,
    auto_attendant,
    call_event,
    closed_menu,
    constant,
    enqueue,
    label,
    lang_step,
    main_menu,
    new_turn,
    openness_of,
    phrases,
    queue_config,
    recording_consent,
    speech,
    step_url,
    sub_menu,
    tries_so_far,
)
from recording import consent
from routing.service import Router
from telephony import service as telephony
from telephony.context import need
from telephony.events import CallEvent
from telephony.twiml import public, record_voicemail
from telephony.webhooks import callback_webhook, voice_webhook

log = logging.getLogger("callcenter.ivr")
bp = Blueprint("ivr", __name__, url_prefix="/twilio")


# ---------------------------------------------------------------- the menu


@bp.post("/voice")
@voice_webhook
def voice() -> str:
    """The number answers: greeting, the recording notice, then the menu (or a shortcut for
    a known caller, or the after-hours message when every team is closed)."""
    event, script, settings = call_event(), auto_attendant(), need(Settings)
    queues = need(Router).queues()  # the queues' configuration, cached by the router
    regular = [queues.get(o.queue) for o in script.menu if o.queue and o.priority != "emergency"]
    openness = openness_of([q for q in regular if q])
    database, clock = need(Database), need(Clock)
    # One read, without a lock: the Call row and what is known of the caller. A request
    # Twilio repeats writes nothing; a new call's row is one INSERT (with its language and
    # path), and an ORM session is opened only to make a new caller's customer.
    with database.read_engine.connect() as connection:
        seen = call.arrival(connection, event, clock.now(), settings.default_time_zone)
    lang = script.language(seen.caller.language or ENGLISH)
    closed = bool(openness) and not any(o.open for o in openness.values())
    first = seen.caller.recorded_language is None  # the call's first request, not a repeat
    steps = [] if lang == ENGLISH or not first else [lang_step(lang)]
    if first and closed:
        holiday = any(o.holiday for o in openness.values())
        steps.append("holiday" if holiday else "after hours")
    caller = call.answer(
        database,
        event,
        clock,
        seen,
        region=settings.default_region,
        zone=settings.default_time_zone,
        script_name=script.name,
        script_version=str(script.version),
        language=lang if first else None,
        path=" > ".join(steps) or None,
    )
    turn = new_turn(script, caller, lang)
    greeting = "greeting_known" if caller.first_name else "greeting"
    if closed:  # the queue that opens first says when, and takes the callback
        queue = min(
            (q for q in regular if q),
            key=lambda q: (openness[q.name].next_open is None, openness[q.name].next_open or 0),
        )
        closed_menu(turn, queue.hours, openness[queue.name], queue=queue.name)
    elif caller.appointment is not None:
        gather = turn.gather(step_url("shortcut", lang=turn.lang, kind="appointment"))
        for key in (greeting, "recording_notice", "appointment_shortcut"):
            turn.say(key, gather)
    elif caller.lead_id is not None and caller.vehicle:
        gather = turn.gather(step_url("shortcut", lang=turn.lang, kind="lead"))
        for key in (greeting, "recording_notice", "lead_shortcut"):
            turn.say(key, gather)
    elif caller.first_name:  # greeted by name: this caller's own document
        main_menu(turn, greeting, "recording_notice")
    else:  # the same document for every caller not greeted by name: built once
        return constant(turn, main_menu, greeting, "recording_notice")
    return str(turn)


@bp.post("/ivr/menu")
@voice_webhook
def menu() -> str:
    """The main menu's answer: a key or words (an empty answer is no answer: every Gather
    here has actionOnEmptyResult, so the flow always comes back to the app)."""
    event, turn = call_event(), new_turn()
    script, tries = turn.script, tries_so_far()
    option = choices.choose(script.menu, phrases(turn, script.menu), event.digits, speech())
    if option is None:
        return _retry(turn, event, tries, again=lambda t, n, key: main_menu(t, key, tries=n))
    if option.action == "repeat":
        main_menu(turn, tries=tries)
        return str(turn)
    if option.action == "language":
        lang = option.language if turn.lang != option.language else ENGLISH
        with need(Database).engine.begin() as connection:
            service.add_step(connection, event.call_sid, lang_step(lang), language=lang)
        turn.lang = script.language(lang)
        main_menu(turn)
        return str(turn)
    if option.action == "appointment":
        with need(Database).engine.begin() as connection:
            service.add_step(connection, event.call_sid, label(script, option))
        return _appointment(turn, event)
    return _route(turn, event, Route.of(script, option), submenu=option if option.options else None)


def _retry(turn: Turn, event: CallEvent, tries: int, again) -> str:
    """No answer, or one that is not an option: say so and ask again, up to MAX_TRIES;
    then a person (the operator queue) or, when nobody is there, voicemail."""
    key = "invalid_input" if (event.digits or speech()) else "no_input"
    tries += 1
    if tries < MAX_TRIES:
        again(turn, tries, key)
        return str(turn)
    turn.say("too_many_tries")
    return _to_operator(turn, event, "no choice")


def _to_operator(turn: Turn, event: CallEvent, step: str) -> str:
    """A person takes over: the menu's 0 (the operator queue), else voicemail."""
    operator = next((o for o in turn.script.menu if o.digit == OPERATOR_KEY and o.queue), None)
    if operator is None:
        return _voicemail(turn, event, queue=None, step=step)
    return _route(turn, event, Route.of(turn.script, operator, step=step), quiet=True)


@bp.post("/ivr/submenu")
@voice_webhook
def submenu() -> str:
    event, turn = call_event(), new_turn()
    script, tries = turn.script, tries_so_far()
    wanted = request.args.get("option")
    parent = next((o for o in script.menu if o.id == wanted and o.options), None)
    if parent is None:  # an option the script no longer has: the main menu again
        main_menu(turn)
        return str(turn)
    if choices.digit_of(event.digits, speech()) == BACK_KEY:
        main_menu(turn)
        return str(turn)
    sub = choices.choose(parent.options, phrases(turn, parent.options), event.digits, speech())
    if sub is None:
        key = "invalid_input" if (event.digits or speech()) else "no_input"
        if tries + 1 < MAX_TRIES:
            return constant(turn, sub_menu, parent.id, tries + 1, key)
        return _route(turn, event, Route.of(script, parent, step=None))  # the team decides
    return _route(turn, event, Route.of(script, parent, sub))


# ---------------------------------------------------------------- into a queue


def _route(turn: Turn, event: CallEvent, route: Route, *, quiet: bool = False, submenu=None) -> str:
    """The caller's choice is a queue: open → the ACD (roadside first asks where the caller
    is), or first the option's sub-menu; closed → the after-hours choices (before any
    sub-menu); not there → voicemail."""
    queue = queue_config(route.queue)
    if queue is None or not queue.active:
        log.error("auto-attendant names queue %r, which is not active", route.queue)
        return _voicemail(turn, event, queue=None, step=route.step)
    state = openness_of([queue])[queue.name]
    # Core on a pooled connection: the write lock only for the write, and no ORM session.
    with need(Database).engine.begin() as connection:
        if route.step:
            service.add_step(connection, event.call_sid, route.step)
        if not state.open:
            service.add_step(connection, event.call_sid, "holiday" if state.holiday else "closed")
        elif route.sensitive and submenu is None:
            service.set_call(connection, event.call_sid, sensitive=True)
    if not state.open:
        closed_menu(turn, queue.hours, state, queue=queue.name)
        return str(turn)
    if submenu is not None:
        return constant(turn, sub_menu, submenu.id)
    if route.emergency:
        turn.say("roadside_intro")
        ask_location(turn, route, tries=0)
        return str(turn)
    if not quiet:
        turn.say(route.notice or "transferring")
    enqueue(turn, route, event)
    return str(turn)


@bp.post("/ivr/consent")
@voice_webhook
def consent_answer() -> str:
    """The answer to "press 1 (or say yes) to agree to recording": a yes is ``granted``;
    anything else, silence included, is ``declined`` (not recorded). Either way the caller
    goes on to the queue they chose."""
    event, turn = call_event(), new_turn()
    queue = request.args.get("queue") or None
    yes = choices.yes_or_no(event.digits, speech()) is True
    decision = consent.answered(recording_consent(queue, event).rule, yes)
    with need(Database).session_factory.begin() as session:
        consent.store(session, event.call_sid, decision)
    turn.say("recording_consent_yes" if yes else "recording_consent_no")
    args = {k: request.args.get(k) or None for k in ("queue", "priority", "needs", "lang")}
    turn.response.redirect(public("routing.enqueue", **args), method="POST")
    return str(turn)


# ---------------------------------------------------------------- roadside


@bp.post("/ivr/roadside")
@voice_webhook
def roadside() -> str:
    """Where the caller is, said aloud (one more try if nothing was heard), noted on the
    call and the customer; then the roadside queue at emergency priority."""
    event, turn = call_event(), new_turn()
    tries = tries_so_far()
    route = Route(queue=request.args.get("queue") or "roadside", priority="emergency")
    location = speech()
    if location is None and tries + 1 < LOCATION_TRIES:
        ask_location(turn, route, tries + 1, "roadside_location_retry")
        return str(turn)
    with need(Database).session_factory.begin() as session:
        service.roadside_incident(
            session, event.call_sid or "", location, event.confidence, need(Clock)
        )
        service.add_step(session, event.call_sid, "location" if location else "no location")
    turn.say("roadside_thanks")
    enqueue(turn, route, event)
    return str(turn)


# ---------------------------------------------------------------- appointments


def _appointment(turn: Turn, event: CallEvent, tries: int = 0, lead_in: str | None = None) -> str:
    with need(Database).read_session_factory() as session:
        caller = service.caller_of(
            session, event.call_sid or "", need(Settings).default_time_zone, need(Clock).now()
        )
    upcoming = caller.appointment if caller else None
    if upcoming is None:
        turn.say("no_appointment")
        return _to_operator(turn, event, "no appointment")
    turn.context["appointment"] = {"when": upcoming.start}
    gather = turn.gather(step_url("appointment", lang=turn.lang, tries=tries, appt=upcoming.id))
    if lead_in:
        turn.say(lead_in, gather)
    turn.say("appointment_details", gather)
    turn.say("appointment_options", gather)
    return str(turn)


@bp.post("/ivr/shortcut")
@voice_webhook
def shortcut() -> str:
    """ "Are you calling about your appointment (the car you asked about)?" 1/yes: that;
    anything else: the main menu."""
    event, turn = call_event(), new_turn()
    answer = choices.yes_or_no(event.digits, speech())
    if answer is not True:
        main_menu(turn)
        return str(turn)
    database = need(Database)
    if request.args.get("kind") == "lead":
        with database.session_factory.begin() as session:
            lead_id = service.answer_lead(session, event.call_sid or "")
            service.add_step(session, event.call_sid, "lead", lead_id=lead_id)
        sales = next((o for o in turn.script.menu if o.queue == "sales"), None)
        if sales is None:
            main_menu(turn)
            return str(turn)
        return _route(turn, event, Route.of(turn.script, sales))
    with database.engine.begin() as connection:
        service.add_step(connection, event.call_sid, "appointment shortcut")
    return _appointment(turn, event)


@bp.post("/ivr/appointment")
@voice_webhook
def appointment() -> str:
    """1 confirms the appointment, 2 asks for another time (a callback task), 0 a person."""
    event, turn = call_event(), new_turn()
    database, clock = need(Database), need(Clock)
    tries = tries_so_far()
    appt = request.args.get("appt", "")
    appointment_id = int(appt) if appt.isascii() and appt.isdigit() and len(appt) < 12 else 0
    digit = choices.digit_of(event.digits, speech())
    said = set(choices.words(speech()))
    if digit is None and said & {"confirm", "confirmar", "confirmo", "yes", "si"}:
        digit = "1"
    elif digit is None and said & {"reschedule", "change", "cambiar", "otro", "another"}:
        digit = "2"
    if digit == "1":
        with database.session_factory.begin() as session:
            done = service.confirm_appointment(session, event.call_sid or "", appointment_id, clock)
            service.add_step(session, event.call_sid, "confirmed" if done else "not found")
        turn.say("appointment_confirmed" if done else "no_appointment")
        turn.say("goodbye")
        turn.response.hangup()
        return str(turn)
    if digit == "2":
        pool = _appointment_queue(database, appointment_id)
        with database.session_factory.begin() as session:
            task = service.ask_reschedule(
                session, event.call_sid or "", appointment_id, clock, pool=pool
            )
            service.add_step(session, event.call_sid, "reschedule" if task else "not found")
        turn.say("appointment_reschedule" if task else "no_appointment")
        turn.say("goodbye")
        turn.response.hangup()
        return str(turn)
    if digit == OPERATOR_KEY:
        queue = _appointment_queue(database, appointment_id)
        option = next((o for o in turn.script.menu if o.queue == queue), None)
        if option is not None:
            return _route(turn, event, Route.of(turn.script, option))
    key = "invalid_input" if (event.digits or speech()) else "no_input"
    if tries + 1 >= MAX_TRIES:
        turn.say("too_many_tries")
        return _to_operator(turn, event, "no choice")
    return _appointment(turn, event, tries + 1, key)


def _appointment_queue(database: Database, appointment_id: int) -> str:
    """Service appointments belong to the service team; every other kind to sales."""
    with database.read_session_factory() as session:
        kind = service.appointment_type(session, appointment_id)
    return "service" if kind == "service" else "sales"


# ---------------------------------------------------------------- after hours


@bp.post("/ivr/closed")
@voice_webhook
def closed() -> str:
    event, turn = call_event(), new_turn()
    tries, queue = tries_so_far(), request.args.get("queue") or None
    digit = choices.digit_of(event.digits, speech())
    said = set(choices.words(speech()))
    if digit is None and said & {"message", "mensaje", "voicemail"}:
        digit = "1"
    elif digit is None and said & {"callback", "call", "back", "llamen", "llamada", "regresen"}:
        digit = "2"
    elif digit is None and said & {"roadside", "tow", "grua", "camino"}:
        digit = "4"
    if digit == "1":
        return _voicemail(turn, event, queue=queue, step="voicemail")
    if digit == "2":
        due = service.parse_stamp(request.args.get("at"))
        with need(Database).session_factory.begin() as session:
            task = service.callback_request(
                session, event.call_sid or "", need(Clock), queue=queue, due_at=due
            )
            if task is not None:
                service.add_step(session, event.call_sid, "callback")
        if task is None:  # no number to call back: a message with one instead
            turn.say("callback_no_number")
            return _voicemail(turn, event, queue=queue, step="voicemail", greet=False)
        turn.say("callback_confirmed")
        turn.response.hangup()
        return str(turn)
    if digit == "4":
        option = next((o for o in turn.script.menu if o.priority == "emergency" and o.queue), None)
        if option is not None:
            return _route(turn, event, Route.of(turn.script, option))
    if tries + 1 >= MAX_TRIES:
        return _voicemail(turn, event, queue=queue, step="voicemail")
    key = "invalid_input" if (event.digits or speech()) else "no_input"
    config = queue_config(queue) if queue else None
    hours = config.hours if config else {}
    state = Openness(False, None, service.parse_stamp(request.args.get("at")))
    closed_menu(turn, hours, state, queue=queue, tries=tries + 1, again=key)
    return str(turn)


# ---------------------------------------------------------------- voicemail


def _voicemail(
    turn: Turn, event: CallEvent, *, queue: str | None, step: str | None, greet: bool = True
) -> str:
    if step:
        with need(Database).engine.begin() as connection:
            service.add_step(connection, event.call_sid, step)
    if greet:
        turn.say("voicemail_greeting")
    record_voicemail(
        turn.response,
        step_url("voicemail", lang=turn.lang, queue=queue),
        transcribe_callback=step_url("transcription"),
    )
    turn.say("no_message")  # <Record> falls through only when nothing was recorded
    turn.response.hangup()
    return str(turn)


@bp.post("/ivr/voicemail")
@voice_webhook
def voicemail() -> str:
    event, turn = call_event(), new_turn()
    with need(Database).session_factory.begin() as session:
        task = telephony.take_voicemail(
            session, event, need(Clock), pool=request.args.get("queue") or None
        )
    turn.say("voicemail_thanks" if task is not None else "no_message")
    turn.response.hangup()
    return str(turn)


@bp.post("/ivr/transcription")
@callback_webhook
def transcription() -> None:
    form = request.form
    if form.get("TranscriptionStatus", "completed") != "completed":
        return
    with need(Database).session_factory.begin() as session:
        service.attach_transcription(
            session, form.get("CallSid"), form.get("RecordingSid"), form.get("TranscriptionText")
        )
