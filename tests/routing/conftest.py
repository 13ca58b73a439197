"""A Router on the real test Redis (emptied per test), with queues configured in memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from crm_core.acd import QueueConfig
from crm_core.acd_schemas import EmptyAction, QueueStrategy
from routing.service import AgentProfile, Router

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def queue(name: str, **overrides) -> QueueConfig:
    values = {
        "id": abs(hash(name)) % 10_000,
        "name": name,
        "display_name": name.title(),
        "required_skills": {name: 1},
        "strategy": QueueStrategy.LONGEST_IDLE,
        "offer_timeout_seconds": 15,
        "wrap_up_seconds": 30,
        "service_level_seconds": 20,
        "max_wait_seconds": None,
        "overflow_action": None,
        "overflow_queue_id": None,
        "overflow_queue": None,
        "empty_action": EmptyAction.WAIT,
        "escalation_after_seconds": None,
        "escalation_relax_levels": 0,
        "max_agents_ring_all": 20,
        "hold_script": None,
        "callback_attempts": 2,
        "callback_retry_minutes": 10,
        "active": True,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return QueueConfig(**values)


def agent(agent_id: int, **skills: int) -> AgentProfile:
    return AgentProfile(agent_id, f"agent_{agent_id}", f"Agent {agent_id}", skills)


@pytest.fixture
def connection(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def queues():
    return {"sales": queue("sales"), "service": queue("service")}


@pytest.fixture
def router(connection, clock, queues):
    return Router(connection, clock, lambda: queues)
