"""The audit table's append-only guards: what they are, a check, and a repair.

Why a check on every open: triggers are what keep the audit trail append-only, and anyone
who can write the database can drop or disable them (`DROP TRIGGER`, `ALTER TABLE audit
DISABLE TRIGGER`), rewrite the trail, and put them back. Trawl cannot stop the owner of
the file or the table, but it refuses to go on while the guards are gone, so tampering
does not pass silently, and it records their repair in the trail itself.

The migrations install the guards (0001: UPDATE/DELETE/TRUNCATE refused; 0003: no insert
may reuse an id, which closes SQLite's REPLACE and UPSERT). This module describes the same
guards for checking and repairing; tests/test_audit_guards.py proves that a freshly migrated
database passes the check, so the two stay in step. A new trigger on the audit table must
be added here too, or the check reports it as unexpected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from storage.db import UNREAD, StorageError, Unread, revision_applied, schema_revision

if TYPE_CHECKING:
    from storage.db import Store

AUDIT_REFUSAL = "audit is append-only"
REPAIR_COMMAND = "trawl init --repair-audit"
# The revision that added the insert guards; databases migrated only to 0001 lack them.
INSERT_GUARDS_REVISION = "0003"


class AuditGuardError(StorageError):
    """The audit table has lost (some of) its append-only guards; `problems` says which."""

    def __init__(self, display_url: str, problems: Sequence[str], *, dialect: str) -> None:
        self.problems = list(problems)
        who = " as the owner of the tables" if dialect == "postgresql" else ""
        super().__init__(
            f"The audit trail of {display_url} is not protected: {'; '.join(self.problems)}. "
            "While its guards were gone its entries could have been changed or removed, so "
            f"Trawl will not use this database. Run `{REPAIR_COMMAND}`{who} to restore the "
            "guards (the repair is recorded in the trail), then compare the trail with your "
            "last backup."
        )


@dataclass(frozen=True)
class SqliteGuard:
    name: str
    purpose: str
    sql: str  # exactly as the migration creates it (compared with whitespace collapsed)
    since: str = "0001"


SQLITE_GUARDS = (
    SqliteGuard(
        "audit_no_update",
        "refuses UPDATE",
        f"""CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}'); END""",
    ),
    SqliteGuard(
        "audit_no_delete",
        "refuses DELETE",
        f"""CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}'); END""",
    ),
    # REPLACE deletes the old row without firing DELETE triggers, and an UPSERT may update
    # it: both start as an insert of an existing id, which this refuses. SQLite shows an id
    # it will assign itself as -1 here, and no row can have id -1 (next guard).
    SqliteGuard(
        "audit_no_reuse",
        "refuses an insert that reuses an id (REPLACE, UPSERT)",
        f"""CREATE TRIGGER audit_no_reuse BEFORE INSERT ON audit
    WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}: an audit id cannot be reused'); END""",
        since=INSERT_GUARDS_REVISION,
    ),
    SqliteGuard(
        "audit_positive_id",
        "refuses ids below 1",
        f"""CREATE TRIGGER audit_positive_id AFTER INSERT ON audit WHEN NEW.id < 1
    BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}: audit ids start at 1'); END""",
        since=INSERT_GUARDS_REVISION,
    ),
)

PG_FUNCTION = "trawl_audit_append_only"
PG_FUNCTION_SQL = f"""CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{AUDIT_REFUSAL}: % refused', TG_OP;
    END;
    $$"""
PG_FUNCTION_BODY = f"BEGIN RAISE EXCEPTION '{AUDIT_REFUSAL}: % refused', TG_OP; END;"

# pg_trigger.tgtype bits: 1 row-level, 2 before, 4 insert, 8 delete, 16 update, 32 truncate.
# Statement-level, so even an UPDATE or DELETE matching no row (or an UPSERT that would
# update) is refused; ENABLE ALWAYS, so a session_replication_role of replica skips nothing.


@dataclass(frozen=True)
class PgGuard:
    name: str
    purpose: str
    tgtype: int
    sql: str


PG_GUARDS = (
    PgGuard(
        "audit_no_update_delete",
        "refuses UPDATE, DELETE and UPSERT",
        2 | 8 | 16,
        f"""CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()""",
    ),
    PgGuard(
        "audit_no_truncate",
        "refuses TRUNCATE",
        2 | 32,
        f"""CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()""",
    ),
)
_PG_ENABLED = {"O": "enabled", "A": "enabled always"}
_PG_STATES = {"D": "disabled", "R": "enabled only for replication sessions"}


def check_audit_guards(store: Store, *, revision: str | Unread | None = UNREAD) -> None:
    """Raise AuditGuardError unless every guard the database's revision installed is in
    place and enabled. A database without tables yet has nothing to guard. `revision`:
    the schema revision if the caller has just read it."""
    problems = audit_guard_problems(store, revision=revision)
    if problems:
        raise AuditGuardError(store.display_url, problems, dialect=store.dialect)


def audit_guard_problems(store: Store, *, revision: str | Unread | None = UNREAD) -> list[str]:
    """What is wrong with the guards, one short phrase each; [] when all is well."""
    if isinstance(revision, Unread):
        revision = schema_revision(store)
    if revision is None:
        return []
    with store.connect_for_reading() as conn:
        if store.dialect == "postgresql":
            return _pg_problems(conn)
        return _sqlite_problems(conn, revision)


def repair_audit_guards(store: Store, *, actor: str) -> list[str]:
    """Re-create whatever guard is missing, changed or disabled, remove unexpected triggers
    on the audit table, and record what was wrong in the trail (action audit_guards_repaired).

    Returns the problems found ([] when there was nothing to repair, and then nothing is
    written). An audit table that is gone altogether is created empty; the entry says so.
    """
    from storage.audit import append_audit
    from storage.models import AuditEvent

    problems = audit_guard_problems(store)
    if not problems:
        return []
    revision = schema_revision(store)
    try:
        with store.session() as session:
            conn = session.connection()
            if not _has_audit_table(conn, store.dialect):
                AuditEvent.__table__.create(conn)  # type: ignore[attr-defined]
            if store.dialect == "postgresql":
                _pg_repair(conn)
            else:
                _sqlite_repair(conn, revision)
            append_audit(
                session,
                actor=actor,
                action="audit_guards_repaired",
                entity="audit",
                detail={"problems": problems},
            )
    except DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StorageError(
            f"Could not repair the audit guards of {store.display_url}: {reason}. Run "
            f"`{REPAIR_COMMAND}` as the owner of the tables."
        ) from None
    return problems


# --- SQLite ---------------------------------------------------------------------------


def _quoted(name: str) -> str:
    """An identifier found in the catalog, quoted for DDL (it may be any string)."""
    return '"' + name.replace('"', '""') + '"'


def _collapse(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _sqlite_expected(revision: str | None) -> list[SqliteGuard]:
    return [g for g in SQLITE_GUARDS if revision is None or revision_applied(revision, g.since)]


def _sqlite_triggers(conn: Connection) -> dict[str, str]:
    rows = conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")
    )
    return {str(name): str(sql) for name, sql in rows}


def _sqlite_problems(conn: Connection, revision: str) -> list[str]:
    if not _has_audit_table(conn, "sqlite"):
        return ["the audit table itself is missing"]
    found = _sqlite_triggers(conn)
    expected = _sqlite_expected(revision)
    problems = []
    for guard in expected:
        sql = found.get(guard.name)
        if sql is None:
            problems.append(f"trigger {guard.name} (it {guard.purpose}) is missing")
        elif _collapse(sql) != _collapse(guard.sql):
            problems.append(f"trigger {guard.name} (it {guard.purpose}) was changed")
    known = {g.name for g in expected}
    problems += [
        f"an unexpected trigger {name} is on the audit table (it could drop or alter entries)"
        for name in sorted(set(found) - known)
    ]
    return problems


def _sqlite_repair(conn: Connection, revision: str | None) -> None:
    expected = _sqlite_expected(revision)
    found = _sqlite_triggers(conn)
    for name in sorted(set(found) - {g.name for g in expected}):
        conn.exec_driver_sql(f"DROP TRIGGER {_quoted(name)}")
    for guard in expected:
        sql = found.get(guard.name)
        if sql is not None and _collapse(sql) == _collapse(guard.sql):
            continue
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {guard.name}")
        conn.exec_driver_sql(guard.sql)


# --- PostgreSQL -----------------------------------------------------------------------

_PG_TRIGGERS = text(
    """SELECT t.tgname, t.tgtype, t.tgenabled, t.tgqual IS NULL AS unconditional,
              cardinality(t.tgattr::int2[]) = 0 AS every_column, p.proname
       FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
       WHERE t.tgrelid = to_regclass('audit') AND NOT t.tgisinternal"""
)


def _has_audit_table(conn: Connection, dialect: str) -> bool:
    if dialect == "postgresql":
        return conn.execute(text("SELECT to_regclass('audit') IS NOT NULL")).scalar() is True
    return (
        conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'")
        ).first()
        is not None
    )


def _pg_function_ok(conn: Connection) -> bool:
    source = conn.execute(
        text("SELECT prosrc FROM pg_proc WHERE oid = to_regproc(:name)"), {"name": PG_FUNCTION}
    ).scalar()
    return source is not None and _collapse(str(source)) == PG_FUNCTION_BODY


def _pg_problems(conn: Connection) -> list[str]:
    if not _has_audit_table(conn, "postgresql"):
        return ["the audit table itself is missing"]
    problems = []
    if not _pg_function_ok(conn):
        problems.append(f"the trigger function {PG_FUNCTION}() is missing or was changed")
    found = {row.tgname: row for row in conn.execute(_PG_TRIGGERS)}
    for guard in PG_GUARDS:
        row = found.get(guard.name)
        if row is None:
            problems.append(f"trigger {guard.name} (it {guard.purpose}) is missing")
            continue
        if (
            row.tgtype != guard.tgtype
            or row.proname != PG_FUNCTION
            or not row.unconditional
            or not row.every_column
        ):
            problems.append(f"trigger {guard.name} (it {guard.purpose}) was changed")
        if row.tgenabled not in _PG_ENABLED:
            state = _PG_STATES.get(row.tgenabled, f"in state {row.tgenabled!r}")
            problems.append(
                f"trigger {guard.name} (it {guard.purpose}) is {state} "
                "(ALTER TABLE audit DISABLE TRIGGER)"
            )
    problems += [
        f"an unexpected trigger {name} is on the audit table (it could drop or alter entries)"
        for name in sorted(set(found) - {g.name for g in PG_GUARDS})
    ]
    rules = conn.execute(
        text(
            "SELECT rulename FROM pg_rewrite WHERE ev_class = to_regclass('audit') "
            "AND rulename <> '_RETURN' ORDER BY rulename"
        )
    ).scalars()
    problems += [f"a rule {name} rewrites statements on the audit table" for name in rules]
    if conn.execute(
        text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('audit')")
    ).scalar():
        problems.append("row-level security on the audit table can hide entries")
    return problems


def _pg_repair(conn: Connection) -> None:
    conn.execute(text(PG_FUNCTION_SQL))  # text(): its "%" must reach the server as it is
    found = {row.tgname: row for row in conn.execute(_PG_TRIGGERS)}
    for name in sorted(set(found) - {g.name for g in PG_GUARDS}):
        conn.exec_driver_sql(f"DROP TRIGGER {_quoted(name)} ON audit")
    for guard in PG_GUARDS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {guard.name} ON audit")
        conn.exec_driver_sql(guard.sql)
        conn.exec_driver_sql(f"ALTER TABLE audit ENABLE ALWAYS TRIGGER {guard.name}")
    rules = conn.execute(
        text(
            "SELECT rulename FROM pg_rewrite WHERE ev_class = to_regclass('audit') "
            "AND rulename <> '_RETURN'"
        )
    ).scalars()
    for name in list(rules):
        conn.exec_driver_sql(f"DROP RULE {_quoted(name)} ON audit")
    conn.exec_driver_sql("ALTER TABLE audit DISABLE ROW LEVEL SECURITY")
