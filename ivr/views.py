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
    /twilio/ivr/roadside        the caller's location, said aloud, then the queue
    /twilio/ivr/closed          after hours: a message, a callback, or roadside
    /twilio/ivr/voicemail       the message's ``<Record>`` action: a task for the team
    /twilio/ivr/transcription   Twilio's transcription of that message (a callback)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from crm_core.hours import Openness
from ivr import service
from ivr.service import Caller
from scripts import Script
from telephony import service as telephony
from telephony.events import CallEvent
from telephony.twiml import public
from telephony.webhooks import callback_webhook, voice_webhook

log = logging.getLogger("callcenter.ivr")
bp = Blueprint("ivr", __name__, url_prefix="/twilio")

SCRIPT = "auto_attendant"
MAX_TRIES = 3  # unanswered or unknown answers to one question before a person takes over
LOCATION_TRIES = 2
GATHER_SECONDS = 6
VOICEMAIL_SECONDS = 120
BACK_KEY = "*"  # from a sub-menu, back to the main menu
OPERATOR_KEY = "0"
ENGLISH = "en-US"


def _deps():
    return current_app.extensions["callcenter"]


def _event() -> CallEvent:
    return CallEvent.from_form(request.form, region=current_app.config["DEFAULT_REGION"])


def _script() -> Script:
    return _deps().scripts.get(SCRIPT)


def _lang(script: Script) -> str:
    return script.language(request.args.get("lang") or ENGLISH)


def _tries() -> int:
    raw = request.args.get("tries", "")
    return min(int(raw), MAX_TRIES) if raw.isascii() and raw.isdigit() and len(raw) < 3 else 0


def _url(step: str, **params: Any) -> str:
    return public(f"ivr.{step}", **{k: v for k, v in params.items() if v is not None})


@dataclass
class Turn:
    """One answer being built: the script, the language, the texts' variables, the TwiML."""

    script: Script
    lang: str
    context: dict[str, Any] = field(default_factory=dict)
    response: VoiceResponse = field(default_factory=VoiceResponse)

    def text(self, key: str) -> str:
        return self.script.text(key, self.lang, self.context)

    def say(self, key: str, target: Any = None) -> None:
        (target or self.response).say(self.text(key), language=self.lang)

    def gather(self, action: str, *, hints: list[str] | None = None, speech_only=False):
        return self.response.gather(
            input="speech" if speech_only else "dtmf speech",
            num_digits=None if speech_only else 1,
            action=action,
            method="POST",
            timeout=GATHER_SECONDS,
            speech_timeout="auto",
            action_on_empty_result=True,
            language=self.lang,
            hints=", ".join(hints) if hints else None,
        )

    def __str__(self) -> str:
        return str(self.response)


def _turn(
    script: Script | None = None, caller: Caller | None = None, lang: str | None = None
) -> Turn:
    script = script or _script()
    config = current_app.config
    turn = Turn(script, script.language(lang) if lang else _lang(script))
    turn.context = {
        "dealer": {"name": config.get("DEALER_NAME"), "website": config.get("DEALER_WEBSITE")},
    }
    if caller is not None:
        turn.context["customer"] = {"first_name": caller.first_name}
        if caller.appointment is not None:
            turn.context["appointment"] = {"when": caller.appointment.start}
        if caller.vehicle:
            turn.context["vehicle"] = {"description": caller.vehicle}
    return turn


# ---------------------------------------------------------------- the menu


def _menu(turn: Turn, *lead_in: str, tries: int = 0) -> None:
    gather = turn.gather(
        _url("menu", lang=turn.lang, tries=tries), hints=turn.script.speech_hints(turn.lang)
    )
    for key in lead_in:
        turn.say(key, gather)
    turn.say("main_menu", gather)


def _phrases(turn: Turn, options) -> list[tuple[Any, list[str]]]:
    lang = turn.lang
    return [(o, [turn.text(f"menu.{o.id}"), *(o.keywords.get(lang) or ())]) for o in options]


def _label(script: Script, option) -> str:
    """An option's name in the path: its English label, the same whatever the language."""
    return script.text(f"menu.{option.id}", ENGLISH)


@bp.post("/voice")
@voice_webhook
def voice() -> str:
    """The number answers: greeting, the recording notice, then the menu (or a shortcut for
    a known caller, or the after-hours message when every team is closed)."""
    d, event, script = _deps(), _event(), _script()
    config = current_app.config
    regular = [_queue(o.queue) for o in script.menu if o.queue and o.priority != "emergency"]
    openness = _openness([q for q in regular if q])
    with d.session_factory.begin() as session:
        caller = service.answer(
            session,
            event,
            d.clock,
            region=config["DEFAULT_REGION"],
            zone=config["DEFAULT_TIME_ZONE"],
            script_name=script.name,
            script_version=str(script.version),
        )
        lang = script.language(caller.language or ENGLISH)
        closed = bool(openness) and not any(o.open for o in openness.values())
        if caller.recorded_language is None:  # a first request (not Twilio retrying it)
            steps = [] if lang == ENGLISH else [_lang_step(lang)]
            if closed:
                holiday = any(o.holiday for o in openness.values())
                steps.append("holiday" if holiday else "after hours")
            if steps:
                service.add_step(session, event.call_sid, " > ".join(steps), language=lang)
            else:
                service.set_call(session, event.call_sid, language=lang)
    turn = _turn(script, caller, lang)
    greeting = "greeting_known" if caller.first_name else "greeting"
    if closed:  # the queue that opens first says when, and takes the callback
        queue = min(
            (q for q in regular if q),
            key=lambda q: (openness[q.name].next_open is None, openness[q.name].next_open or 0),
        )
        _closed(turn, queue.hours, openness[queue.name], queue=queue.name)
    elif caller.appointment is not None:
        gather = turn.gather(_url("shortcut", lang=turn.lang, kind="appointment"))
        for key in (greeting, "recording_notice", "appointment_shortcut"):
            turn.say(key, gather)
    elif caller.lead_id is not None and caller.vehicle:
        gather = turn.gather(_url("shortcut", lang=turn.lang, kind="lead"))
        for key in (greeting, "recording_notice", "lead_shortcut"):
            turn.say(key, gather)
    else:
        _menu(turn, greeting, "recording_notice")
    return str(turn)


def _lang_step(lang: str) -> str:
    return lang.split("-")[0]


@bp.post("/ivr/menu")
@voice_webhook
def menu() -> str:
    """The main menu's answer: a key or words (an empty answer is no answer: every Gather
    here has actionOnEmptyResult, so the flow always comes back to the app)."""
    event, turn = _event(), _turn()
    script, tries = turn.script, _tries()
    option = service.choose(script.menu, _phrases(turn, script.menu), event.digits, _speech())
    if option is None:
        return _retry(turn, event, tries, again=lambda t, n, key: _menu(t, key, tries=n))
    if option.action == "repeat":
        _menu(turn, tries=tries)
        return str(turn)
    if option.action == "language":
        lang = option.language if turn.lang != option.language else ENGLISH
        with _deps().session_factory.begin() as session:
            service.add_step(session, event.call_sid, _lang_step(lang), language=lang)
        turn.lang = script.language(lang)
        _menu(turn)
        return str(turn)
    if option.action == "appointment":
        with _deps().session_factory.begin() as session:
            service.add_step(session, event.call_sid, _label(script, option))
        return _appointment(turn, event)
    return _route(turn, event, Route.of(script, option), submenu=option if option.options else None)


def _speech() -> str | None:
    return service.clean(request.form.get("SpeechResult"))


def _retry(turn: Turn, event: CallEvent, tries: int, again) -> str:
    """No answer, or one that is not an option: say so and ask again, up to MAX_TRIES;
    then a person (the operator queue) or, when nobody is there, voicemail."""
    key = "invalid_input" if (event.digits or _speech()) else "no_input"
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


def _submenu(turn: Turn, option, tries: int = 0, lead_in: str | None = None) -> None:
    gather = turn.gather(
        _url("submenu", lang=turn.lang, option=option.id, tries=tries),
        hints=turn.script.submenu_hints(option.id, turn.lang),
    )
    if lead_in:
        turn.say(lead_in, gather)
    turn.say(f"menu.{option.id}.prompt", gather)


@bp.post("/ivr/submenu")
@voice_webhook
def submenu() -> str:
    event, turn = _event(), _turn()
    script, tries = turn.script, _tries()
    wanted = request.args.get("option")
    parent = next((o for o in script.menu if o.id == wanted and o.options), None)
    if parent is None:  # an option the script no longer has: the main menu again
        _menu(turn)
        return str(turn)
    if service.digit_of(event.digits, _speech()) == BACK_KEY:
        _menu(turn)
        return str(turn)
    sub = service.choose(parent.options, _phrases(turn, parent.options), event.digits, _speech())
    if sub is None:
        key = "invalid_input" if (event.digits or _speech()) else "no_input"
        if tries + 1 < MAX_TRIES:
            _submenu(turn, parent, tries + 1, key)
            return str(turn)
        return _route(turn, event, Route.of(script, parent, step=None))  # the team decides
    return _route(turn, event, Route.of(script, parent, sub))


# ---------------------------------------------------------------- into a queue


@dataclass(frozen=True)
class Route:
    """Where a choice leads: a queue, at a priority, with skills, named in the path."""

    queue: str
    priority: str = "normal"
    needs: tuple[tuple[str, int], ...] = ()
    step: str | None = None
    notice: str | None = None  # the option's own text before the hand-off (payments)
    sensitive: bool = False

    @property
    def emergency(self) -> bool:
        return self.priority == "emergency"

    @classmethod
    def of(cls, script: Script, option, sub=None, *, step: str | None = "") -> Route:
        chosen = sub or option
        needs = {**option.needs, **(sub.needs if sub else {})}
        notice = f"{option.id}_notice" if f"{option.id}_notice" in script.text_keys() else None
        return cls(
            queue=(sub.queue if sub and sub.queue else None) or option.queue,
            priority=str((sub.priority if sub and sub.priority else None) or option.priority),
            needs=tuple(sorted(needs.items())),
            step=_label(script, chosen) if step == "" else step,
            notice=notice,
            sensitive=option.sensitive,
        )


def _openness(queues: list) -> dict[str, Openness]:
    """Which of ``queues`` are open now (holidays from the app's cache: no SQL on most
    calls, and never inside the write transaction)."""
    d = _deps()
    return service.queue_openness(
        d.holidays, queues, d.clock.now(), current_app.config["DEFAULT_TIME_ZONE"]
    )


def _queue(name: str | None):
    return _deps().router.queues().get(name or "") if name else None


def _language_needs(lang: str) -> dict[str, int]:
    """The skills a caller's language asks of the agent (``IVR_LANGUAGE_SKILLS``)."""
    raw = str(current_app.config.get("IVR_LANGUAGE_SKILLS") or "")
    for part in raw.split(";"):
        tag, _, needs = part.partition("=")
        if tag.strip() == lang:
            out = {}
            for need in needs.split(","):
                name, _, level = need.strip().partition(":")
                if name and level.isdigit():
                    out[name] = int(level)
            return out
    return {}


def _route(turn: Turn, event: CallEvent, route: Route, *, quiet: bool = False, submenu=None) -> str:
    """The caller's choice is a queue: open → the ACD (roadside first asks where the caller
    is), or first the option's sub-menu; closed → the after-hours choices (before any
    sub-menu); not there → voicemail."""
    d = _deps()
    queue = _queue(route.queue)
    if queue is None or not queue.active:
        log.error("auto-attendant names queue %r, which is not active", route.queue)
        return _voicemail(turn, event, queue=None, step=route.step)
    state = _openness([queue])[queue.name]
    with d.session_factory.begin() as session:  # the write lock only for the write
        if route.step:
            service.add_step(session, event.call_sid, route.step)
        if not state.open:
            service.add_step(session, event.call_sid, "holiday" if state.holiday else "closed")
        elif route.sensitive and submenu is None:
            service.set_call(session, event.call_sid, sensitive=True)
    if not state.open:
        _closed(turn, queue.hours, state, queue=queue.name)
        return str(turn)
    if submenu is not None:
        _submenu(turn, submenu)
        return str(turn)
    if route.emergency:
        turn.say("roadside_intro")
        _ask_location(turn, route, tries=0)
        return str(turn)
    if not quiet:
        turn.say(route.notice or "transferring")
    _enqueue(turn, route)
    return str(turn)


def _enqueue(turn: Turn, route: Route) -> None:
    needs = {**_language_needs(turn.lang), **dict(route.needs)}
    turn.response.redirect(
        public(
            "routing.enqueue",
            queue=route.queue,
            priority=None if route.priority == "normal" else route.priority,
            needs=",".join(f"{k}:{v}" for k, v in sorted(needs.items())) or None,
            lang=turn.lang,
        ),
        method="POST",
    )


# ---------------------------------------------------------------- roadside


def _ask_location(turn: Turn, route: Route, tries: int, key: str = "roadside_location") -> None:
    gather = turn.gather(
        _url("roadside", lang=turn.lang, tries=tries, queue=route.queue), speech_only=True
    )
    turn.say(key, gather)


@bp.post("/ivr/roadside")
@voice_webhook
def roadside() -> str:
    """Where the caller is, said aloud (one more try if nothing was heard), noted on the
    call and the customer; then the roadside queue at emergency priority."""
    d, event, turn = _deps(), _event(), _turn()
    tries = _tries()
    route = Route(queue=request.args.get("queue") or "roadside", priority="emergency")
    location = _speech()
    if location is None and tries + 1 < LOCATION_TRIES:
        _ask_location(turn, route, tries + 1, "roadside_location_retry")
        return str(turn)
    with d.session_factory.begin() as session:
        service.roadside_incident(
            session, event.call_sid or "", location, event.confidence, d.clock
        )
        service.add_step(session, event.call_sid, "location" if location else "no location")
    turn.say("roadside_thanks")
    _enqueue(turn, route)
    return str(turn)


# ---------------------------------------------------------------- appointments


def _appointment(turn: Turn, event: CallEvent, tries: int = 0, lead_in: str | None = None) -> str:
    d = _deps()
    with d.read_session_factory() as session:
        caller = service.caller_of(
            session, event.call_sid or "", current_app.config["DEFAULT_TIME_ZONE"], d.clock.now()
        )
    upcoming = caller.appointment if caller else None
    if upcoming is None:
        turn.say("no_appointment")
        return _to_operator(turn, event, "no appointment")
    turn.context["appointment"] = {"when": upcoming.start}
    gather = turn.gather(_url("appointment", lang=turn.lang, tries=tries, appt=upcoming.id))
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
    event, turn = _event(), _turn()
    answer = service.yes_or_no(event.digits, _speech())
    if answer is not True:
        _menu(turn)
        return str(turn)
    d = _deps()
    if request.args.get("kind") == "lead":
        with d.session_factory.begin() as session:
            lead_id = service.answer_lead(session, event.call_sid or "")
            service.add_step(session, event.call_sid, "lead", lead_id=lead_id)
        sales = next((o for o in turn.script.menu if o.queue == "sales"), None)
        if sales is None:
            _menu(turn)
            return str(turn)
        return _route(turn, event, Route.of(turn.script, sales))
    with d.session_factory.begin() as session:
        service.add_step(session, event.call_sid, "appointment shortcut")
    return _appointment(turn, event)


@bp.post("/ivr/appointment")
@voice_webhook
def appointment() -> str:
    """1 confirms the appointment, 2 asks for another time (a callback task), 0 a person."""
    d, event, turn = _deps(), _event(), _turn()
    tries = _tries()
    appt = request.args.get("appt", "")
    appointment_id = int(appt) if appt.isascii() and appt.isdigit() and len(appt) < 12 else 0
    digit = service.digit_of(event.digits, _speech())
    said = set(service.words(_speech()))
    if digit is None and said & {"confirm", "confirmar", "confirmo", "yes", "si"}:
        digit = "1"
    elif digit is None and said & {"reschedule", "change", "cambiar", "otro", "another"}:
        digit = "2"
    if digit == "1":
        with d.session_factory.begin() as session:
            done = service.confirm_appointment(
                session, event.call_sid or "", appointment_id, d.clock
            )
            service.add_step(session, event.call_sid, "confirmed" if done else "not found")
        turn.say("appointment_confirmed" if done else "no_appointment")
        turn.say("goodbye")
        turn.response.hangup()
        return str(turn)
    if digit == "2":
        pool = _appointment_queue(d, appointment_id)
        with d.session_factory.begin() as session:
            task = service.ask_reschedule(
                session, event.call_sid or "", appointment_id, d.clock, pool=pool
            )
            service.add_step(session, event.call_sid, "reschedule" if task else "not found")
        turn.say("appointment_reschedule" if task else "no_appointment")
        turn.say("goodbye")
        turn.response.hangup()
        return str(turn)
    if digit == OPERATOR_KEY:
        queue = _appointment_queue(d, appointment_id)
        option = next((o for o in turn.script.menu if o.queue == queue), None)
        if option is not None:
            return _route(turn, event, Route.of(turn.script, option))
    key = "invalid_input" if (event.digits or _speech()) else "no_input"
    if tries + 1 >= MAX_TRIES:
        turn.say("too_many_tries")
        return _to_operator(turn, event, "no choice")
    return _appointment(turn, event, tries + 1, key)


def _appointment_queue(d, appointment_id: int) -> str:
    """Service appointments belong to the service team; every other kind to sales."""
    with d.read_session_factory() as session:
        kind = service.appointment_type(session, appointment_id)
    return "service" if kind == "service" else "sales"


# ---------------------------------------------------------------- after hours


def _closed(
    turn: Turn,
    hours: dict,
    state: Openness,
    *,
    queue: str | None,
    tries: int = 0,
    again: str | None = None,
) -> None:
    """Closed now: why (a holiday, or the hours), then a message, a callback, or roadside."""
    described = service.describe_hours(hours, turn.lang)
    turn.context.setdefault("dealer", {})["hours"] = described
    gather = turn.gather(_url("closed", lang=turn.lang, tries=tries, queue=queue, at=_stamp(state)))
    if again:
        turn.say(again, gather)
    else:
        turn.say("holiday" if state.holiday else "after_hours", gather)
    turn.say("after_hours_options", gather)


def _stamp(state: Openness) -> str | None:
    return state.next_open.isoformat(timespec="minutes") if state.next_open else None


@bp.post("/ivr/closed")
@voice_webhook
def closed() -> str:
    d, event, turn = _deps(), _event(), _turn()
    tries, queue = _tries(), request.args.get("queue") or None
    digit = service.digit_of(event.digits, _speech())
    said = set(service.words(_speech()))
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
        with d.session_factory.begin() as session:
            task = service.callback_request(
                session, event.call_sid or "", d.clock, queue=queue, due_at=due
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
    key = "invalid_input" if (event.digits or _speech()) else "no_input"
    config = _queue(queue) if queue else None
    hours = config.hours if config else {}
    state = Openness(False, None, service.parse_stamp(request.args.get("at")))
    _closed(turn, hours, state, queue=queue, tries=tries + 1, again=key)
    return str(turn)


# ---------------------------------------------------------------- voicemail


def _voicemail(
    turn: Turn, event: CallEvent, *, queue: str | None, step: str | None, greet: bool = True
) -> str:
    if step:
        with _deps().session_factory.begin() as session:
            service.add_step(session, event.call_sid, step)
    if greet:
        turn.say("voicemail_greeting")
    turn.response.record(
        action=_url("voicemail", lang=turn.lang, queue=queue),
        method="POST",
        max_length=VOICEMAIL_SECONDS,
        play_beep=True,
        finish_on_key="#",
        timeout=5,
        transcribe=True,
        transcribe_callback=_url("transcription"),
    )
    turn.say("no_message")  # <Record> falls through only when nothing was recorded
    turn.response.hangup()
    return str(turn)


@bp.post("/ivr/voicemail")
@voice_webhook
def voicemail() -> str:
    d, event, turn = _deps(), _event(), _turn()
    with d.session_factory.begin() as session:
        task = telephony.take_voicemail(
            session, event, d.clock, pool=request.args.get("queue") or None
        )
    turn.say("voicemail_thanks" if task is not None else "no_message")
    turn.response.hangup()
    return str(turn)


@bp.post("/ivr/transcription")
@callback_webhook
def transcription() -> None:
    d, form = _deps(), request.form
    if form.get("TranscriptionStatus", "completed") != "completed":
        return
    with d.session_factory.begin() as session:
        service.attach_transcription(
            session, form.get("CallSid"), form.get("RecordingSid"), form.get("TranscriptionText")
        )
