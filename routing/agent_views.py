"""The agent's side of the ACD's TwiML flow (steps 3 to 5 of routing/views.py): the accept,
the bridge into the conference, a callback's dial, and the ends of the call.

Each view parses the webhook, hands the step to the call's lifecycle (routing/lifecycle.py)
and answers with TwiML; the views share routing/views.py's blueprint and hold-flow texts.
"""

from __future__ import annotations

import logging
import re

from flask import request
from twilio.twiml.voice_response import Dial, VoiceResponse

from crm_core.settings import Settings
from recording import control as recording
from recording.views import recorder
from routing import lifecycle
from routing.handover import late_end
from routing.offers import Dispatcher
from routing.service import Router
from routing.urls import AGENT_ANSWERED, AGENT_STATUS, BRIDGE, CALLBACK_DONE, CONFERENCE, DONE
from routing.views import _lang, _parts, _say, _text, bp
from telephony.context import need
from telephony.events import CallEvent
from telephony.twiml import apology_then_voicemail, public
from telephony.webhooks import callback_webhook, voice_webhook

log = logging.getLogger("callcenter.routing")
CONFERENCE_EVENTS = "start end join leave"
ENTRY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # a CallSid, or a callback's id


@bp.post(AGENT_ANSWERED)
@voice_webhook
def agent_answered() -> str:
    """The agent's softphone answered the offer: that is the accept."""
    parts = _parts()
    entry_id, agent_id = request.args.get("entry", ""), _int(request.args.get("agent"))
    if agent_id is None:
        accepted = lifecycle.Accepted("gone", None)
    else:
        accepted = lifecycle.accept(parts, agent_id, entry_id)
    response = VoiceResponse()
    if accepted.state == "gone" or accepted.entry is None:
        _say(response, "Sorry, the caller is no longer waiting.")
        response.hangup()
        return str(response)
    entry = accepted.entry
    if accepted.state == "callback":
        return _callback_dial(entry, CallEvent.from_request().call_sid)
    if accepted.state == "caller_left":  # the agent is told, and was freed
        _say(response, "Sorry, the caller hung up.")
        response.hangup()
        return str(response)
    # Recorded from the moment the agent joins, on the caller's leg (which stays through
    # transfers and barge); consent was decided before (recording/control.py).
    try:
        recording.start(recorder(), entry["call_sid"], actor_id=agent_id)
    except Exception:  # the call goes on unrecorded; the agent hears no error
        log.exception("could not start recording CallSid=%s", entry["call_sid"])
    dial = Dial()
    dial.conference(
        entry_id,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        status_callback=parts.dispatcher.url(CONFERENCE, entry=entry_id, agent=agent_id),
        status_callback_event=CONFERENCE_EVENTS,
    )
    response.append(dial)
    return str(response)


def _callback_dial(entry: dict, agent_leg: str | None) -> str:
    """The agent's leg dials the customer, who hears the recording notice (or is asked to
    agree) once they answer; the agent's leg is then recorded (recording/views.py)."""
    dispatcher = need(Dispatcher)
    response = VoiceResponse()
    _say(response, "Callback from the queue. Calling the customer now.")
    dial = Dial(
        caller_id=dispatcher.caller_id,
        action=dispatcher.url(CALLBACK_DONE, entry=entry["id"]),
        method="POST",
        timeout=30,
    )
    notice = None
    if agent_leg and need(Settings).recording_enabled:
        notice = public("recording_control.notice", call=agent_leg, queue=entry.get("queue"))
    dial.number(entry["phone"], url=notice, method="POST" if notice else None)
    response.append(dial)
    return str(response)


@bp.post(AGENT_STATUS)
@callback_webhook
def agent_status() -> None:
    """The agent's leg: busy (rejected), no-answer or failed end the offer."""
    entry_id, agent_id = request.args.get("entry", ""), _int(request.args.get("agent"))
    status = request.form.get("CallStatus")
    why = {"busy": "rejected", "no-answer": "timeout", "failed": "failed"}.get(status or "")
    if why and agent_id is not None:
        dispatcher = need(Dispatcher)
        dispatcher.forget_leg(entry_id, agent_id)
        dispatcher.run(need(Router).release(agent_id, entry_id, why).actions)


@bp.post(BRIDGE)
@voice_webhook
def bridge() -> str:
    """The caller, redirected out of the queue, joins the agent's conference."""
    entry_id = request.args.get("entry", "")
    if not ENTRY_ID.fullmatch(entry_id):  # not one of ours (entries are CallSids)
        return apology_then_voicemail()
    response = VoiceResponse()
    dial = Dial(action=need(Dispatcher).url(DONE, entry=entry_id, lang=_lang()), method="POST")
    dial.conference(
        entry_id, start_conference_on_enter=True, end_conference_on_exit=True, beep=False
    )
    response.append(dial)
    return str(response)


@bp.post(DONE)
@voice_webhook
def done() -> str:
    _call_ended(request.args.get("entry", ""))
    return str(_say(VoiceResponse(), _text("goodbye", _lang()), _lang()))


@bp.post(CALLBACK_DONE)
@voice_webhook
def callback_done() -> str:
    """The agent's Dial to the customer ended: answered, or not (the router tries again)."""
    entry_id = request.args.get("entry", "")
    event = CallEvent.from_request()
    _call_ended(entry_id, callback_status=event.dial_call_status)
    response = VoiceResponse()
    if event.dial_call_status != "completed":
        _say(response, "The customer did not answer. We will try again later.")
    response.hangup()
    return str(response)


@bp.post(CONFERENCE)
@callback_webhook
def conference() -> None:
    """Every conference's statusCallback: the end of the conference ends the call, unless
    the call is connected to another agent in another conference by now (see step 5)."""
    if request.form.get("StatusCallbackEvent") != "conference-end":
        return
    entry_id = request.args.get("entry") or request.form.get("FriendlyName", "")
    agent, sid = _int(request.args.get("agent")), request.form.get("ConferenceSid")
    if agent is not None and late_end(need(Router).entry(entry_id), agent, sid):
        log.info("late end of conference %s of %s ignored", sid, entry_id)
        return
    _call_ended(entry_id)


def _call_ended(entry_id: str, *, callback_status: str | None = None) -> None:
    lifecycle.call_ended(_parts(), entry_id, callback_status=callback_status)


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 12 else None
