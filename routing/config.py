"""The router's view of the SQL configuration: queues (cached) and agents' profiles."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session, sessionmaker

from crm_core.acd import QueueConfig, list_queues, queue_config
from crm_core.models import User
from routing.service import AgentProfile

QUEUE_CACHE_SECONDS = 5.0


class QueueCache:
    """Every queue's configuration, read from SQL at most every ``ttl`` seconds (wall time):
    an edit through the API or the CLI reaches every process within that."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ttl: float = QUEUE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_factory = session_factory
        self.ttl = ttl
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._queues: dict[str, QueueConfig] = {}
        self._loaded = float("-inf")

    def __call__(self) -> Mapping[str, QueueConfig]:
        if self.monotonic() - self._loaded >= self.ttl:
            with self._lock:
                if self.monotonic() - self._loaded >= self.ttl:
                    with self.session_factory() as session:
                        self._queues = {q.name: queue_config(q) for q in list_queues(session)}
                    self._loaded = self.monotonic()
        return self._queues

    def invalidate(self) -> None:
        self._loaded = float("-inf")


def profile(user: User) -> AgentProfile:
    return AgentProfile(
        id=user.id,
        identity=user.softphone_identity,
        name=user.display_name,
        skills={k: int(v) for k, v in (user.skills or {}).items()},
    )
