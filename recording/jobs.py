"""The recording package's rq jobs, importable by dotted path (``recording.jobs.<name>``).

Each job is thin: it gets the app's collaborators and calls the service that does the work
(recording/download.py, recording/retention.py).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, has_app_context
from rq import get_current_job

from recording.download import (
    BUILT_IN_PID,
    DOWNLOAD_QUEUE,
    Downloader,
    delete_at_carrier,
    fail_stuck,
)
from recording.models import RecordingStatus
from recording.retention import (
    ensure_scheduled,
    finish_deletions,
    purge,
    retention_days,
    storage_of,
)
from recording.storage import storage_from_config
from telephony.carrier import CarrierNotFound


def download_recording(recording_sid: str) -> str:
    """rq job (``recording.jobs.download_recording``): one attempt; an exception makes
    rq retry it with backoff, and the last failure leaves the row ``failed``."""
    with _job_deps() as (deps, carrier, instance_path):
        downloader = Downloader(
            deps.session_factory,
            carrier,
            storage_from_config(deps.config, instance_path),
            deps.clock,
            delete_at_carrier(deps.config),
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


@contextmanager
def _job_deps():
    """The app's dependencies in a job, and a Carrier to use.

    Under ``callcenter worker`` the app context is the worker's, inherited by rq's forked
    work horse. The connections pooled in the parent (the worker's ACD ticker uses them) are
    not to be shared: the database pools already open their own in a forked process
    (``crm_core.db``), and the job talks to the carrier through a Carrier of its own.
    Anywhere else (a plain ``rq worker``) the app is built from the environment.
    """
    from telephony.twilio_carrier import TwilioCarrier

    if has_app_context():
        deps, instance_path = current_app.extensions["callcenter"], current_app.instance_path
        if os.getpid() == current_app.extensions.get(BUILT_IN_PID, os.getpid()):
            yield deps, deps.carrier, instance_path  # not forked: the app's own are fine
            return
        with TwilioCarrier.from_config(deps.config) as carrier:
            yield deps, carrier, instance_path
        return
    from app import create_app

    app = create_app()
    try:
        with app.app_context():
            deps = app.extensions["callcenter"]
            yield deps, deps.carrier, app.instance_path
    finally:
        app.extensions["callcenter"].close()


def finish_deletions_job(ids: list[int]) -> dict[str, Any]:
    """rq job: the carrier's copies of recordings an erasure deleted."""
    app = _job_app()
    with app.app_context():
        d = app.extensions["callcenter"]
        return finish_deletions(d.session_factory, storage_of(app), d.carrier, ids).as_dict()


def purge_expired() -> dict[str, Any]:
    """rq job (daily): the retention purge; then the next day's run is scheduled, even if
    this one failed (rq retries it, and tomorrow's run catches up)."""
    app = _job_app()
    with app.app_context():
        d = app.extensions["callcenter"]
        try:
            fail_stuck(d, d.queues[DOWNLOAD_QUEUE])  # downloads that never ended: seen, not lost
            return purge(d, storage_of(app), retention_days(d.config)).as_dict()
        finally:
            ensure_scheduled(d.queues["low"], d.clock.now())


def _job_app() -> Flask:
    """The app of ``callcenter worker`` (its forked job inherits the app context), or one
    built from the environment for a plain ``rq worker``."""
    if has_app_context():
        return current_app._get_current_object()
    from app import create_app

    return create_app()
