"""One reader per process for the router's event stream, fanned out to every open live feed
(the wallboard's ``GET /api/acd/stream`` and the agents' ``GET /api/agents/me/stream``).

Why: when every feed ran its own blocking XREAD, each router event woke every feed's read
and Redis answered one read per feed (200 wallboards: 200 reads and 200 replies parsed per
event, on the cores the webhooks need). Now a single daemon thread per process (started by
the first feed, ending at its next wake-up once the last feed has gone) does the blocking
XREAD on a Redis connection of its own and hands each batch of entries to the open
:class:`Subscription` objects; a feed's thread only waits on its own condition.

Ordering without gaps or doubles: ``Feeds.position`` is the last stream id handed out. A
subscription registered while the position is P is given every batch read after that
(entries after P), and its feed reads the stretch between its own id and P itself with
XRANGE (``stream.follow``). Both the registration and the hand-out happen under the hub's
lock, so no batch falls between them. A feed drops entries at or before the id it has seen,
so a hub that is behind a new feed costs nothing.

Bounded memory: a subscription holds at most ``buffer`` entries. A client that falls
further behind (a stalled browser holding its thread in a socket write) is resynced rather
than buffered without end: its entries are dropped and its feed starts again, at the
newest dropped id, with a fresh snapshot (or agent state).

Redis going away: the reader reconnects with backoff (``RETRY_FIRST`` doubling to
``RETRY_MAX``) while feeds stay open. Back within ``OUTAGE_SECONDS``, with the stream still
holding the position, nobody notices. Otherwise (still down, or the stream lost, e.g. a
Redis restarted without its data) every open feed ends; the browsers reconnect with
``Last-Event-ID`` and resume or resync as the stream allows.

``stop()`` (app shutdown, SIGTERM under gunicorn) ends every feed at once and wakes the
reader from its XREAD with ``CLIENT UNBLOCK``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from routing.service import Router

READ_COUNT = 500  # entries one XREAD returns at most
BUFFER = 1000  # entries a subscription holds before its feed is resynced instead
OUTAGE_SECONDS = 5.0  # Redis unreachable this long: the open feeds end (browsers reconnect)
RETRY_FIRST, RETRY_MAX = 0.05, 1.0  # the reader's reconnect backoff, seconds

Entry = tuple[str, bytes]  # stream id, the event's JSON
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def parse_id(value: str | bytes) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Subscription:
    """One open feed's inbox: batches from the reader, a resync mark, or the end.

    Written by the reader thread, read by the feed's thread, under the inbox's own lock
    (never the hub's), so a slow feed never holds up the reader or the other feeds.
    """

    def __init__(self, since: str, position: str, buffer: int) -> None:
        self.since = since  # the id the feed starts after
        self.position = position  # the hub's at registration: (since, position] is XRANGEd
        self._buffer = buffer
        self._ready = threading.Condition(threading.Lock())
        self._batches: deque[list[Entry]] = deque()
        self._held = 0
        self._resync_at: str | None = None
        self.ended = False

    def push(self, batch: list[Entry]) -> None:
        with self._ready:
            if self._held + len(batch) > self._buffer:
                # Too far behind: drop what it holds; it starts again after this batch.
                self._batches.clear()
                self._held = 0
                self._resync_at = batch[-1][0]
            else:
                self._batches.append(batch)
                self._held += len(batch)
            self._ready.notify()

    def end(self) -> None:
        with self._ready:
            self.ended = True
            self._ready.notify()

    def take(self, timeout: float) -> tuple[str | None, list[Entry]] | None:
        """Wait at most ``timeout`` s; then (the id to resync at or None, the entries held,
        oldest first: empty when nothing came), or None once the hub has ended it."""
        with self._ready:
            if not (self._batches or self._resync_at or self.ended):
                self._ready.wait(timeout)
            if self.ended:
                return None
            resync, self._resync_at = self._resync_at, None
            batches, self._batches, self._held = self._batches, deque(), 0
        if len(batches) == 1:
            return resync, batches[0]
        return resync, [entry for batch in batches for entry in batch]


class Feeds:
    """The open feeds of one app (one per process under gunicorn) and their shared reader."""

    def __init__(self, connection: redis.Redis, key: str, *, buffer: int = BUFFER) -> None:
        self.redis = connection
        self.key = key
        self.buffer = buffer
        self.block = 10.0  # the reader's longest XREAD, s: the feeds' heartbeat interval
        self.stopping = threading.Event()
        self.position: str | None = None  # the last id handed out (None: no reader)
        self.batches = 0  # XREADs that found entries, for all the feeds together
        self._lock = threading.Lock()
        self._subscriptions: dict[int, Subscription] = {}
        self._next = 0
        self._reader: threading.Thread | None = None
        self._reader_id: int | None = None  # the reader connection's CLIENT ID

    @classmethod
    def of(cls, router: Router, *, buffer: int = BUFFER) -> Feeds:
        """The feeds of ``router``'s event stream (``Keys.events``)."""
        return cls(router.redis, router.keys.events, buffer=buffer)

    def last_id(self) -> str:
        """The stream's newest id ("0-0" before its first entry)."""
        return last_id(self.redis, self.key)

    def resumable(self, seen: str) -> bool:
        """Can a browser that saw ``seen`` (its ``Last-Event-ID``) carry on from it? Only if
        it is a stream id and the stream still holds every entry after it (``holds``)."""
        return bool(STREAM_ID.match(seen)) and holds(self.redis, self.key, seen)

    def backlog(self, after: str, upto: str) -> Iterator[list[Entry]]:
        """The entries after ``after`` up to ``upto`` (both stream ids), in pages: what a new
        feed reads itself, between its own id and where the reader stood."""
        if parse_id(upto) <= parse_id(after):
            return
        while True:
            found = self.redis.xrange(self.key, min=f"({after}", max=upto, count=READ_COUNT)
            if not found:
                return
            batch = [(raw.decode(), fields.get(b"e", b"{}")) for raw, fields in found]
            yield batch
            after = batch[-1][0]
            if len(found) < READ_COUNT:
                return

    def __len__(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    @property
    def reader_id(self) -> int | None:
        """The reader's Redis CLIENT ID while it is connected (tests kill it)."""
        return self._reader_id

    def subscribe(self, since: str, *, block: float) -> tuple[int, Subscription]:
        """Register a feed that has seen the stream up to ``since``; start the reader if
        none runs. Returns the number to ``remove`` it by, and its inbox."""
        with self._lock:
            self.block = block
            if self._reader is None:
                self.position = since
                self._reader = threading.Thread(
                    target=self._read, name="acd-stream-reader", daemon=True
                )
                self._reader.start()
            subscription = Subscription(since, self.position, self.buffer)
            self._next += 1
            self._subscriptions[self._next] = subscription
            if self.stopping.is_set():
                subscription.end()
            return self._next, subscription

    def remove(self, number: int) -> None:
        with self._lock:
            self._subscriptions.pop(number, None)

    def stop(self) -> None:
        """End every open feed now and wake the reader, which then exits."""
        self.stopping.set()
        self._end_all()
        reader = self._reader_id
        if reader is not None:
            with suppress(redis.RedisError):
                self.redis.client_unblock(reader)

    def _end_all(self) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions.values())
        for subscription in subscriptions:
            subscription.end()

    # ------------------------------------------------------------------ the reader thread

    def _connect(self) -> redis.Redis:
        """A connection of the app's kind and address, apart from its pool (a blocked read
        must not wait behind requests), that never retries by itself: a retry would come
        back on a new connection with a CLIENT ID ``stop`` does not know."""
        pool = self.redis.connection_pool
        kwargs = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        own = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        client = redis.Redis(connection_pool=own, single_connection_client=True)
        try:
            self._reader_id = client.client_id()
        except redis.RedisError:
            client.close()
            own.disconnect()
            raise
        return client

    def _read(self) -> None:
        client: redis.Redis | None = None
        down_since: float | None = None
        failures = 0
        try:
            while True:
                with self._lock:
                    if self.stopping.is_set() or not self._subscriptions:
                        self._reader = None
                        self.position = None
                        return
                    position, block = self.position, self.block
                try:
                    if client is None:
                        client = self._connect()
                        if down_since is not None and not _still_holds(client, self.key, position):
                            self._lost(client)
                        down_since, failures = None, 0
                        continue
                    found = client.xread(
                        {self.key: position}, count=READ_COUNT, block=max(1, int(block * 1000))
                    )
                except redis.RedisError:
                    self._reader_id = None
                    if client is not None:
                        _close(client)
                        client = None
                    down_since = down_since or time.monotonic()
                    if time.monotonic() - down_since > OUTAGE_SECONDS:
                        self._end_all()  # the browsers reconnect, and resync as they can
                    failures += 1
                    self.stopping.wait(min(RETRY_MAX, RETRY_FIRST * 2 ** (failures - 1)))
                    continue
                if not found:
                    continue
                self.batches += 1
                batch = [(raw.decode(), fields.get(b"e", b"{}")) for raw, fields in found[0][1]]
                with self._lock:
                    subscriptions = list(self._subscriptions.values())
                    self.position = batch[-1][0]
                for subscription in subscriptions:
                    subscription.push(batch)
        finally:
            self._reader_id = None
            if client is not None:
                _close(client)

    def _lost(self, client: redis.Redis) -> None:
        """Back after an outage, but the stream no longer holds what was handed out: end
        every feed (each browser resyncs) and carry on from the stream's newest id."""
        self._end_all()
        with self._lock:
            self.position = last_id(client, self.key)


def _still_holds(client: redis.Redis, key: str, position: str) -> bool:
    """After an outage: has nothing handed out been lost? (Nothing was, if nothing had
    been: a stream that was empty then and may not exist yet.)"""
    return position == "0-0" or holds(client, key, position)


def _close(client: redis.Redis) -> None:
    client.close()
    client.connection_pool.disconnect()


def _stream_info(client: redis.Redis, key: str) -> dict | None:
    try:
        return client.xinfo_stream(key)
    except redis.ResponseError:  # no such key: nothing has happened yet
        return None


def last_id(client: redis.Redis, key: str) -> str:
    """The stream's newest id ("0-0" before its first entry)."""
    info = _stream_info(client, key)
    if info is None:
        return "0-0"
    last = info["last-generated-id"]
    return last.decode() if isinstance(last, bytes) else last


def holds(client: redis.Redis, key: str, seen: str) -> bool:
    """Does the stream still hold every entry after ``seen``? Only if ``seen`` is no older
    than the oldest entry kept, and no newer than the newest (a newer one comes from a
    stream since lost, e.g. a Redis that was reset)."""
    info = _stream_info(client, key)
    if info is None:
        return False
    mine, last = parse_id(seen), parse_id(info["last-generated-id"])
    if mine > last:
        return False
    first = info.get("first-entry")
    if not first:  # emptied: only a reader that had seen the very last entry lost nothing
        return mine == last
    # The oldest entry kept may be the one after ``seen`` only if none were trimmed
    # between them; seeing an id at or after the oldest kept guarantees that.
    return mine >= parse_id(first[0])
