"""Keeping recordings only as long as allowed: retention, legal hold, and erasure.

A recording is deleted in two steps, so that no failure leaves a file nobody will delete:

1. ``mark_deleted`` turns the row ``deleted`` (``deleted_at``, ``deleted_reason`` retention
   or erasure, an audit entry) in the caller's transaction. ``storage_key`` stays set: it
   now means "our file still has to go", and ``deleted_at_carrier`` false means "the
   carrier's copy still has to go".
2. ``finish_deletions`` (after the commit) removes the file and the carrier's copy and
   clears those two marks. Both removals are idempotent (a missing file or a recording the
   carrier no longer has counts as done), so a crash or a carrier outage in between is
   repaired by the next run, which always finishes what earlier runs left.

Retention (``purge``): every recording created more than ``RECORDING_RETENTION_DAYS`` ago
and not on legal hold. The rq job ``recording.jobs.purge_expired`` runs it daily at
``RUN_AT`` UTC: each run schedules the next one with ``Queue.enqueue_at`` under a job id
named after its day (so two workers starting at once schedule one job, and a job never
re-enqueues itself under its own id), and ``callcenter worker`` calls ``ensure_scheduled``
when it starts, which restarts the chain after a Redis loss. rq's own ``CronScheduler`` was
not used: it is a separate process per installation that takes over signal handlers, and
nothing stops two of them from each enqueuing the job.

Erasure (``erasure_hook``): a customer's erasure marks their recordings deleted in the
erasure's own transaction; their files go right after it commits (an ``after_commit``
listener on that session) and the carrier's copies in a job, so a rolled-back erasure
deletes nothing. A recording on legal hold is kept through an erasure (the hold exists to
preserve evidence) and the audit log says so; lifting the hold and erasing again deletes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import event as sa_event
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import Call
from recording.models import Recording, RecordingStatus
from recording.storage import Storage
from telephony.carrier import Carrier, CarrierError

log = logging.getLogger("callcenter.recording.retention")

DEFAULT_RETENTION_DAYS = 365
RUN_AT = time(3, 15)  # UTC: the daily purge, when call centres in the Americas are closed
JOB = "recording.jobs.purge_expired"
FINISH_JOB = "recording.jobs.finish_deletions_job"
BATCH = 200


@dataclass
class PurgeResult:
    """What a purge did (or, dry, would do): the recordings deleted, and the files and
    carrier copies that went (including those earlier runs had left)."""

    recordings: list[int] = field(default_factory=list)
    files_removed: int = 0
    carrier_removed: int = 0
    left: int = 0  # deletions still unfinished (the carrier did not answer): next run

    def as_dict(self) -> dict[str, Any]:
        return {
            "recordings": self.recordings,
            "files_removed": self.files_removed,
            "carrier_removed": self.carrier_removed,
            "left": self.left,
        }


def retention_days(config: dict[str, Any]) -> int:
    raw = config.get("RECORDING_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 36500:
        raise InvalidInput(
            f"RECORDING_RETENTION_DAYS must be whole days from 1 to 36500, not {raw!r}",
            field="RECORDING_RETENTION_DAYS",
        )
    return int(text)


# ----------------------------------------------------------------- deleting, step 1


def mark_deleted(
    session: Session, clock: Clock, recording: Recording, reason: str, actor_id: int | None
) -> None:
    recording.status = RecordingStatus.DELETED
    recording.deleted_at = clock.now()
    recording.deleted_reason = reason
    audit(
        session,
        clock,
        actor_id=actor_id,
        action="recording.delete",
        target=f"recording:{recording.id}",
        call=recording.call_sid,
        reason=reason,
    )


def expired(session: Session, now: datetime, days: int, limit: int = BATCH) -> list[Recording]:
    """Recordings past retention, oldest first, not on hold and not already deleted."""
    query = (
        select(Recording)
        .where(
            Recording.status != RecordingStatus.DELETED,
            Recording.created_at < now - timedelta(days=days),
            Recording.legal_hold.is_(False),
        )
        .order_by(Recording.created_at, Recording.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def purge(
    session_factory: sessionmaker,
    clock: Clock,
    carrier: Carrier,
    storage: Storage,
    days: int,
    *,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete every recording past retention, in batches of their own transactions, then
    finish every deletion still pending. Running it twice deletes nothing more."""
    result, now = PurgeResult(), clock.now()
    while True:
        with session_factory.begin() as session:
            batch = expired(session, now, days, limit=BATCH)
            if dry_run:
                result.recordings = [r.id for r in expired(session, now, days, limit=10**9)]
                return result
            for recording in batch:
                mark_deleted(session, clock, recording, "retention", None)
                result.recordings.append(recording.id)
        if len(batch) < BATCH:
            break
    finished = finish_deletions(session_factory, storage, carrier)
    result.files_removed, result.carrier_removed = finished.files_removed, finished.carrier_removed
    result.left = finished.left
    if result.recordings:
        log.info("retention: %d recordings past %d days deleted", len(result.recordings), days)
    return result


# ----------------------------------------------------------------- deleting, step 2


def finish_deletions(
    session_factory: sessionmaker,
    storage: Storage,
    carrier: Carrier | None,
    ids: list[int] | None = None,
) -> PurgeResult:
    """Remove the files (and, given a carrier, the carrier's copies) of deleted recordings
    that still have them; ``ids`` limits it to those. Idempotent."""
    result = PurgeResult()
    pending = Recording.storage_key.is_not(None)
    if carrier is not None:
        pending = or_(pending, Recording.deleted_at_carrier.is_(False))
    query = select(Recording.id).where(Recording.status == RecordingStatus.DELETED, pending)
    if ids is not None:
        query = query.where(Recording.id.in_(ids))
    with session_factory() as session:
        todo = list(session.scalars(query.order_by(Recording.id)))
    for recording_id in todo:
        with session_factory.begin() as session:
            recording = session.get(Recording, recording_id)
            if recording is None or recording.status != RecordingStatus.DELETED:
                continue
            if recording.storage_key:
                if storage.delete(recording.storage_key):
                    result.files_removed += 1
                recording.storage_key = None
            if carrier is not None and not recording.deleted_at_carrier:
                try:
                    if carrier.delete_recording(recording.recording_sid):
                        result.carrier_removed += 1
                    recording.deleted_at_carrier = True
                except CarrierError as exc:
                    sid = recording.recording_sid
                    log.warning("RecordingSid=%s: carrier copy not deleted yet: %s", sid, exc)
                    result.left += 1
    return result


# --------------------------------------------------------------------------- erasure


def erasure_hook(session_factory: sessionmaker, clock: Clock, queue: Queue, storage: Storage):
    """The ErasureHook (crm_core.privacy) that deletes a customer's recordings: the files
    right after the erasure commits (``session_factory``, ``storage``), the carrier's copies
    in a job on ``queue``."""

    def erase_recordings(session: Session, customer_id: int) -> None:
        calls = select(Call.id).where(Call.customer_id == customer_id)
        sids = select(Call.call_sid).where(Call.customer_id == customer_id)
        query = select(Recording).where(
            or_(Recording.call_id.in_(calls), Recording.call_sid.in_(sids)),
            Recording.status != RecordingStatus.DELETED,
        )
        deleted = []
        for recording in session.scalars(query.order_by(Recording.id)):
            if recording.legal_hold:
                audit(
                    session,
                    clock,
                    actor_id=None,
                    action="recording.erasure_held",
                    target=f"recording:{recording.id}",
                    call=recording.call_sid,
                    customer=customer_id,
                )
                continue
            mark_deleted(session, clock, recording, "erasure", None)
            deleted.append(recording.id)
        if deleted:
            _after_commit(session, session_factory, queue, storage, deleted)

    return erase_recordings


def _after_commit(
    session: Session, session_factory: sessionmaker, queue: Queue, storage: Storage, ids: list[int]
) -> None:
    def removed(_session: Session) -> None:
        try:  # the erasure has committed: nothing here may fail it any more
            finish_deletions(session_factory, storage, None, ids)
            queue.enqueue(FINISH_JOB, ids, retry=Retry(max=5, interval=[60, 600]))
        except Exception:
            log.exception("recordings %s: deletion left for the daily purge", ids)

    def forget(_session: Session, _previous: Any) -> None:
        if sa_event.contains(session, "after_commit", removed):
            sa_event.remove(session, "after_commit", removed)

    sa_event.listen(session, "after_commit", removed, once=True)
    sa_event.listen(session, "after_soft_rollback", forget, once=True)


# ------------------------------------------------------------------------ legal hold


def set_hold(
    session: Session,
    clock: Clock,
    recording_id: int,
    hold: bool,
    reason: str | None,
    actor_id: int | None,
) -> Recording:
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound(f"no recording {recording_id}", field="recording")
    if hold and recording.status == RecordingStatus.DELETED:
        raise Conflict(f"recording {recording_id} is already deleted", field="hold")
    if recording.legal_hold != hold:
        recording.legal_hold = hold
        audit(
            session,
            clock,
            actor_id=actor_id,
            action="recording.hold" if hold else "recording.unhold",
            target=f"recording:{recording.id}",
            call=recording.call_sid,
            reason=reason,
        )
    return recording


# ------------------------------------------------------------------------ scheduling


def next_run(now: datetime) -> datetime:
    """The first ``RUN_AT`` (UTC) strictly after ``now``."""
    when = datetime.combine(now.date(), RUN_AT, tzinfo=now.tzinfo)
    return when if when > now else when + timedelta(days=1)


def job_id(when: datetime) -> str:
    return f"recording-retention-{when:%Y%m%d}"


def ensure_scheduled(queue: Queue, now: datetime) -> Job:
    """The next daily purge, scheduled once however many workers ask. A job of that id
    naming another function (scheduled before the job moved to recording.jobs) would fail
    to import and end the daily chain: it is replaced."""
    when = next_run(now)
    try:
        job = Job.fetch(job_id(when), connection=queue.connection)
    except NoSuchJobError:
        pass
    else:
        if job.func_name == JOB:
            return job
        job.delete()
    return queue.enqueue_at(
        when,
        JOB,
        job_id=job_id(when),
        retry=Retry(max=3, interval=[60, 600, 3600]),
        result_ttl=7 * 86400,
        failure_ttl=30 * 86400,
        description="recording retention: delete recordings past RECORDING_RETENTION_DAYS",
    )
