"""The ACD's TwiML flow: a caller holds, an agent's softphone rings, both meet in a conference.
Its URLs are the table in routing/urls.py; the agent's side (steps 3 to 5) is served by
routing/agent_views.py, on this blueprint; each step's writes are routing/lifecycle.py's.

1. ``POST /twilio/acd/enqueue?queue=sales[&priority=vip][&needs=spanish:5]`` (where the IVR
   sends a caller): the router takes the call; the caller holds in ``<Enqueue waitUrl>``.
   With nobody who could answer logged in, the queue's empty behaviour runs instead, but
   not in the first moments after Redis lost the router's state: agents who were there are
   still re-announcing, so the caller waits in line for them (``EMPTY_AFTER_REBUILD``).
   While Redis cannot be reached at all, every step here is a hold loop that asks again
   (telephony/webhooks.py), and ``/hold`` holds without the caller's position.
2. ``/hold`` (the waitUrl): position and estimated wait, then "press 1 to hang up and keep
   your place" (callback-in-queue, ``/hold/key``), then a pause; Twilio asks again.
3. The router offers the caller to an agent: the Dispatcher rings ``client:<identity>``.
   The agent answering is the accept (``/agent``): the agent joins a conference named after
   the caller's CallSid and the caller is redirected into it (``/bridge``). For a callback
   the agent hears who is called back and the carrier dials the customer from the agent's
   leg (``/callback/done`` is that Dial's action).
4. The agent's leg ending without an answer (busy = rejected, no-answer, failed:
   ``/agent/status``) releases the offer. The caller hanging up while holding or ringing
   (``/left``, the Enqueue action) frees the agent at once.
5. The conference ending (``/twilio/conference`` and the caller's Dial action ``/done``)
   ends the call: the agent wraps up, and the Call row gets its queue, agent, wait and talk.
   A conference's status callback names the agent who answered (``agent=``): its end
   arriving after the caller was transferred and connected to someone else is late, and
   ends nothing (unless the call was handed over inside that very conference).
6. ``/digits?d=…`` is the agent's keypad: a participant announcement that plays the tones
   to the caller (console/incall.py).
"""

from __future__ import annotations

import logging
import math
import re
from datetime import timedelta

from flask import Blueprint, request
from sqlalchemy import bindparam, exists, select
from twilio.twiml.voice_response import VoiceResponse

from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.models import Call
from routing import estimates, lifecycle, recovery
from routing.lifecycle import CallParts
from routing.offers import Dispatcher
from routing.service import Priority, Router
from routing.urls import DIGITS, ENQUEUE, HOLD, HOLD_KEY, LEFT, OVERFLOW
from scripts import Library
from telephony.carrier import Carrier
from telephony.context import need
from telephony.events import CallEvent
from telephony.twiml import apology_then_voicemail, voicemail_document
from telephony.webhooks import UNREACHABLE, voice_webhook

log = logging.getLogger("callcenter.routing")
bp = Blueprint("routing", __name__)
NEED = re.compile(r"^([a-z][a-z0-9_-]{0,31}):([0-9]{1,2})$")
HOLD_PAUSE_SECONDS = 20
CALLBACK_KEY = "1"
HOLD_SCRIPT = "acd_hold"  # scripts/library/acd_hold.yaml, unless the queue names another
DEFAULT_LANGUAGE = "en-US"
LANGUAGE_TAG = re.compile(r"^[a-z]{2}-[A-Z]{2}$")
KEYPAD = re.compile(r"[0-9*#w]{1,32}")
# s after the router's state was (re)built (routing/recovery.py sets a new epoch) during
# which "nobody is logged in" is not believed: the agents' pages re-announce within seconds.
EMPTY_AFTER_REBUILD = 20
HOUR = timedelta(hours=1)


def _parts() -> CallParts:
    """What a step of the call's life is written through (routing/lifecycle.py), and a
    rebuild after a Redis loss (routing/recovery.py)."""
    db = need(Database)
    return CallParts(
        need(Router),
        need(Dispatcher),
        need(Carrier),
        db.session_factory,
        need(Clock),
        db.read_session_factory,
    )


def _say(response: VoiceResponse, text: str, lang: str = DEFAULT_LANGUAGE) -> VoiceResponse:
    response.say(text, language=lang)
    return response


def _lang() -> str:
    """The caller's language, carried on every URL of their flow (en-US when absent or
    not a language tag; the script library picks the nearest texts it has)."""
    raw = request.args.get("lang") or ""
    return raw if LANGUAGE_TAG.fullmatch(raw) else DEFAULT_LANGUAGE


def _text(key: str, lang: str, queue_name: str | None = None, **context) -> str:
    """A hold-flow text from the queue's hold script (``hold_script``, else acd_hold)."""
    library = need(Library)
    config = need(Router).queues().get(queue_name or "")
    name = config.hold_script if config and config.hold_script in library else HOLD_SCRIPT
    return library.text(name, key, lang, context or None)


def _needs(raw: str | None) -> dict[str, int]:
    needs: dict[str, int] = {}
    for part in (raw or "").split(","):
        match = NEED.match(part.strip())
        if match and 1 <= int(match.group(2)) <= 10:
            needs[match.group(1)] = int(match.group(2))
    return needs


def _priority(raw: str | None) -> Priority:
    return {"vip": Priority.VIP, "emergency": Priority.EMERGENCY}.get(raw or "", Priority.NORMAL)


def _empty_behaviour(queue, call_sid: str) -> str:
    """Nobody who could take the call is logged in: the queue's empty behaviour, now."""
    action = str(queue.empty_action)
    if action == "overflow":
        action = str(queue.overflow_action or "voicemail")
        if action == "queue" and queue.overflow_queue:
            return enqueue_into(queue.overflow_queue, call_sid, check_empty=False)
    event, lang = CallEvent.from_request(), _lang()
    if action == "callback" and event.from_e164:
        # The caller's place is kept as a callback, placed when someone logs in.
        router = need(Router)
        outcome = router.enqueue(
            call_sid,
            queue.name,
            call_sid=call_sid,
            phone=event.from_e164,
            language=lang,
            empty_check=False,
        )
        need(Dispatcher).run(outcome.actions)
        if router.keep_place(call_sid, event.from_e164):
            response = _say(VoiceResponse(), _text("empty_callback", lang, queue.name), lang)
            response.hangup()
            return str(response)
    return voicemail_document(_text("empty_voicemail", lang, queue.name), language=lang)


def enqueue_into(queue_name: str, call_sid: str, *, check_empty: bool = True) -> str:
    parts = _parts()
    recovery.ensure(parts)  # Redis lost its data and no ticker has noticed yet: rebuild first
    router, dispatcher = parts.router, parts.dispatcher
    event, lang = CallEvent.from_request(), _lang()
    queue = router.queue(queue_name)
    lifecycle.enqueued(
        parts.session_factory,
        parts.clock,
        call_sid,
        queue=queue.name,
        direction=event.direction,
        from_number=event.from_e164 or event.from_,
        to_number=event.to_e164 or event.to,
    )

    def join(empty_check: bool | None):
        return router.enqueue(
            call_sid,
            queue.name,
            call_sid=call_sid,
            priority=_priority(request.args.get("priority")),
            needs=_needs(request.args.get("needs")),
            phone=event.from_e164,
            language=lang,
            empty_check=empty_check,
        )

    outcome = join(None if check_empty else False)
    if outcome.state == "empty":
        if not _agents_may_be_returning(parts, queue.name):
            return _empty_behaviour(queue, call_sid)
        log.warning("queue %s looks empty just after a rebuild: %s waits", queue.name, call_sid)
        outcome = join(False)
    dispatcher.run(outcome.actions)
    response = VoiceResponse()
    response.enqueue(
        queue.name,
        wait_url=dispatcher.url(HOLD, lang=lang),
        wait_url_method="POST",
        action=dispatcher.url(LEFT, lang=lang),
        method="POST",
    )
    return str(response)


def _agents_may_be_returning(parts: CallParts, queue_name: str) -> bool:
    """Whether an empty queue may only mean agents not re-announced yet: Redis lost the
    router's state moments ago (its epoch is younger than ``EMPTY_AFTER_REBUILD``), and
    agents took this queue's calls within the hour before (SQL, which the loss did not
    touch). A first start of the installation, with nobody at work yet, is not such a
    moment."""
    since = recovery.epoch_set_at(parts)
    if since is None:
        return False  # not set (no ticker ran yet): nothing was lost that we know of
    if not 0 <= (parts.clock.now() - since).total_seconds() < EMPTY_AFTER_REBUILD:
        return False
    with parts.read_session_factory() as session:
        return session.scalar(_RECENTLY_ANSWERED, {"queue": queue_name, "after": since - HOUR})


_RECENTLY_ANSWERED = select(
    exists().where(
        Call.queue == bindparam("queue"),
        Call.agent_id.is_not(None),
        Call.created_at >= bindparam("after"),
    )
)


@bp.post(ENQUEUE)
@voice_webhook
def enqueue() -> str:
    event = CallEvent.from_request()
    if not event.call_sid:
        return apology_then_voicemail()
    return enqueue_into(request.args.get("queue", ""), event.call_sid)


@bp.post(HOLD)
@voice_webhook
def hold() -> str:
    """The hold loop: where the caller is, about how long, and the callback choice. With
    Redis unreachable, the same without the position: the caller keeps holding (a wait
    URL's answer cannot be the apology's voicemail anyway)."""
    router = need(Router)
    event, lang = CallEvent.from_request(), _lang()
    try:
        entry, estimate = estimates.where(router, event.call_sid or "")
    except UNREACHABLE as exc:
        log.warning("hold without position: Redis unreachable (%s) CallSid=%s", exc, event.call_sid)
        entry = estimate = None
    library, queue = need(Library), entry.get("queue") if entry else None
    config = router.queues().get(queue or "")
    name = config.hold_script if config and config.hold_script in library else HOLD_SCRIPT
    where = None
    if estimate is not None:
        position, seconds = estimate
        where = (position, max(1, math.ceil(seconds / 60)))
    key = (library.get(name), lang, where, bool(event.from_e164), need(Dispatcher).base_url)
    document = _HOLD_DOCUMENTS.get(key)
    if document is None:
        if len(_HOLD_DOCUMENTS) >= 512:
            _HOLD_DOCUMENTS.clear()
        document = _HOLD_DOCUMENTS[key] = _hold_document(*key)
    return document


# The hold loop's answers: one per script, language, position and wait (in minutes),
# callback offer or not, and base URL. The library replaces a script whose file changed
# by a new object, so an edited script's documents are built again.
_HOLD_DOCUMENTS: dict[tuple, str] = {}


def _hold_document(script, lang: str, where, callback: bool, base_url: str) -> str:
    response = VoiceResponse()
    if where is not None:
        context = {"queue": {"position": where[0], "wait_minutes": where[1]}}
        _say(response, script.text("position", lang, context), lang)
    if callback:
        action = need(Dispatcher).url(HOLD_KEY, lang=lang)  # base_url: in the key
        gather = response.gather(num_digits=1, action=action, method="POST", timeout=5)
        gather.say(script.text("callback_choice", lang, None), language=lang)
    response.pause(length=HOLD_PAUSE_SECONDS)
    return str(response)


@bp.post(HOLD_KEY)
@voice_webhook
def hold_key() -> str:
    event, lang = CallEvent.from_request(), _lang()
    response = VoiceResponse()
    if (
        event.digits == CALLBACK_KEY
        and event.from_e164
        and event.call_sid
        and need(Router).keep_place(event.call_sid, event.from_e164)
    ):
        _say(response, _text("kept_place", lang), lang)
        response.hangup()
        return str(response)
    # Any other key, or nothing to call back: back to holding.
    response.redirect(need(Dispatcher).url(HOLD, lang=lang), method="POST")
    return str(response)


@bp.post(LEFT)
@voice_webhook
def left() -> str:
    """The Enqueue action: the caller hung up while holding or ringing, or left the queue."""
    event = CallEvent.from_request()
    if event.call_sid and event.queue_result in ("hangup", "error", "system-error"):
        lifecycle.caller_left(_parts(), event.call_sid)
    if event.queue_result in ("error", "system-error", "queue-full"):
        return apology_then_voicemail()
    return str(_say(VoiceResponse(), _text("goodbye", _lang()), _lang()))


@bp.post(DIGITS)
@voice_webhook
def digits() -> str:
    """The keypad's tones for a conference participant (the announcement's TwiML)."""
    response = VoiceResponse()
    keyed = request.args.get("d", "")
    if KEYPAD.fullmatch(keyed):
        response.play(digits=keyed)
    return str(response)


@bp.post(OVERFLOW)
@voice_webhook
def overflow() -> str:
    """The caller waited the queue's longest: voicemail, or the offer of a callback."""
    lang = _lang()
    if request.args.get("action") == "callback":
        response = _say(VoiceResponse(), _text("overflow_callback", lang), lang)
        response.hangup()
        return str(response)
    return voicemail_document(_text("overflow_voicemail", lang), language=lang)


from routing import agent_views  # noqa: E402, F401  (its views join this blueprint)
