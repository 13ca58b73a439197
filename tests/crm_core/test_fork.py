"""rq runs every job in a forked work horse: the child must not use the connections its
parent pooled (two processes on one socket), and the parent's must survive the child."""

from __future__ import annotations

import os

from sqlalchemy import select, text

from crm_core.db import make_engine


def _marker(connection) -> str:
    if connection.dialect.name == "postgresql":
        return str(connection.execute(text("SELECT pg_backend_pid()")).scalar())
    return str(id(connection.connection.dbapi_connection))


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents(database_url, tmp_path):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            parent = _marker(connection)
        out = tmp_path / "child"
        pid = os.fork()
        if pid == 0:  # the work horse
            try:
                with engine.connect() as connection:
                    out.write_text(
                        _marker(connection) + " " + str(connection.execute(select(1)).scalar())
                    )
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        child, answered = out.read_text().split()
        assert answered == "1" and child != parent
        with engine.connect() as connection:  # the parent's pooled connection still works
            assert _marker(connection) == parent
            assert connection.execute(select(1)).scalar() == 1
    finally:
        engine.dispose()
