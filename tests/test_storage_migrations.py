"""Schema migrations: applied on first use, idempotent, reversible, and equal to the models."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import alembic_config, head_revision, migrate_store, open_store, schema_revision
from storage.migrations import regenerate
from storage.models import Base

ROOT = Path(__file__).resolve().parents[1]


def test_open_store_migrates_once_and_then_is_a_no_op(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url)
    try:
        assert schema_revision(store) == head_revision()
        tables = set(sa.inspect(store.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert migrate_store(store) is False
    finally:
        store.close()
    again = open_store(fresh_db_url)  # a second process opening a current database
    try:
        assert schema_revision(again) == head_revision()
    finally:
        again.close()


def test_open_store_without_migrate_leaves_database_empty(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False)
    try:
        assert schema_revision(store) is None
        assert migrate_store(store) is True
        assert schema_revision(store) == head_revision()
    finally:
        store.close()


def test_migrated_database_matches_the_models(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


# 0001 is frozen: databases exist at it, later revisions build on it (never edit it).
INITIAL_SHA256 = "47c89d3f729105cafa679c39d0afb1e21b3b74d8ec2f2558b65b7b9f0ea00431"


def test_initial_migration_is_frozen() -> None:
    assert hashlib.sha256(regenerate.INITIAL.read_bytes()).hexdigest() == INITIAL_SHA256
    assert regenerate.main(["--check"]) == 0  # nothing to check any more
    assert regenerate.main([]) == 1  # and it refuses to rewrite 0001
    assert hashlib.sha256(regenerate.INITIAL.read_bytes()).hexdigest() == INITIAL_SHA256


def test_downgrade_removes_everything_and_upgrade_restores_it(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url)
    try:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "base")
        leftover = set(sa.inspect(store.engine).get_table_names()) - {"alembic_version"}
        assert leftover == set()
        assert migrate_store(store) is True
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def test_threads_opening_a_fresh_database_at_once(fresh_db_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def opener() -> None:
        try:
            barrier.wait()
            open_store(fresh_db_url).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_processes_opening_a_fresh_database_at_once(fresh_db_url: str) -> None:
    code = "import sys; from storage.db import open_store; open_store(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, fresh_db_url], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(3)
    ]
    outcomes = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert [err for err, code in outcomes if code != 0] == []
    store = open_store(fresh_db_url, migrate=False)
    try:
        assert schema_revision(store) == head_revision()
    finally:
        store.close()


def test_head_revision_constant_is_alembics_head() -> None:
    """storage.migrations.HEAD_REVISION lets a current database open without Alembic."""
    from storage.db import head_revision
    from storage.migrations import HEAD_REVISION

    assert head_revision() == HEAD_REVISION
