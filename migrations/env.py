"""Alembic environment: the models' metadata, batch mode on SQLite (ALTER TABLE support)."""

from alembic import context

import crm_core.acd  # the ACD's tables (and crm_core.acd_records')
import crm_core.audit  # the audit log
import crm_core.hours  # holidays
import crm_core.models  # noqa: F401  (registers every table on Base.metadata)
import recording.models  # noqa: F401  (recordings, QA scores)
import telephony.models  # noqa: F401
from crm_core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
