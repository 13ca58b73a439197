"""The Alembic migrations build exactly the schema the models describe, and unwind cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crm_core.db import Base, make_engine
from migrations import upgrade


def test_migrated_database_matches_the_models(deps):
    with deps.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_and_upgrade_again(tmp_path):
    from alembic import command

    from migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(url)
    assert "customer_phones" in inspect(engine).get_table_names()
    engine.dispose()
