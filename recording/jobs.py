"""The recording package's rq jobs, importable by dotted path (``recording.jobs.<name>``).

Each job is thin: it asks ``need(...)`` for the collaborators the service uses and calls
it. Jobs run inside the app's context, which the one job bootstrap (``app.Worker``, used
by ``callcenter worker``) pushes for every job; in rq's forked work horse that context
holds a Carrier of the horse's own, so ``need(Carrier)`` never shares the worker's pooled
HTTP connections.
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue, get_current_job

from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.settings import Settings
from recording.download import Downloader
from recording.download_queue import DOWNLOAD_QUEUE, fail_stuck
from recording.models import RecordingStatus
from recording.retention import ensure_scheduled, finish_deletions, purge
from recording.storage import Storage
from telephony.carrier import Carrier, CarrierNotFound
from telephony.context import need

RETENTION_QUEUE = "low"  # the daily purge and an erasure's carrier copies


def download_recording(recording_sid: str) -> str:
    """One attempt at storing a recording (recording.download); an exception makes rq
    retry it with backoff, and the last failure leaves the row ``failed``."""
    downloader = Downloader(
        need(Database).session_factory,
        need(Carrier),
        need(Storage),
        need(Clock),
        need(Settings).recording_delete_at_carrier,
    )
    try:
        return downloader.run(recording_sid).value
    except CarrierNotFound as exc:  # deleted at the carrier: retrying cannot help
        downloader.record_failure(recording_sid, exc, final=True)
        return RecordingStatus.FAILED.value
    except Exception as exc:
        job = get_current_job()
        downloader.record_failure(recording_sid, exc, final=job is None or not job.retries_left)
        raise


def finish_deletions_job(ids: list[int]) -> dict[str, Any]:
    """The carrier's copies of recordings an erasure deleted (recording.retention)."""
    result = finish_deletions(need(Database).session_factory, need(Storage), need(Carrier), ids)
    return result.as_dict()


def purge_expired() -> dict[str, Any]:
    """Daily: the retention purge; then the next day's run is scheduled, even if this one
    failed (rq retries it, and tomorrow's run catches up)."""
    settings, sessions, clock = need(Settings), need(Database).session_factory, need(Clock)
    connection = need(redis.Redis)
    try:
        downloads = Queue(DOWNLOAD_QUEUE, connection=connection)
        # Downloads that never ended: seen, not lost.
        fail_stuck(sessions, clock, downloads, settings.recording_download_retry_seconds)
        days = settings.recording_retention_days
        return purge(sessions, clock, need(Carrier), need(Storage), days).as_dict()
    finally:
        ensure_scheduled(Queue(RETENTION_QUEUE, connection=connection), clock.now())
