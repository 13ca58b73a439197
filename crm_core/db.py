"""The declarative ``Base``, the UTC timestamp type, the engines and session factories, and
``Database``, which holds them for the app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware.

    SQLite has no time zone type and returns naive values; PostgreSQL's ``timestamptz``
    returns aware ones. This type makes both behave the same, and refuses naive input so
    a local time can never be stored by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets the settings that make it safe for several processes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        _sqlite_setup(engine, immediate=True)
        return _fork_safe(engine)
    kwargs.setdefault("pool_pre_ping", True)
    return _fork_safe(create_engine(url, **kwargs))


def _fork_safe(engine: Engine) -> Engine:
    """rq runs each job in a forked work horse, which inherits the worker's pooled
    connections: two processes on one socket corrupt the session. A connection made in
    another process is discarded at checkout and a new one opened (SQLAlchemy's documented
    recipe for pools and os.fork)."""

    @event.listens_for(engine, "connect")
    def _connect(_dbapi_connection, record):
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi_connection, record, proxy):
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError(
                f"connection made in process {record.info.get('pid')}, used in {os.getpid()}"
            )

    return engine


def _sqlite_setup(engine: Engine, *, immediate: bool) -> None:
    """WAL, foreign keys, a busy timeout; and for the writing engine, transactions that take
    the write lock when they begin.

    A deferred SQLite transaction that has read and then wants to write fails at once with
    "database is locked" if another process committed in between (WAL cannot upgrade a stale
    snapshot, and busy_timeout does not apply). Webhooks read then write (is this call
    known? then insert it), so the writing engine begins with BEGIN IMMEDIATE and writers
    queue on busy_timeout instead; this is SQLAlchemy's documented pysqlite recipe. The read
    engine keeps the driver's behaviour: reads never wait.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")  # gunicorn workers and rq share the file
        cursor.close()
        if immediate:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself

    if immediate:

        @event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_engine(engine: Engine) -> Engine:
    """The engine for requests that only read (GET).

    On PostgreSQL its own pool of autocommit connections: no BEGIN and ROLLBACK round trips,
    and psycopg keeps its prepared statements (a ROLLBACK discards them); a screen pop costs
    a third less (bench/crm_lookup.py). Switching one pool's connections in and out of
    autocommit costs a round trip each way, hence a second pool. On SQLite a second engine
    whose transactions stay deferred, so reads never queue behind the writers' BEGIN
    IMMEDIATE. Never write through it.
    """
    if engine.dialect.name == "sqlite":
        if engine.url.database in (None, "", ":memory:"):
            return engine  # one in-memory database is one connection's: share it
        reader = create_engine(engine.url)
        _sqlite_setup(reader, immediate=False)
        return _fork_safe(reader)
    if engine.dialect.name != "postgresql":
        return engine
    return _fork_safe(create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=True))


@dataclass
class Database:
    """The database as the app uses it: a writing engine and a reading one (GET requests,
    ``make_read_engine``), each with its session factory. Built once from ``DATABASE_URL``."""

    engine: Engine
    read_engine: Engine
    session_factory: sessionmaker
    read_session_factory: sessionmaker

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = make_engine(url)
        read_engine = make_read_engine(engine)
        return cls(
            engine=engine,
            read_engine=read_engine,
            session_factory=make_session_factory(engine),
            read_session_factory=make_session_factory(read_engine),
        )

    def close(self) -> None:
        """Release the pooled connections (tests and short-lived commands)."""
        self.read_engine.dispose()
        self.engine.dispose()
