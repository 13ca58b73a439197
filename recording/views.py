"""The recording's webhooks: the notice a called party hears before an outbound call is
recorded, and the carrier's recording status callbacks.

    POST /twilio/recording-consent/notice       the called party answered (a <Number url>
                                                whisper): the notice, or "press 1 to agree"
    POST /twilio/recording-consent/answer       that question's answer
    POST /twilio/recording-consent/start        the notice was heard: recording starts
    POST /twilio/recording                      a recording's status callback
                                                (recording/hooks.py folds it into the row)

A called party never hears an error: whatever fails in the whisper, the call is bridged
unrecorded. The agent's own controls (pause, resume) are the agent desk's views.
"""

from __future__ import annotations

import logging
import re

import redis
from flask import Blueprint, request
from rq import Queue
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from crm_core.acd import RoutingQueue
from crm_core.clock import Clock
from crm_core.customers import find_by_phone
from crm_core.db import Database
from crm_core.errors import InvalidPhone
from crm_core.models import RecordingConsent
from crm_core.settings import Settings
from recording import consent, control
from recording.control import CALLBACK_PATH, Recorder
from recording.download_queue import DOWNLOAD_QUEUE, enqueue_download
from recording.hooks import RecordingCallback, fold_callback
from telephony.carrier import Carrier
from telephony.context import need
from telephony.twiml import caller_language, public, sentence
from telephony.webhooks import callback_webhook, voice_webhook

log = logging.getLogger("callcenter.recording")
bp = Blueprint("recording_control", __name__)
CALL_SID = re.compile(r"[A-Za-z0-9]{2,64}")
# What the called party hears: the voicemail script's notices (scripts/library/), in the
# customer's language (their card's, found by the number called; else English).
NOTICES = "voicemail"


def recorder() -> Recorder:
    """The recording's controls over the app's collaborators, for this request."""
    callback_url = need(Settings).public_base_url.rstrip("/") + CALLBACK_PATH
    return Recorder(need(redis.Redis), need(Database), need(Carrier), need(Clock), callback_url)


# ------------------------------------------------------------ outbound: the called party


def _parent() -> str | None:
    raw = request.args.get("call") or request.form.get("ParentCallSid") or ""
    return raw if CALL_SID.fullmatch(raw) else None


def _called_language(session) -> str:
    """The called customer's language (their card's), else English."""
    phone = request.form.get("To") or request.form.get("Called") or ""
    try:
        customer = find_by_phone(session, phone, region=need(Settings).default_region)
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
    parent = _parent()
    if parent is None:
        return _bridge()
    try:
        decision = _decide()
        with need(Database).session_factory.begin() as session:
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
    rule = None
    if queue:  # the queue's own rule (its row: the ACD's cache is routing's, above us)
        with need(Database).read_session_factory() as session:
            rule = session.scalar(
                select(RoutingQueue.recording_consent).where(RoutingQueue.name == queue)
            )
    return consent.decide(
        need(Settings),
        phone=request.form.get("To") or request.form.get("Called"),
        queue=queue,
        queue_rule=rule,
    )


@bp.post("/twilio/recording-consent/answer")
@voice_webhook
def answer() -> str:
    """1: granted, recording starts; anything else (silence too): declined, not recorded."""
    parent = _parent()
    if parent is None:
        return _bridge()
    response = VoiceResponse()
    try:
        yes = request.form.get("Digits") == "1"
        decision = consent.answered(_decide().rule, yes)
        with need(Database).session_factory.begin() as session:
            consent.store(session, parent, decision)
        lang = caller_language()
        said = sentence("recording_consent_yes" if yes else "recording_consent_no", lang, NOTICES)
        response.say(said, language=lang)
        if yes:
            control.start(recorder(), parent, consent=RecordingConsent.GRANTED)
    except Exception:
        log.exception("recording consent answer failed ParentCallSid=%s", parent)
    return _bridge(response)


@bp.post("/twilio/recording-consent/start")
@voice_webhook
def start() -> str:
    """The notice has been heard: record the conversation from now (the parent leg,
    dual-channel), then connect the called party."""
    parent = _parent()
    if parent is not None:
        try:
            control.start(recorder(), parent, consent=RecordingConsent.NOTIFIED)
        except Exception:
            log.exception("recording start failed ParentCallSid=%s", parent)
    return _bridge()


# ------------------------------------------------------------ the recording's callbacks


@bp.post("/twilio/recording")
@callback_webhook
def recording_status() -> None:
    callback = RecordingCallback.from_form(request.form)
    with need(Database).session_factory.begin() as session:
        download = fold_callback(session, callback, need(Clock))
    if download:  # after the commit: the job must find the row
        queue = Queue(DOWNLOAD_QUEUE, connection=need(redis.Redis))
        retries = need(Settings).recording_download_retry_seconds
        enqueue_download(queue, callback.recording_sid, retries)
