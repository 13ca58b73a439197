"""The wallboard's live feed: ``GET /api/acd/stream``, Server-Sent Events from the router's
event stream (``routing.keys.Keys.events``, a Redis stream every ACD script appends to).

A response opens with ``event: snapshot`` (the queues and agents the supervisors' JSON API
returns, with ``id:`` the stream's last id read *before* them, so nothing between the two
is missed), then forwards each new stream entry as ``event: acd`` with its stream id, and a
``: keep-alive`` comment whenever a blocking read finds nothing. The stream lives in Redis,
so any worker on any host can serve any wallboard. A browser that reconnects sends
``Last-Event-ID``: the feed carries on from there if Redis still holds everything after it
(the stream is capped at ~10 000 entries), else it starts again from a snapshot.

Each open feed holds one Redis connection from the app's pool (taken for its life, so the
blocking reads never wait behind other requests) and one server thread, for at most
``ACD_STREAM_MAX_SECONDS``; then the response ends and the browser reconnects, which lets
workers be recycled. A feed also ends when the client goes away (the server closes the
generator) or the app shuts down (:class:`Feeds`).
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import redis
from flask import Blueprint, Response, current_app, request

from console.api import LEADS
from console.auth import require_role
from routing import snapshot

bp = Blueprint("stream", __name__)

BLOCK_SECONDS = 10.0  # one blocking read; a heartbeat after each empty one
MAX_SECONDS = 300.0  # one response, then the browser reconnects with Last-Event-ID
RETRY_MS = 1000  # how soon the browser reconnects (the SSE `retry:` field)
KEEP_ALIVE = ": keep-alive\n\n"
EXTENSION = "acd_stream"
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Feeds:
    """The open feeds of one app, so that shutting down can end them at once.

    ``stop()`` sets ``stopping`` and wakes every feed blocked in XREAD with ``CLIENT
    UNBLOCK`` (the read returns empty, the feed sees ``stopping`` and ends) instead of
    leaving each to finish its block.
    """

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[int, int] = {}  # feed number → its Redis connection's CLIENT ID
        self._next = 0

    def add(self, client_id: int) -> int:
        with self._lock:
            self._next += 1
            self._clients[self._next] = client_id
            return self._next

    def remove(self, number: int) -> None:
        with self._lock:
            self._clients.pop(number, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def stop(self) -> None:
        self.stopping.set()
        self.kick()

    def kick(self) -> None:
        """End every open feed's current read now (each then checks ``stopping``)."""
        with self._lock:
            ids = list(self._clients.values())
        for client_id in ids:
            with suppress(redis.RedisError):
                self.redis.client_unblock(client_id)


@bp.record_once
def _setup(state) -> None:
    app = state.app
    feeds = Feeds(app.extensions["callcenter"].redis)
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
    deps = current_app.extensions["callcenter"]
    config = current_app.config
    feed = _feed(
        deps.router,
        current_app.extensions[EXTENSION],
        request.headers.get("Last-Event-ID", "").strip(),
        block=float(config.get("ACD_STREAM_BLOCK_SECONDS", BLOCK_SECONDS)),
        limit=float(config.get("ACD_STREAM_MAX_SECONDS", MAX_SECONDS)),
    )
    return Response(feed, mimetype="text/event-stream", headers=HEADERS)


@dataclass(frozen=True)
class Tick:
    """One step of ``follow``: the first (``entries`` None: ``resumed`` says whether the
    browser's ``Last-Event-ID`` still holds), a read that found nothing (``entries`` empty:
    time for a heartbeat), or new router events (``entries``: stream id and JSON bytes)."""

    last_id: str
    entries: list[tuple[str, bytes]] | None = None
    resumed: bool = False


def follow(router, feeds: Feeds, last_id: str, *, block: float, limit: float) -> Iterator[Tick]:
    """The router's event stream from ``last_id`` (or from now, when the browser's id no
    longer holds), for at most ``limit`` seconds of wall time, in reads of at most
    ``block``: the loop under every live feed (the wallboard's, an agent's desk). Runs
    after the view has returned, so it takes what it needs as arguments; ``finally`` runs
    when the server closes the response."""
    # A connection of its own from the app's pool, for the feed's whole life.
    client = redis.Redis(
        connection_pool=router.redis.connection_pool, single_connection_client=True
    )
    number = None
    try:
        number = feeds.add(client.client_id())
        key = router.keys.events
        # Wall time, not the injected clock: this bounds a worker's thread, not a call.
        deadline = time.monotonic() + limit
        resumed = _resumable(client, key, last_id)
        if not resumed:
            last_id = _last_id(client, key)
        yield Tick(last_id, resumed=resumed)
        while not feeds.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            read = client.xread(
                {key: last_id}, count=500, block=max(1, int(min(block, left) * 1000))
            )
            found = read[0][1] if read else []
            entries = [(raw_id.decode(), fields.get(b"e", b"{}")) for raw_id, fields in found]
            if entries:
                last_id = entries[-1][0]
            yield Tick(last_id, entries)
    except redis.RedisError:
        # Redis went away mid-feed: end the response; the browser reconnects and resyncs.
        return
    finally:
        if number is not None:
            feeds.remove(number)
        client.close()


def _feed(router, feeds: Feeds, last_id: str, *, block: float, limit: float) -> Iterator[str]:
    """The wallboard's response body: a snapshot unless resumed, then every event."""
    yield f"retry: {RETRY_MS}\n\n"
    for tick in follow(router, feeds, last_id, block=block, limit=limit):
        if tick.entries is None:
            if not tick.resumed:
                yield sse("snapshot", tick.last_id, _snapshot(router))
        elif not tick.entries:
            yield KEEP_ALIVE
        else:
            for event_id, raw in tick.entries:
                yield sse("acd", event_id, raw.decode())


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


def _parse_id(value: str | bytes) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _stream_info(client: redis.Redis, key: str) -> dict[str, Any] | None:
    try:
        return client.xinfo_stream(key)
    except redis.ResponseError:  # no such key: nothing has happened yet
        return None


def _last_id(client: redis.Redis, key: str) -> str:
    info = _stream_info(client, key)
    if info is None:
        return "0-0"
    last = info["last-generated-id"]
    return last.decode() if isinstance(last, bytes) else last


def _resumable(client: redis.Redis, key: str, last_id: str) -> bool:
    """Can a browser that saw ``last_id`` carry on from it? Only if every entry after it
    is still in the stream: it is no older than the oldest entry kept, and no newer than
    the newest (a newer one comes from a stream since lost, e.g. a Redis that was reset)."""
    if not STREAM_ID.match(last_id):
        return False
    info = _stream_info(client, key)
    if info is None:
        return False
    seen, last = _parse_id(last_id), _parse_id(info["last-generated-id"])
    if seen > last:
        return False
    first = info.get("first-entry")
    if not first:  # emptied: only a browser that had seen the very last entry lost nothing
        return seen == last
    # The oldest entry kept may be the one after ``last_id`` only if none were trimmed
    # between them; seeing an id at or after the oldest kept guarantees that.
    return seen >= _parse_id(first[0])
