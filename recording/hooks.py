"""The carrier's recording status callbacks (``POST /twilio/recording``, recording/views.py).

Every recording the app starts (``recordingStatusCallback``) reports here: ``in-progress``
when it starts, then ``completed`` (the file can be fetched) or ``absent`` (nothing was
recorded); ``failed`` when the carrier could not produce it. Twilio does not retry a
callback and may send one twice or late, so each is folded into the Recording row:

* the row is created by whichever callback comes first (an insert that does nothing when
  the RecordingSid is known, then the row locked), so simultaneous duplicates make one row;
* a callback only moves the row forward: ``in-progress`` after ``completed`` changes
  nothing; the first final status (completed, absent, failed) wins;
* ``completed`` while the row is still ``pending`` enqueues the download job under the id
  ``recording-<RecordingSid>`` (recording.download_queue): a duplicate finds that job and makes
  no second one while it is queued, scheduled or running. After a lost enqueue (Redis
  down), or a job that failed, was stopped or was abandoned by a worker that died, a
  repeated callback heals it; a row the download left ``failed`` is tried anew by it.

The view (recording/views.py) is signed and never answers 500 (``callback_webhook``): a
malformed callback is kept as a TelephonyError and answered 204 like the rest.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from crm_core.clock import Clock
from crm_core.errors import InvalidInput
from recording.download import link_call
from recording.models import Recording, RecordingStatus

log = logging.getLogger("callcenter.recording")

RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
# How far along each callback status is: a callback never moves a row backwards.
PROGRESS = {"in-progress": 0, "completed": 1, "absent": 1, "failed": 1}


@dataclass(frozen=True)
class RecordingCallback:
    """One recording status callback, checked at the edge (a bad field: InvalidInput)."""

    recording_sid: str
    call_sid: str
    status: str
    channels: int | None
    duration_seconds: int | None
    source: str | None
    started_at: datetime | None
    error_code: str | None

    @classmethod
    def from_form(cls, form: MultiDict[str, str]) -> RecordingCallback:
        recording_sid = form.get("RecordingSid", "")
        if not RECORDING_SID.fullmatch(recording_sid):
            raise InvalidInput(
                "RecordingSid is missing or not a RecordingSid", field="RecordingSid"
            )
        call_sid = form.get("CallSid", "")
        if not CALL_SID.fullmatch(call_sid):
            raise InvalidInput("CallSid is missing or not a CallSid", field="CallSid")
        status = form.get("RecordingStatus", "")
        if status not in PROGRESS:
            raise InvalidInput(
                f"RecordingStatus must be one of {', '.join(PROGRESS)}", field="RecordingStatus"
            )
        return cls(
            recording_sid=recording_sid,
            call_sid=call_sid,
            status=status,
            channels=_number(form, "RecordingChannels", 1, 2),
            duration_seconds=_number(form, "RecordingDuration", 0, 10**7),
            source=(form.get("RecordingSource") or None),
            started_at=_rfc2822(form.get("RecordingStartTime")),
            error_code=form.get("ErrorCode") or None,
        )


def _number(form: MultiDict[str, str], name: str, low: int, high: int) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


def _rfc2822(raw: str | None) -> datetime | None:
    """RecordingStartTime ("Tue, 24 Nov 2026 03:18:28 GMT"); None when absent or unreadable
    (it is information, not something to refuse the callback over)."""
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


_INSERT_IF_NEW = {
    name: dialect_insert(Recording.__table__).on_conflict_do_nothing(
        index_elements=["recording_sid"]
    )
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def fold_callback(session: Session, callback: RecordingCallback, clock: Clock) -> bool:
    """Fold one callback into the Recording row; True when the download should be enqueued
    (a ``completed`` recording whose file we do not hold yet)."""
    insert = _INSERT_IF_NEW[session.get_bind().dialect.name]
    session.execute(
        insert,
        {
            "recording_sid": callback.recording_sid,
            "call_sid": callback.call_sid,
            "status": RecordingStatus.PENDING,
            "channels": callback.channels or 1,
            "attempts": 0,
            "deleted_at_carrier": False,
            "legal_hold": False,
            "created_at": clock.now(),
        },
    )
    row = session.scalars(
        select(Recording).where(Recording.recording_sid == callback.recording_sid).with_for_update()
    ).one()
    link_call(session, row)
    # What a callback tells about the file is kept whenever it is new (a late in-progress
    # may still bring the start time a completed one lacked).
    row.source = row.source or callback.source
    row.started_at = row.started_at or callback.started_at
    seen = PROGRESS.get(row.callback_status or "", -1)
    now = PROGRESS[callback.status]
    if now < seen:
        log.info(
            "recording callback %s after %s ignored RecordingSid=%s CallSid=%s",
            callback.status,
            row.callback_status,
            row.recording_sid,
            row.call_sid,
        )
        return False
    if now > seen:
        row.callback_status = callback.status
        if callback.channels:
            row.channels = callback.channels
        if callback.duration_seconds is not None:
            row.duration_seconds = callback.duration_seconds
        if row.status == RecordingStatus.PENDING:
            _settle(row, callback)
    elif callback.status != row.callback_status:  # a second final status: the first stands
        log.warning(
            "recording callback %s after %s ignored RecordingSid=%s",
            callback.status,
            row.callback_status,
            row.recording_sid,
        )
        return False
    elif row.status == RecordingStatus.FAILED and row.callback_status == "completed":
        # The carrier still has the file and says so again: the download that failed for
        # good (or whose job was lost) is tried anew. A recording the carrier could not
        # make has callback_status "failed" and stays failed.
        row.status = RecordingStatus.PENDING
        log.warning(
            "recording download tried anew on a repeated callback RecordingSid=%s CallSid=%s "
            "(it had failed: %s)",
            row.recording_sid,
            row.call_sid,
            row.error,
        )
    return row.callback_status == "completed" and row.status == RecordingStatus.PENDING


def _settle(row: Recording, callback: RecordingCallback) -> None:
    """A final status with nothing to download: absent (silence), failed at the carrier."""
    if callback.status == "absent":
        row.status = RecordingStatus.ABSENT
    elif callback.status == "failed":
        row.status = RecordingStatus.FAILED
        row.error = f"the carrier could not make the recording (error {callback.error_code or '?'})"
        log.error(
            "recording failed at the carrier RecordingSid=%s CallSid=%s ErrorCode=%s",
            row.recording_sid,
            row.call_sid,
            callback.error_code or "-",
        )
