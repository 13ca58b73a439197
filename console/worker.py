"""The one job bootstrap: ``callcenter worker`` and the rq ``Worker`` it runs.

Every package's rq jobs (recording downloads, the daily retention purge…) run inside the
app's context, which this worker pushes for each job, so a job function asks ``need(...)``
for what it uses, as a view does, and never builds an app. The worker lives in console,
the one package that may import every other (it starts the ACD's ticker beside the jobs
and schedules recording's daily purge); the app factory hands it ``create_app`` for
``rq worker -w app.Worker``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flask import Flask

# The rq worker's timing. A job whose worker died (SIGKILL, the machine lost) stays
# "started" until its heartbeat lapses; a worker's registry cleanup then retries it (rq's
# StartedJobRegistry cleanup, AbandonedJobError). rq's own heartbeat outlives its worker by
# a minute and its cleanup runs every ten: a download cut short would wait that long.
WORKER_TTL = 25  # s: rq blocks on its queues for this less 15 s, then heartbeats and cleans
JOB_MONITORING_SECONDS = 5  # s between a running job's heartbeats
JOB_HEARTBEAT_GRACE = 15  # s a heartbeat may be late before the job counts as abandoned
MAINTENANCE_SECONDS = 5  # s: registry cleanup, at the worker's next wake-up after this


@functools.cache
def worker_class(app_factory: Callable[[], Flask] | None = None) -> type:
    """rq's Worker, running each job inside the app's context (built with ``app_factory``
    when the worker was not handed an app)."""
    from rq import Worker as RqWorker

    class Worker(RqWorker):
        """Runs every job — whichever package it comes from — inside the app's context.
        ``callcenter worker`` hands it the app it built; ``rq worker -w app.Worker`` builds
        one from the environment when it starts working (rq makes instances of its own too,
        to read a worker's state: those build none).

        rq runs each job in a work horse forked from the worker. The horse inherits the
        app: the database engines open connections of their own in a new process
        (crm_core.db), Redis's pool does too (redis-py checks the pid), and the carrier,
        whose pooled HTTP connections the worker's ACD ticker uses, is replaced by one of
        the horse's own (``Deps.after_fork``)."""

        def __init__(self, *args: Any, app: Flask | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.app = app

        def work(self, *args: Any, **kwargs: Any) -> bool:
            if self.app is None:  # ``rq worker -w app.Worker``: built before any fork
                if app_factory is None:
                    raise RuntimeError("this worker was given no app and no way to build one")
                self.app = app_factory()
            return super().work(*args, **kwargs)

        def perform_job(self, job, queue, execution) -> bool:  # in the work horse
            from telephony.context import provided

            with self.app.app_context():
                provided(self.app.extensions).after_fork()
                return super().perform_job(job, queue, execution)

        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            ttl = super().get_heartbeat_ttl(job, working_time) - 60  # rq adds a minute
            return max(ttl, 0) + JOB_HEARTBEAT_GRACE

        def subscribe(self) -> None:
            """rq's, with its command listener waking every second instead of every minute:
            stopping waits for the listener, which after the unsubscribe may sit out its
            whole wait (a worker that took a minute to stop, now and then)."""
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(
                sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
            )

    Worker.__module__ = "app"  # ``app.Worker``, as rq names the class in its records
    return Worker


def _quiet_cleanups(record: logging.LogRecord) -> bool:
    """rq notes each cleanup at INFO: four lines every few seconds, nothing to act on."""
    return record.levelno > logging.INFO or "cleaning" not in str(record.msg)


@click.command()
@click.option("--burst", is_flag=True, help="Do the jobs waiting now, then exit")
@click.option(
    "--no-ticker", is_flag=True, help="Without the timer (run callcenter ticker on its own)"
)
def worker(burst: bool, no_ticker: bool) -> None:
    """Run the background worker: it does the jobs the app queues (recording downloads,
    the daily clean-up...) and runs the queues' timer beside it (see ticker). A job cut
    short by a worker that died is taken up again by a running worker within a minute."""
    import redis
    from flask import current_app

    from recording.retention import ensure_scheduled
    from routing.ticker import Ticker
    from telephony.context import provided

    logging.getLogger("rq.worker").addFilter(_quiet_cleanups)
    app = current_app._get_current_object()
    d = provided(app.extensions)
    ticker = None if burst or no_ticker else Ticker(d).start()
    if not burst:  # the daily recording retention purge (recording/retention.py)
        ensure_scheduled(d.queues["low"], d.clock.now())
    # rq's connections on a pool of their own: rq raises the socket timeout above its
    # blocking dequeue only for connections made after it starts, and a connection the
    # ticker made on the app's shorter timeout would time the dequeue out ("could not
    # connect to Redis ... Timeout reading", with back-off, while Redis is up).
    pool = d.redis.connection_pool
    connection = redis.Redis(
        connection_pool=type(pool)(connection_class=pool.connection_class, **pool.connection_kwargs)
    )
    try:
        worker_class()(
            list(d.queues),  # by name: rq makes them on its own connection
            connection=connection,
            worker_ttl=WORKER_TTL,
            job_monitoring_interval=JOB_MONITORING_SECONDS,
            maintenance_interval=MAINTENANCE_SECONDS,
            app=app,
        ).work(burst=burst, with_scheduler=True)
    finally:
        if ticker is not None:
            ticker.stop()
        connection.connection_pool.disconnect()
