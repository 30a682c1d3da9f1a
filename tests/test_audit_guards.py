"""The audit trail cannot be rewritten: REPLACE, UPSERT and id reuse are refused, and every
open notices guards that were dropped, changed or disabled until `trawl init --repair-audit`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from crawler.cli.main import cli
from storage.audit import append_audit, list_audit
from storage.auditguards import (
    AuditGuardError,
    audit_guard_problems,
    check_audit_guards,
    repair_audit_guards,
)
from storage.db import Store, alembic_config, open_store

pytestmark = pytest.mark.hostile

INSERT_COLUMNS = "(id, at, actor, action, entity)"
ROW_1_AGAIN = f"INSERT INTO audit {INSERT_COLUMNS} VALUES (1, '2020-01-01', 'mallory', 'x', 'hit')"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    with opened.session() as session:
        append_audit(session, actor="alice", action="confirm", entity="hit", entity_id=1)
    yield opened
    opened.close()


def _execute(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _row_1_is_alices(store: Store) -> None:
    events = list_audit(store)
    assert [(e.id, e.actor, e.action) for e in events][:1] == [(1, "alice", "confirm")]


def _tamper_guard(store: Store) -> str:
    """Drop the guard that refuses UPDATE; returns its name."""
    if store.dialect == "postgresql":
        _execute(store, "DROP TRIGGER audit_no_update_delete ON audit")
        return "audit_no_update_delete"
    _execute(store, "DROP TRIGGER audit_no_update")
    return "audit_no_update"


# --- what the guards refuse -----------------------------------------------------------


def test_a_freshly_migrated_database_has_every_guard(db_url: str) -> None:
    store = open_store(db_url)
    try:
        assert audit_guard_problems(store) == []
        check_audit_guards(store)
    finally:
        store.close()


def test_replace_into_audit_cannot_replace_row_1(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        with store.session() as session:
            append_audit(session, actor="alice", action="confirm", entity="hit", entity_id=1)
        for verb in ("REPLACE", "INSERT OR REPLACE"):
            statement = ROW_1_AGAIN.replace("INSERT", verb, 1)
            with pytest.raises(sa.exc.DBAPIError, match="an audit id cannot be reused"):
                _execute(store, statement)
        _row_1_is_alices(store)
        assert len(list_audit(store)) == 1
    finally:
        store.close()


@pytest.mark.parametrize(
    "conflict", ["ON CONFLICT (id) DO UPDATE SET actor = 'mallory'", "ON CONFLICT DO NOTHING"]
)
def test_upsert_cannot_change_row_1(store: Store, conflict: str) -> None:
    if store.dialect == "postgresql" and "NOTHING" in conflict:
        _execute(store, f"{ROW_1_AGAIN} {conflict}")  # harmless there: nothing is written
    else:
        with pytest.raises(sa.exc.DBAPIError, match="audit is append-only"):
            _execute(store, f"{ROW_1_AGAIN} {conflict}")
    _row_1_is_alices(store)
    assert len(list_audit(store)) == 1


def test_an_insert_reusing_an_id_is_refused(store: Store) -> None:
    # SQLite: the insert guard; PostgreSQL: the primary key.
    with pytest.raises(sa.exc.IntegrityError):
        _execute(store, ROW_1_AGAIN)
    _row_1_is_alices(store)


def test_ids_below_1_are_refused_so_sqlite_cannot_be_made_to_refuse_every_insert(
    sqlite_url: str,
) -> None:
    # Inside a BEFORE INSERT trigger SQLite shows an id it will assign as -1: a row with id
    # -1 would make the reuse guard refuse every ordinary insert.
    store = open_store(sqlite_url)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="audit ids start at 1"):
            _execute(store, ROW_1_AGAIN.replace("VALUES (1,", "VALUES (-1,"))
        with store.session() as session:
            append_audit(session, actor="alice", action="confirm", entity="hit")
        assert [e.id for e in list_audit(store)] == [1]
    finally:
        store.close()


def test_new_ids_still_work_after_explicit_ones(store: Store) -> None:
    _execute(store, ROW_1_AGAIN.replace("VALUES (1,", "VALUES (50,"))
    if store.dialect == "sqlite":  # PostgreSQL's sequence does not look at the rows
        with store.session() as session:
            append_audit(session, actor="bob", action="confirm", entity="hit")
        assert [e.id for e in list_audit(store)] == [1, 50, 51]


@pytest.mark.parametrize("statement", ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"])
def test_update_and_delete_stay_refused(store: Store, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="audit is append-only"):
        _execute(store, statement)
    _row_1_is_alices(store)


# --- every open checks the guards -------------------------------------------------------


def test_a_dropped_guard_stops_every_open_with_the_fix_named(store: Store) -> None:
    name = _tamper_guard(store)
    with pytest.raises(AuditGuardError) as caught:
        open_store(store.url)
    message = str(caught.value)
    assert f"trigger {name}" in message
    assert "is missing" in message
    assert "trawl init --repair-audit" in message
    with pytest.raises(AuditGuardError):
        open_store(store.url, migrate=False)  # a crawl process opens this way


def test_disabled_triggers_are_detected_on_postgresql(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        _execute(store, "ALTER TABLE audit DISABLE TRIGGER audit_no_update_delete")
        with pytest.raises(AuditGuardError, match=r"audit_no_update_delete .* is disabled"):
            open_store(pg_url)
        _execute(store, "ALTER TABLE audit ENABLE TRIGGER audit_no_update_delete",
                 "ALTER TABLE audit DISABLE TRIGGER USER")
        problems = audit_guard_problems(store)
        assert len(problems) == 2
        assert all("disabled" in p for p in problems)
        _execute(store, "ALTER TABLE audit ENABLE REPLICA TRIGGER audit_no_update_delete",
                 "ALTER TABLE audit ENABLE REPLICA TRIGGER audit_no_truncate")
        assert all("only for replication" in p for p in audit_guard_problems(store))
        _execute(store, "ALTER TABLE audit ENABLE TRIGGER USER")  # plain enabled: accepted
        assert audit_guard_problems(store) == []
    finally:
        store.close()


def test_a_changed_guard_is_detected(store: Store) -> None:
    if store.dialect == "postgresql":
        _execute(store, """CREATE OR REPLACE FUNCTION trawl_audit_append_only() RETURNS trigger
                           LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$""")
        expected = "the trigger function trawl_audit_append_only() is missing or was changed"
    else:
        _execute(store, "DROP TRIGGER audit_no_delete",
                 "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN 0 "
                 "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END")
        expected = "trigger audit_no_delete (it refuses DELETE) was changed"
    assert audit_guard_problems(store) == [expected]


def test_an_extra_trigger_that_drops_inserts_is_detected(store: Store) -> None:
    if store.dialect == "postgresql":
        _execute(store, """CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS
                           $$ BEGIN RETURN NULL; END; $$""",
                 "CREATE TRIGGER swallow BEFORE INSERT ON audit FOR EACH ROW "
                 "EXECUTE FUNCTION swallow()",
                 "CREATE RULE quiet AS ON INSERT TO audit WHERE NEW.actor = 'x' DO INSTEAD NOTHING")
    else:
        _execute(store, "CREATE TRIGGER swallow BEFORE INSERT ON audit "
                        "BEGIN SELECT RAISE(IGNORE); END")
    problems = audit_guard_problems(store)
    assert "an unexpected trigger swallow is on the audit table" in problems[0]
    if store.dialect == "postgresql":
        assert problems[1] == "a rule quiet rewrites statements on the audit table"


def test_row_level_security_on_audit_is_detected_on_postgresql(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        _execute(store, "ALTER TABLE audit ENABLE ROW LEVEL SECURITY")
        assert audit_guard_problems(store) == [
            "row-level security on the audit table can hide entries"]
    finally:
        store.close()


def test_migrating_does_not_hide_tampering_done_before_it(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0001")
        if store.dialect == "postgresql":
            _execute(store, "ALTER TABLE audit DISABLE TRIGGER audit_no_truncate")
            expected = "audit_no_truncate"
        else:
            _execute(store, "DROP TRIGGER audit_no_delete")
            expected = "audit_no_delete"
        with pytest.raises(AuditGuardError, match=expected):
            open_store(db_url)  # migrates to head, then checks
    finally:
        store.close()


def test_a_database_at_0001_is_checked_for_the_guards_0001_installs(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0001")
        old = open_store(sqlite_url, migrate=False)  # no complaint about 0003's guards
        old.close()
        _execute(store, "DROP TRIGGER audit_no_update")
        with pytest.raises(AuditGuardError, match="audit_no_update"):
            open_store(sqlite_url, migrate=False)
    finally:
        store.close()


def test_an_empty_database_opened_without_migrating_has_nothing_to_check(db_url: str) -> None:
    open_store(db_url, migrate=False).close()


# --- the repair ---------------------------------------------------------------------------


def test_repair_restores_the_guards_and_records_what_was_wrong(store: Store) -> None:
    name = _tamper_guard(store)
    if store.dialect == "postgresql":
        _execute(store, "ALTER TABLE audit DISABLE TRIGGER audit_no_truncate")
    _execute(store, "UPDATE audit SET actor = 'mallory'")  # what the missing guard let through
    problems = repair_audit_guards(store, actor="admin")
    assert any(name in p for p in problems)
    assert audit_guard_problems(store) == []
    check_audit_guards(store)
    last = list_audit(store)[-1]
    assert (last.actor, last.action, last.entity) == ("admin", "audit_guards_repaired", "audit")
    assert name in (last.detail or "")
    with pytest.raises(sa.exc.DBAPIError, match="audit is append-only"):
        _execute(store, "UPDATE audit SET actor = 'mallory'")
    if store.dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="audit is append-only"):
            _execute(store, "TRUNCATE audit")
    open_store(store.url).close()


def test_repair_with_nothing_wrong_writes_nothing(store: Store) -> None:
    assert repair_audit_guards(store, actor="admin") == []
    assert len(list_audit(store)) == 1


def test_repair_removes_unexpected_triggers(store: Store) -> None:
    if store.dialect == "postgresql":
        _execute(store, """CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS
                           $$ BEGIN RETURN NULL; END; $$""",
                 "CREATE TRIGGER swallow BEFORE INSERT ON audit FOR EACH ROW "
                 "EXECUTE FUNCTION swallow()")
    else:
        _execute(store, "CREATE TRIGGER swallow BEFORE INSERT ON audit "
                        "BEGIN SELECT RAISE(IGNORE); END")
    repair_audit_guards(store, actor="admin")
    assert audit_guard_problems(store) == []
    assert list_audit(store)[-1].action == "audit_guards_repaired"  # not swallowed


def test_a_dropped_audit_table_is_reported_and_recreated_empty(store: Store) -> None:
    _execute(store, "DROP TABLE audit" + (" CASCADE" if store.dialect == "postgresql" else ""))
    with pytest.raises(AuditGuardError, match="the audit table itself is missing"):
        open_store(store.url)
    repair_audit_guards(store, actor="admin")
    (entry,) = list_audit(store)
    assert entry.action == "audit_guards_repaired"
    assert "audit table itself is missing" in (entry.detail or "")
    check_audit_guards(store)


# --- the CLI --------------------------------------------------------------------------------


def test_trawl_init_no_longer_says_ready_when_the_guards_are_gone(store: Store) -> None:
    _tamper_guard(store)
    result = CliRunner().invoke(cli, ["--db", store.url, "init"])
    assert result.exit_code == 1
    assert "Database ready" not in result.output
    assert "trawl init --repair-audit" in result.output


def test_trawl_init_repair_audit(store: Store) -> None:
    name = _tamper_guard(store)
    runner = CliRunner()
    repair = ["--db", store.url, "--as", "admin", "init", "--repair-audit"]
    result = runner.invoke(cli, repair)
    assert result.exit_code == 0, result.output
    assert f"Repaired the audit guards: trigger {name}" in result.output
    assert "Database ready" in result.output
    assert list_audit(store)[-1].actor == "admin"
    again = runner.invoke(cli, repair)
    assert "nothing to repair" in again.output
    plain = CliRunner().invoke(cli, ["--db", store.url, "init"])
    assert plain.exit_code == 0
    assert "Database ready" in plain.output
