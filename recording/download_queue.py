"""The download job on rq: one job per recording, retried, replaced when dead, and the
rows whose job was lost found.

``enqueue_download`` puts ``download_recording(sid)`` (recording/jobs.py) on the ``low`` rq
queue under the job id ``recording-<RecordingSid>`` with ``unique=True``: rq refuses a
second job with an id that still exists, so duplicate callbacks make one job while it is
queued, scheduled for a retry or running. (Without ``unique`` rq would overwrite the job
and queue the id again: the download would run twice.) A job of that id that will not run
again (failed, stopped, canceled, finished without the file, or abandoned: its worker died,
so its entry in rq's ``StartedJobRegistry`` expired) is replaced, so a repeated callback
heals a download that was lost. Failures are retried by rq's ``Retry``: once at once, then
with the backoff of ``RECORDING_DOWNLOAD_RETRY_SECONDS``. A worker killed mid-download
(SIGKILL, the machine lost) leaves its job ``started``; the next worker's registry cleanup
(``callcenter worker`` runs it every few seconds, and a running job's heartbeat lapses in
seconds) finds it abandoned and retries it, at once the first time, so the download resumes
within a minute of a worker starting.

The job itself (one attempt) is recording/download.py's ``Downloader``, run by
``recording.jobs.download_recording``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import current_timestamp
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from crm_core.clock import Clock
from crm_core.settings import parse_retry_seconds
from recording.models import Recording, RecordingStatus

log = logging.getLogger("callcenter.recording")

DOWNLOAD_QUEUE = "low"  # bulk work: calls' own jobs go first
DOWNLOAD_JOB = "recording.jobs.download_recording"  # the rq job, by dotted path
JOB_TIMEOUT = 30 * 60  # a two-hour dual-channel WAV is ~230 MB
RESULT_TTL = 24 * 3600  # a finished job's id refuses duplicates this long (then the row does)
FAILURE_TTL = 7 * 24 * 3600


def job_id(recording_sid: str) -> str:
    return f"recording-{recording_sid}"


def retry_intervals(config: Mapping[str, Any]) -> list[int]:
    """``RECORDING_DOWNLOAD_RETRY_SECONDS`` ("30,120,600"): one retry per value (the
    settings' own parser: crm_core.settings)."""
    return list(parse_retry_seconds(config.get("RECORDING_DOWNLOAD_RETRY_SECONDS")))


def retry_policy(retry_seconds: Sequence[int]) -> Retry:
    """The first retry at once: an attempt cut short by a worker that died (rq's abandoned
    job) should resume as soon as it is found, and a failed attempt has already had the
    HTTP client's own retries. Then one retry per ``RECORDING_DOWNLOAD_RETRY_SECONDS``."""
    intervals = [0, *retry_seconds]
    return Retry(max=len(intervals), interval=intervals)


def enqueue_download(queue: Queue, recording_sid: str, retry_seconds: Sequence[int]) -> Job | None:
    """The download job for this recording, unless a live one exists (then None); a job of
    that id that will not run again is replaced (``_drop_dead_job``)."""
    _drop_dead_job(queue, job_id(recording_sid))
    try:
        job = queue.enqueue(
            DOWNLOAD_JOB,
            recording_sid,
            job_id=job_id(recording_sid),
            unique=True,
            retry=retry_policy(retry_seconds),
            job_timeout=JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=f"download recording {recording_sid}",
        )
    except DuplicateJobError:
        log.info("download of RecordingSid=%s already queued or done", recording_sid)
        return None
    log.info("download of RecordingSid=%s queued", recording_sid)
    return job


# Job states that will not run the download again: such a job is replaced.
DEAD_JOB_STATES = (
    JobStatus.FAILED,
    JobStatus.STOPPED,
    JobStatus.CANCELED,
    JobStatus.FINISHED,  # the row is still pending, so the run did not store the file
)


def _drop_dead_job(queue: Queue, jid: str) -> None:
    """Delete the job ``jid`` if it will not run again, so the id is free for a new one.

    A ``started`` job whose worker died (its heartbeat lapsed in the ``StartedJobRegistry``)
    is handed to rq's own cleanup first, as a worker's maintenance would do it: retried if
    it has retries left (then it is live again and left alone), else failed (then replaced).
    Queued, scheduled, deferred and really running jobs are left alone.
    """
    try:
        job = Job.fetch(jid, connection=queue.connection)
    except NoSuchJobError:
        return
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED and _abandoned(queue, jid):
        if queue.acquire_maintenance_lock():  # else a worker is cleaning up right now
            try:
                StartedJobRegistry(queue.name, connection=queue.connection).cleanup()
            finally:
                queue.release_maintenance_lock()
        status = job.get_status(refresh=True)
        if status == JobStatus.STARTED and _abandoned(queue, jid, unlisted_only=True):
            status = JobStatus.FAILED  # started, and in no registry: nothing will end it
    if status in DEAD_JOB_STATES:
        job.delete()
        log.warning("download job %s was %s: replaced", jid, status.value)


def _abandoned(queue: Queue, jid: str, *, unlisted_only: bool = False) -> bool:
    """The job is ``started`` but no worker keeps its heartbeat: its entries in the
    ``StartedJobRegistry`` (scored by when they lapse) have all lapsed, or there are none."""
    registry = StartedJobRegistry(queue.name, connection=queue.connection)
    lapse = [
        score
        for entry, score in queue.connection.zrange(registry.key, 0, -1, withscores=True)
        if registry.parse_job_id(entry) == jid
    ]
    if unlisted_only:
        return not lapse
    return not lapse or max(lapse) < current_timestamp()


# A download job's whole retry budget, plus this, and it should have ended one way or the
# other: a row still pending then lost its job (a worker killed during the last attempt is
# moved to rq's failed registry without our failure code running).
STUCK_GRACE_SECONDS = 3600
LIVE_JOB_STATES = ("queued", "started", "scheduled", "deferred")


def fail_stuck(
    session_factory: sessionmaker, clock: Clock, queue: Queue, retry_seconds: Sequence[int]
) -> list[str]:
    """Recordings announced complete whose download job is gone or failed, still
    ``pending``: ``failed``, with the reason, where a person sees them (the recordings API,
    ``callcenter recordings list --status failed``). Run daily with the retention purge."""
    budget = sum(retry_seconds) + STUCK_GRACE_SECONDS
    cutoff = clock.now() - timedelta(seconds=budget)
    stuck = []
    with session_factory.begin() as session:
        rows = session.scalars(
            select(Recording)
            .where(
                Recording.status == RecordingStatus.PENDING,
                Recording.callback_status == "completed",  # a download was queued for it
                Recording.created_at < cutoff,
            )
            .limit(1000)
        ).all()
        for row in rows:
            try:
                state = Job.fetch(job_id(row.recording_sid), connection=queue.connection)
                status = state.get_status(refresh=False)
            except NoSuchJobError:
                status = None
            if status is not None and str(getattr(status, "value", status)) in LIVE_JOB_STATES:
                continue
            row.status = RecordingStatus.FAILED
            row.error = (
                f"the download never finished (its job is {status or 'gone'}; a worker killed "
                f"during the last attempt?) {row.error or ''}"
            ).strip()[:2000]
            stuck.append(row.recording_sid)
    for sid in stuck:
        log.error("recording download never finished RecordingSid=%s: marked failed", sid)
    return stuck
