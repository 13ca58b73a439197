"""The wallboard's live feed: ``GET /api/acd/stream``, Server-Sent Events from the router's
event stream (a Redis stream every ACD script appends to, read through routing/live.py).

A response opens with ``event: snapshot`` (the queues and agents the supervisors' JSON API
returns, with ``id:`` the stream's last id read *before* them, so nothing between the two
is missed), then forwards each new stream entry as ``event: acd`` with its stream id, and a
``: keep-alive`` comment whenever a blocking read finds nothing. The stream lives in Redis,
so any worker on any host can serve any wallboard. A browser that reconnects sends
``Last-Event-ID``: the feed carries on from there if Redis still holds everything after it
(the stream is capped at ~10 000 entries), else it starts again from a snapshot.

Each open feed holds one server thread, for at most ``ACD_STREAM_MAX_SECONDS``; then the
response ends and the browser reconnects, which lets workers be recycled. The feeds of a
process share one reader of the Redis stream (routing/live.py: one blocking XREAD per
process, fanned out to the feeds, a bounded inbox each; a feed that falls more than
``ACD_STREAM_BUFFER`` events behind gets a fresh snapshot instead). A feed also ends when
the client goes away (the server closes the generator), the app shuts down
(``Feeds.stop``, on SIGTERM under gunicorn), or Redis stays away or loses the stream.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from flask import Blueprint, Response, current_app, request

from console.api import LEADS
from console.auth import require_role
from crm_core.settings import Settings
from routing import snapshot
from routing.live import Feeds, parse_id
from routing.service import Router
from telephony.context import need

bp = Blueprint("stream", __name__)

RETRY_MS = 1000  # how soon the browser reconnects (the SSE `retry:` field)
KEEP_ALIVE = ": keep-alive\n\n"
EXTENSION = "acd_stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@bp.record_once
def _setup(state) -> None:
    app = state.app
    with app.app_context():
        router, settings = need(Router), need(Settings)
    feeds = Feeds.of(router, buffer=settings.acd_stream_buffer)
    app.extensions[EXTENSION] = feeds
    _stop_on_sigterm(feeds)


def _stop_on_sigterm(feeds: Feeds) -> None:
    """Under gunicorn, SIGTERM asks a worker to finish its requests and exit: open feeds
    must end then, not at their time limit. Chained before the server's own handler, and
    only when a server installed one (never in tests or the CLI)."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return

    def on_sigterm(signum, frame):
        # No Redis calls inside a signal handler: the interrupted thread may hold the pool.
        threading.Thread(target=feeds.stop, name="acd-stream-stop", daemon=True).start()
        previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn set it: requests are not disturbed


@bp.get("/acd/stream")
@require_role(*LEADS)
def acd_stream():
    """The wallboard's feed (text/event-stream); see the module docstring."""
    settings = need(Settings)
    feed = _feed(
        need(Router),
        current_app.extensions[EXTENSION],
        request.headers.get("Last-Event-ID", "").strip(),
        block=float(settings.acd_stream_block_seconds),  # a heartbeat after each empty read
        limit=float(settings.acd_stream_max_seconds),  # then the browser reconnects
    )
    return Response(feed, mimetype="text/event-stream", headers=HEADERS)


@dataclass(frozen=True)
class Tick:
    """One step of ``follow``: a start (``entries`` None: the first tick, where ``resumed``
    says whether the browser's ``Last-Event-ID`` still holds, or a client too far behind
    starting again, never resumed), a heartbeat interval with nothing new (``entries``
    empty), or new router events (``entries``: stream id and JSON bytes)."""

    last_id: str
    entries: list[tuple[str, bytes]] | None = None
    resumed: bool = False


def follow(feeds: Feeds, last_id: str, *, block: float, limit: float) -> Iterator[Tick]:
    """The router's event stream from ``last_id`` (or from now, when the browser's id no
    longer holds), for at most ``limit`` seconds of wall time, a heartbeat tick after each
    ``block`` seconds without events: the loop under every live feed (the wallboard's, an
    agent's desk). Events come from the process's one reader (routing/live.py); the
    stretch between ``last_id`` and where that reader stands is read here (``Feeds.backlog``).
    Runs after the view has returned, so it takes what it needs as arguments; ``finally``
    runs when the server closes the response."""
    # Wall time, not the injected clock: this bounds a worker's thread, not a call.
    deadline = time.monotonic() + limit
    try:
        resumed = feeds.resumable(last_id)
        if not resumed:
            last_id = feeds.last_id()
    except redis.RedisError:
        return  # Redis is away: end the response; the browser retries in RETRY_MS
    number, inbox = feeds.subscribe(last_id, block=block)
    try:
        yield Tick(last_id, resumed=resumed)
        seen = parse_id(last_id)
        for batch in feeds.backlog(last_id, inbox.position):
            last_id, seen = batch[-1][0], parse_id(batch[-1][0])
            yield Tick(last_id, batch)
        while not feeds.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            taken = inbox.take(min(block, left))
            if taken is None:
                return  # stopping, or Redis lost the stream: the browser reconnects
            resync, entries = taken
            if resync is not None:  # this client fell too far behind: start it again
                last_id, seen = resync, parse_id(resync)
                yield Tick(last_id)
            if entries and parse_id(entries[0][0]) <= seen:  # the reader was behind this feed
                entries = [e for e in entries if parse_id(e[0]) > seen]
                if not entries:
                    continue
            if entries:
                last_id, seen = entries[-1][0], parse_id(entries[-1][0])
                yield Tick(last_id, entries)
            elif resync is None:
                yield Tick(last_id, [])
    except redis.RedisError:
        # Redis went away while reading the backlog: end; the browser reconnects.
        return
    finally:
        feeds.remove(number)


def _feed(router, feeds: Feeds, last_id: str, *, block: float, limit: float) -> Iterator[str]:
    """The wallboard's response body: a snapshot unless resumed, then every event."""
    yield f"retry: {RETRY_MS}\n\n"
    for tick in follow(feeds, last_id, block=block, limit=limit):
        if tick.entries is None:
            if not tick.resumed:
                yield sse("snapshot", tick.last_id, _snapshot(router))
        elif not tick.entries:
            yield KEEP_ALIVE
        else:  # one write per batch, not per event
            yield "".join(sse("acd", event_id, raw.decode()) for event_id, raw in tick.entries)


def _snapshot(router) -> str:
    return json.dumps(
        {
            "now": router.clock.now().isoformat(),
            "queues": snapshot.queues(router),
            "agents": snapshot.agents(router),
        },
        separators=(",", ":"),
    )


def sse(kind: str, event_id: str, data: str) -> str:
    """One Server-Sent Event."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {kind}\nid: {event_id}\n{lines}\n"
