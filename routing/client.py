"""Click-to-call: an agent's softphone dials a customer through the TwiML App.

``POST /twilio/client`` is the TwiML App's Voice URL (DESIGN.md, the telephony contract).
Twilio requests it when a softphone places a call: ``From=client:<identity>``, ``To`` = the
number the agent dialled (the page's ``Device.connect({params: {To}})``). The answer is a
``<Dial>`` to that number from the center's caller ID, or a ``<Say>`` of why not, then
``<Hangup/>``. ``POST /twilio/client/done`` is that Dial's action: the customer's leg on
the Call row, and what the agent hears when nobody answered.

Why routing, and not console or telephony: an outbound call to a customer is the outbound
dialer's, and the rules it must obey (the do-not-call list, the calling window at the
customer's number) are routing's Gate, the same the ACD's callbacks pass; telephony must not
know agents, and console holds no domain rules. Like the dialer's other calls, nothing here
touches the ACD's live state in Redis.

A refusal is spoken to the agent, who is the one on the line; the customer is never called.
The Call row (``outbound-dial``, the agent, the customer matched by number) is written
only for a call actually placed, keyed by the softphone leg's CallSid: that leg is the
conversation, its status callbacks (the TwiML App's Status Callback URL) keep the row in
step, and the customer's leg is added to ``leg_sids`` by the Dial action.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from crm_core.calls import insert_call_if_new
from crm_core.clock import Clock
from crm_core.customers import find_by_phone
from crm_core.db import Database
from crm_core.errors import InvalidPhone
from crm_core.models import CallDirection, CallStatus, User
from crm_core.phones import normalize_phone, time_zone_of
from crm_core.settings import Settings
from routing import lifecycle
from routing.gate import CLOSES, OPENS, Gate
from routing.offers import Dispatcher
from telephony.access_tokens import identity_of
from telephony.carrier import DEMO_NUMBER
from telephony.context import need
from telephony.events import CallEvent
from telephony.twiml import public
from telephony.webhooks import call_start_webhook, voice_webhook

log = logging.getLogger("callcenter.routing")
bp = Blueprint("click_to_call", __name__, url_prefix="/twilio/client")
DIAL_TIMEOUT_SECONDS = 30  # then the agent hears "no answer" (before most voicemails pick up)
LANGUAGE = "en-US"
NOT_CONNECTED = {
    "busy": "The line is busy.",
    "no-answer": "There was no answer.",
    "failed": "The call could not be connected.",
    "canceled": "The call was canceled.",
}


def _refuse(reason: str) -> str:
    response = VoiceResponse()
    response.say(reason, language=LANGUAGE)
    response.hangup()
    return str(response)


def _clock_time(moment: datetime) -> str:
    return moment.strftime("%I:%M %p").lstrip("0")


def _window_refusal(phone: str, now: datetime, default_zone: str, opens: datetime | None) -> str:
    """'It is 9:42 PM at this number...': the local time the rule was applied at."""
    local = now.astimezone(ZoneInfo(time_zone_of(phone) or default_zone))
    hours = f"{_clock_time(datetime.combine(local.date(), OPENS))} to " + _clock_time(
        datetime.combine(local.date(), CLOSES)
    )
    text = f"It is {_clock_time(local)} for this customer, outside the calling hours of {hours}."
    if opens is not None:
        text += f" You may call from {_clock_time(opens)} {opens.strftime('%A')}."
    return text + " The call was not placed."


def _caller(session, identity: str | None) -> User | None:
    """The active user whose softphone this is (any role: supervisors call customers too).

    A read of one row by its unique index; crm_core.users has no look-up by identity yet."""
    if identity is None:
        return None
    user = session.scalars(select(User).where(User.softphone_identity == identity)).first()
    return user if user is not None and user.active else None


@bp.post("")
@call_start_webhook  # a CallSid whose call is over is hung up, never dialled again
def dial() -> str:
    db, clock, settings = need(Database), need(Clock), need(Settings)
    event = CallEvent.from_request()
    identity = identity_of(event.from_ or event.caller)
    with db.read_session_factory() as session:
        user = _caller(session, identity)
        agent_id = user.id if user is not None else None
    if agent_id is None or not event.call_sid:
        log.warning(
            "click-to-call refused: %r is no active softphone CallSid=%s",
            (event.from_ or "")[:80],
            event.call_sid or "-",
        )
        return _refuse("This softphone is not signed in to the call center. Goodbye.")
    try:
        phone = normalize_phone(event.to or "", region=settings.default_region, field="To")
    except InvalidPhone:
        return _refuse("The number you dialed is not a valid phone number. Please check it.")
    caller_id = settings.twilio_caller_id
    if not caller_id and settings.carrier == "twilio":
        log.error("click-to-call needs TWILIO_CALLER_ID CallSid=%s", event.call_sid)
        return _refuse("Outgoing calls are not set up yet: the caller ID is missing.")
    now = clock.now()
    gate = need(Dispatcher).gate or Gate(db.session_factory, settings.default_time_zone)
    verdict = gate(phone, now)
    if not verdict.ok:
        log.info("click-to-call %s refused: %s CallSid=%s", phone, verdict.reason, event.call_sid)
        if verdict.reason == "do_not_call":
            return _refuse("This number is on the do-not-call list. The call was not placed.")
        return _refuse(_window_refusal(phone, now, settings.default_time_zone, verdict.not_before))
    caller_id = caller_id or DEMO_NUMBER
    with db.session_factory.begin() as session:
        customer = find_by_phone(session, phone, region=settings.default_region)
        insert_call_if_new(
            session,
            call_sid=event.call_sid[:64],
            direction=CallDirection.OUTBOUND_DIAL,
            from_number=caller_id,
            to_number=phone,
            clock=clock,
            status=CallStatus.IN_PROGRESS,
            agent_id=agent_id,
            customer_id=customer.id if customer is not None else None,
        )
    response = VoiceResponse()
    outbound = response.dial(
        caller_id=caller_id,
        action=public("click_to_call.done"),
        method="POST",
        timeout=DIAL_TIMEOUT_SECONDS,
        answer_on_bridge=True,  # the agent hears the customer's phone ring, not silence
    )
    # The customer, once they answer, hears the recording notice (or is asked to agree)
    # before the agent's leg is recorded (recording/views.py).
    if settings.recording_enabled:
        notice = public("recording_control.notice", call=event.call_sid)
        outbound.number(phone, url=notice, method="POST")
    else:
        outbound.number(phone)
    return str(response)


@bp.post("/done")
@voice_webhook
def done() -> str:
    """The Dial ended: the customer's leg on the row; why, when nobody answered."""
    event = CallEvent.from_request()
    if event.call_sid and event.dial_call_sid:
        lifecycle.customer_leg(
            need(Database).session_factory,
            event.call_sid,
            event.dial_call_sid,
            talk_seconds=event.dial_call_duration,
        )
    status = event.dial_call_status or "failed"
    if status == "completed":
        response = VoiceResponse()
        response.hangup()
        return str(response)
    return _refuse(NOT_CONNECTED.get(status, NOT_CONNECTED["failed"]) + " Goodbye.")
