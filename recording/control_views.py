"""The recording's URLs: the agent's pause and resume, the script's position, and the
notice a called party hears before an outbound call is recorded.

    GET  /api/agents/me/call/recording          my call's recording: recording, paused or
                                                not recorded, and the consent on the Call
    POST /api/agents/me/call/recording/pause    pause it (``{"call": "CA…"}`` optional)
    POST /api/agents/me/call/recording/resume   capture again
    POST /api/agents/me/script/step             my script shows this step now (a step
                                                without answers, left with "Next"): a
                                                sensitive step pauses, leaving it resumes
    POST /twilio/recording-consent/notice       the called party answered (a <Number url>
                                                whisper): the notice, or "press 1 to agree"
    POST /twilio/recording-consent/answer       that question's answer
    POST /twilio/recording-consent/start        the notice was heard: recording starts

The controls act on the call the signed-in user is on now (``console.call_script``): none
is 409, a body naming another call is 404, a call not being recorded is 409. What is
recorded, and why the pause and resume rules are what they are: recording/control.py.
A called party never hears an error: whatever fails in the whisper, the call is bridged
unrecorded.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, g, request
from pydantic import Field
from twilio.twiml.voice_response import VoiceResponse

from console.auth import require_role
from console.call_script import _agent_script, choose_script, current_call
from crm_core.customers import find_by_phone
from crm_core.errors import Conflict, InvalidInput, InvalidPhone, NotFound
from crm_core.models import RecordingConsent
from crm_core.schemas import Strict, parse
from recording import consent, control
from telephony.twiml import caller_language, public, sentence
from telephony.webhooks import voice_webhook

log = logging.getLogger("callcenter.recording")
bp = Blueprint("recording_control", __name__)
CALL_SID = re.compile(r"[A-Za-z0-9]{2,64}")
# What the called party hears: the voicemail script's notices (scripts/library/), in the
# customer's language (their card's, found by the number called; else English).
NOTICES = "voicemail"


class ControlIn(Strict):
    call: str | None = Field(default=None, max_length=64)  # the call the page shows


class StepIn(Strict):
    call_sid: str = Field(min_length=1, max_length=64)
    step: str | None = Field(default=None, max_length=64)  # None: the end of the script
    script: str | None = Field(default=None, max_length=64)


def _deps():
    return current_app.extensions["callcenter"]


def recorded_leg(d, current, agent_id: int) -> str | None:
    """The leg whose recording is this agent's call: the caller's for an ACD call, the
    agent's own for a callback or a click-to-call (recording/control.py)."""
    if current is None or current.stage not in ("connected", "dialing"):
        return None
    if current.stage == "connected" and current.entry.get("kind") == "callback":
        return d.dispatcher.leg(current.entry["id"], agent_id)
    return current.call_sid


def _mine(named: str | None):
    """(recorded leg, Call row) of my call now."""
    d, me = _deps(), g.principal.id
    with d.read_session_factory() as session:
        current = current_call(session, d.router, me)
        call = current.call if current is not None else None
        if call is not None:
            session.expunge(call)
    leg = recorded_leg(d, current, me)
    if leg is None:
        raise Conflict("you are not connected to a call now", field="call")
    if named and named not in (leg, current.call_sid, current.entry.get("id")):
        raise NotFound(f"you are not on call {named!r}", field="call")
    return leg, call


@bp.get("/api/agents/me/call/recording")
@require_role()
def my_recording():
    d = _deps()
    with d.read_session_factory() as session:
        current = current_call(session, d.router, g.principal.id)
        call = current.call if current is not None else None
        leg = recorded_leg(d, current, g.principal.id)
        if leg is None:
            return {"call_sid": None, "state": "no_call"}
        return control.describe(control.live(d.redis, leg), call)


@bp.post("/api/agents/me/call/recording/pause")
@require_role()
def pause():
    """Pause my call's recording (``skip``: the pause is left out of the file)."""
    data = parse(ControlIn, request.get_json(silent=True) or {})
    leg, call = _mine(data.call)
    doc = control.pause(_deps(), leg, actor_id=g.principal.id, reason="manual")
    return control.describe(doc, call)


@bp.post("/api/agents/me/call/recording/resume")
@require_role()
def resume():
    """Capture again, whoever paused (the agent answers for it: the resume is audited)."""
    data = parse(ControlIn, request.get_json(silent=True) or {})
    leg, call = _mine(data.call)
    doc = control.resume(_deps(), leg, actor_id=g.principal.id, reason="manual")
    return control.describe(doc, call)


@bp.post("/api/agents/me/script/step")
@require_role()
def script_step():
    """My script shows ``step`` now: the recording follows (recording/control.py)."""
    d, me = _deps(), g.principal.id
    data = parse(StepIn, request.get_json(silent=True))
    with d.read_session_factory() as session:
        current = current_call(session, d.router, me)
    if current is None or current.call_sid != data.call_sid:
        raise Conflict("that is not the call you are on", field="call_sid")
    name = data.script or choose_script(d.scripts, current)[0]
    script = _agent_script(d.scripts, name)
    sensitive = False
    if data.step is not None:
        try:
            sensitive = script.step(data.step).sensitive
        except KeyError:
            raise InvalidInput(f"{script.name} has no step {data.step}", field="step") from None
    leg = recorded_leg(d, current, me)
    doc = control.follow_script(d, leg, actor_id=me, step=data.step, sensitive=sensitive)
    return {"step": data.step, "sensitive": sensitive, "recording": control.describe(doc, None)}


# ------------------------------------------------------------ outbound: the called party


def _parent() -> str | None:
    raw = request.args.get("call") or request.form.get("ParentCallSid") or ""
    return raw if CALL_SID.fullmatch(raw) else None


def _called_language(session) -> str:
    """The called customer's language (their card's), else English."""
    phone = request.form.get("To") or request.form.get("Called") or ""
    try:
        customer = find_by_phone(session, phone, region=current_app.config["DEFAULT_REGION"])
    except InvalidPhone:
        return caller_language()
    return (customer.language if customer is not None else None) or caller_language()


def _bridge(response: VoiceResponse | None = None) -> str:
    """An empty (or finished) whisper: the called party is connected."""
    return str(response or VoiceResponse())


@bp.post("/twilio/recording-consent/notice")
@voice_webhook
def notice() -> str:
    """The called party answered: the "may be recorded" notice then recording, or first
    "press 1 to agree" (all-party state or the queue asks), or nothing (not recorded)."""
    d, parent = _deps(), _parent()
    if parent is None:
        return _bridge()
    try:
        decision = _decide()
        with d.session_factory.begin() as session:
            consent.store(session, parent, decision)
            lang = _called_language(session)
        response = VoiceResponse()
        if decision.ask:
            gather = response.gather(
                input="dtmf",
                num_digits=1,
                timeout=6,
                action=public("recording_control.answer", call=parent, lang=lang, **_queue()),
                method="POST",
                action_on_empty_result=True,
            )
            gather.say(sentence("recording_notice", lang, NOTICES), language=lang)
            gather.say(sentence("recording_consent_ask", lang, NOTICES), language=lang)
        elif decision.recorded:
            response.say(sentence("recording_notice", lang, NOTICES), language=lang)
            response.redirect(public("recording_control.start", call=parent), method="POST")
        return _bridge(response)
    except Exception:  # the called party hears no error: connected, not recorded
        log.exception("recording notice failed ParentCallSid=%s", parent)
        return _bridge()


def _queue() -> dict[str, str]:
    queue = request.args.get("queue") or ""
    return {"queue": queue} if re.fullmatch(r"[a-z0-9_-]{1,64}", queue) else {}


def _decide() -> consent.Decision:
    queue = _queue().get("queue")
    config = _deps().router.queues().get(queue) if queue else None
    return consent.decide(
        current_app.config,
        phone=request.form.get("To") or request.form.get("Called"),
        queue=queue,
        queue_rule=config.recording_consent if config is not None else None,
    )


@bp.post("/twilio/recording-consent/answer")
@voice_webhook
def answer() -> str:
    """1: granted, recording starts; anything else (silence too): declined, not recorded."""
    d, parent = _deps(), _parent()
    if parent is None:
        return _bridge()
    response = VoiceResponse()
    try:
        yes = request.form.get("Digits") == "1"
        decision = consent.answered(_decide().rule, yes)
        with d.session_factory.begin() as session:
            consent.store(session, parent, decision)
        lang = caller_language()
        said = sentence("recording_consent_yes" if yes else "recording_consent_no", lang, NOTICES)
        response.say(said, language=lang)
        if yes:
            control.start(d, parent, consent=RecordingConsent.GRANTED)
    except Exception:
        log.exception("recording consent answer failed ParentCallSid=%s", parent)
    return _bridge(response)


@bp.post("/twilio/recording-consent/start")
@voice_webhook
def start() -> str:
    """The notice has been heard: record the conversation from now (the parent leg,
    dual-channel), then connect the called party."""
    d, parent = _deps(), _parent()
    if parent is not None:
        try:
            control.start(d, parent, consent=RecordingConsent.NOTIFIED)
        except Exception:
            log.exception("recording start failed ParentCallSid=%s", parent)
    return _bridge()
