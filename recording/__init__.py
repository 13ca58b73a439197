"""Call recording: consent, start/pause/resume, the download job, storage, access checks,
retention and QA scores. ``init_recording(app)`` files the recordings' store among the
app's collaborators (``need(Storage)``), registers the package's webhooks and its part of a
customer's erasure; its tables are in ``recording.models``. Its screens and JSON API
belong to the pages' package, which imports this one, never the other way round."""

from __future__ import annotations

from flask import Flask

from recording import models  # noqa: F401  (the recording tables on Base.metadata)


def init_recording(app: Flask) -> None:
    """Each part of the package registers itself here, one line each."""
    import redis
    from rq import Queue

    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.privacy import ErasureHooks
    from crm_core.settings import Settings
    from recording import views
    from recording.jobs import RETENTION_QUEUE
    from recording.retention import erasure_hook
    from recording.storage import Storage, storage_at
    from telephony.context import provided

    bag = provided(app.extensions)
    storage = storage_at(bag.get(Settings).recording_storage_dir, app.instance_path)
    bag.provides[Storage] = storage  # the one store: views, jobs and commands need(Storage)
    app.register_blueprint(views.bp)  # consent notice, POST /twilio/recording → download job
    queue = Queue(RETENTION_QUEUE, connection=bag.get(redis.Redis))
    sessions = bag.get(Database).session_factory
    erase = erasure_hook(sessions, bag.get(Clock), queue, storage)
    bag.get(ErasureHooks).append(erase)  # a customer's erasure deletes their recordings
