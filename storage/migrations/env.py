"""Alembic environment: runs migrations on the connection storage.db hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from storage.db import PG_MIGRATION_LOCK_KEY, open_store
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two processes on a fresh database: the second waits, then finds it at head.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("Configure Alembic with storage.db.alembic_config(url=...).")
    store = open_store(url, migrate=False)  # same URL handling and SQLite set-up as Trawl
    try:
        with store.engine.begin() as conn:
            _run(conn)
    finally:
        store.close()


if context.is_offline_mode():
    raise SystemExit("Trawl migrations run online only: open_store() or `trawl init`.")
run_migrations_online()
