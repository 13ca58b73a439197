"""A live call's recording: started when the agent joins, paused and resumed, audited.

Which leg is recorded: the one that lasts the whole conversation, dual-channel (each side
on its own channel), through the carrier's recording API (Twilio's Call Recordings):

* an ACD call: the caller's leg, from the moment the agent answers (routing/views.py). The
  caller's leg stays through transfers, consults and a supervisor's barge, so they all stay
  in this one recording; a second agent answering after a transfer finds it running.
* a click-to-call or the ACD's callback: the agent's softphone leg (the Dial's parent),
  once the called party has heard the notice (recording/views.py).

Whether to record at all was decided before (recording/consent.py, on the Call): only
``notified`` and ``granted`` calls are recorded; a Call without a decision (a number that
does not pass through the auto-attendant, so no notice was played) is not.

Pause and resume use the carrier's recording update (``paused`` with ``pauseBehavior=skip``,
so nothing of the pause is in the file; ``in-progress``). Who paused says who may resume:

* ``manual``: the agent, from the softphone; the agent resumes.
* ``script``: the agent's script entered a step marked ``sensitive`` (card details); leaving
  it for a step that is not sensitive resumes.
* ``path``: the caller came through a sensitive auto-attendant path (payments,
  ``Call.sensitive``): the recording starts paused, because card or bank details may be
  given at any moment; the agent resumes it by hand for what must be kept, such as the ACH
  authorisation statement read to the customer (NACHA asks that it be recorded). A script
  leaving a sensitive step does not resume a ``path`` pause.

The live state (RecordingSid, paused or not, by whom) is one JSON value in Redis per
recorded leg, so any worker can pause what another started; the Recording row (status
``pending``) is made at the start, for the download pipeline's callback to complete.
Every start, pause and resume is in the audit log: who (None: the system), when, why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import CallCenterError, Conflict
from crm_core.models import Call, RecordingConsent
from recording.models import Recording, RecordingStatus
from telephony.carrier import Carrier, CarrierError, attempt

log = logging.getLogger("callcenter.recording")
KEY = "recording:live:{}"  # one JSON document per recorded leg (its CallSid)
LIVE_SECONDS = 12 * 3600  # a call lasts less; the key then goes by itself
PAUSE_BEHAVIOR = "skip"
RECORDED = (RecordingConsent.NOTIFIED, RecordingConsent.GRANTED)
CALLBACK_PATH = "/twilio/recording"  # the pipeline's status callback (recording/views.py)


class NotRecording(Conflict):
    error_id = "not-recording"


@dataclass(frozen=True)
class Recorder:
    """What a live call's recording is controlled with: its live state in Redis, the Call
    and Recording rows, the carrier's recording API, the clock of the audit, and the URL
    the carrier reports the recording's progress to. A view builds one per request
    (``recording.views.recorder``), so a carrier swapped after start-up is the one used."""

    redis: redis.Redis
    database: Database
    carrier: Carrier
    clock: Clock
    callback_url: str  # the public POST /twilio/recording


def live(redis, call_sid: str | None) -> dict[str, Any] | None:
    """The recording running on ``call_sid``'s leg (paused or not), or None."""
    if not call_sid:
        return None
    raw = redis.get(KEY.format(call_sid[:64]))
    if raw is None:
        return None
    doc = json.loads(raw)
    return doc if doc.get("recording_sid") else None


def _save(redis, doc: dict[str, Any]) -> None:
    redis.set(KEY.format(doc["call_sid"]), json.dumps(doc), ex=LIVE_SECONDS)


def _audit(
    d: Recorder, action: str, doc: dict[str, Any], actor_id: int | None, **detail: Any
) -> None:
    with d.database.session_factory.begin() as session:
        audit(
            session,
            d.clock,
            actor_id=actor_id,
            action=action,
            target=f"call:{doc['call_sid']}",
            recording_sid=doc["recording_sid"],
            **detail,
        )


def start(
    d: Recorder,
    call_sid: str,
    *,
    actor_id: int | None = None,
    consent: RecordingConsent | None = None,
) -> dict[str, Any] | None:
    """Record ``call_sid``'s leg, dual-channel, from now, if its Call's consent allows
    (``consent``: decided just now by the caller of this function, for a leg that may have
    no Call row, such as a callback's). The recording already running there (a transfer,
    a barge) is returned as it is. None: not recorded (no consent, or the carrier refused:
    logged, the call goes on)."""
    running = live(d.redis, call_sid)
    if running is not None:
        return running
    with d.database.read_session_factory() as session:
        row = session.execute(
            select(Call.id, Call.recording_consent, Call.sensitive).where(
                Call.call_sid == call_sid[:64]
            )
        ).first()
    call_id = row.id if row is not None else None
    decided = consent or (row.recording_consent if row is not None else None)
    sensitive = bool(row.sensitive) if row is not None else False
    if decided not in RECORDED:
        return None
    claim = KEY.format(call_sid[:64])
    if not d.redis.set(claim, json.dumps({"starting": True}), nx=True, ex=30):
        return live(d.redis, call_sid)  # another request is starting it this instant
    try:
        sid = d.carrier.start_recording(call_sid, channels="dual", status_callback=d.callback_url)
    except CarrierError:
        d.redis.delete(claim)
        log.warning("could not start recording CallSid=%s", call_sid, exc_info=True)
        return None
    now = d.clock.now()
    doc = {
        "recording_sid": sid,
        "call_sid": call_sid[:64],
        "call_id": call_id,
        "status": "in-progress",
        "paused_by": None,
        "step": None,
        "consent": str(decided),
        "started_at": now.isoformat(),
    }
    _save(d.redis, doc)
    _pending_row(d, doc, now)
    _audit(d, "recording.start", doc, actor_id, consent=doc["consent"], channels=2)
    log.info("recording %s started CallSid=%s", sid, call_sid)
    if sensitive:
        try:
            pause(d, call_sid, actor_id=None, reason="path")
        except CallCenterError:
            log.error("could not pause the sensitive call's recording CallSid=%s", call_sid)
    return live(d.redis, call_sid)


def _pending_row(d: Recorder, doc: dict[str, Any], now) -> None:
    """The Recording row, ``pending`` until the pipeline stores the file; its callback may
    have made it first (then this changes nothing)."""
    try:
        with d.database.session_factory.begin() as session:
            exists = session.scalar(
                select(Recording.id).where(Recording.recording_sid == doc["recording_sid"])
            )
            if exists is None:
                session.add(
                    Recording(
                        recording_sid=doc["recording_sid"],
                        call_sid=doc["call_sid"],
                        call_id=doc["call_id"],
                        source="StartCallRecordingAPI",
                        status=RecordingStatus.PENDING,
                        channels=2,
                        started_at=now,
                        created_at=now,
                    )
                )
    except IntegrityError:  # the callback's row, made in the same instant
        pass


def pause(
    d: Recorder, call_sid: str, *, actor_id: int | None, reason: str, step: str | None = None
) -> dict[str, Any]:
    """Pause the recording on ``call_sid`` (``reason``: manual, script or path). Already
    paused: unchanged, and nothing is audited twice."""
    doc = live(d.redis, call_sid)
    if doc is None:
        raise NotRecording("this call is not being recorded", field="call")
    if doc["status"] == "paused":
        return doc
    attempt(d.carrier.pause_recording, call_sid, doc["recording_sid"], PAUSE_BEHAVIOR)
    doc |= {"status": "paused", "paused_by": reason, "step": step}
    _save(d.redis, doc)
    _audit(d, "recording.pause", doc, actor_id, reason=reason, step=step)
    return doc


def resume(
    d: Recorder, call_sid: str, *, actor_id: int | None, reason: str, step: str | None = None
) -> dict[str, Any]:
    """Capture again. Not paused: unchanged."""
    doc = live(d.redis, call_sid)
    if doc is None:
        raise NotRecording("this call is not being recorded", field="call")
    if doc["status"] != "paused":
        return doc
    attempt(d.carrier.resume_recording, call_sid, doc["recording_sid"])
    was = doc.get("paused_by")
    doc |= {"status": "in-progress", "paused_by": None, "step": None}
    _save(d.redis, doc)
    _audit(d, "recording.resume", doc, actor_id, reason=reason, step=step, paused_by=was)
    return doc


def follow_script(
    d: Recorder, call_sid: str | None, *, actor_id: int, step: str | None, sensitive: bool
) -> dict[str, Any] | None:
    """The agent's script is now at ``step``: a sensitive step pauses the recording, a step
    that is not resumes it if a sensitive step paused it. No recording: nothing."""
    doc = live(d.redis, call_sid)
    if doc is None or call_sid is None:
        return None
    if sensitive:
        return pause(d, call_sid, actor_id=actor_id, reason="script", step=step)
    if doc["status"] == "paused" and doc.get("paused_by") == "script":
        return resume(d, call_sid, actor_id=actor_id, reason="script", step=step)
    return doc


def describe(doc: dict[str, Any] | None, call: Call | None) -> dict[str, Any]:
    """The recording as the agent's page shows it: recording, paused or not recorded, and
    the consent on the Call."""
    consent = call.recording_consent if call is not None else None
    return {
        "call_sid": doc["call_sid"] if doc else (call.call_sid if call is not None else None),
        "state": (doc["status"] if doc else "not_recorded").replace("in-progress", "recording"),
        "paused_by": doc.get("paused_by") if doc else None,
        "step": doc.get("step") if doc else None,
        "recording_sid": doc["recording_sid"] if doc else None,
        "consent": str(consent) if consent is not None else None,
        "consent_rule": call.recording_consent_rule if call is not None else None,
    }
