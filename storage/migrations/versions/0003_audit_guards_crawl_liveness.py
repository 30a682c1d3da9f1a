"""Audit guards against id reuse (REPLACE, UPSERT); crawl liveness (host, heartbeat).

Revision ID: 0003
Revises: 0001
Create Date: 2025-12-02

SQLite: two insert triggers on audit. REPLACE INTO deletes a conflicting row without
firing DELETE triggers, and INSERT ... ON CONFLICT DO UPDATE can change it, so any insert
whose id is already taken is refused, and no row may get an id below 1 (SQLite shows an id
it is about to assign as -1 inside a BEFORE trigger). PostgreSQL: the primary key already
refuses a reused id and the statement-level UPDATE trigger refuses any UPSERT that would
update; its triggers become ENABLE ALWAYS so a replica-role session does not skip them.
A trigger that is disabled when this runs stays disabled, so the check Trawl runs on every
open still reports the tampering instead of this migration hiding it.

crawls gains host and heartbeat_at (pid exists since 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_REFUSAL = "audit is append-only"

SQLITE_INSERT_GUARDS = (
    f"""CREATE TRIGGER audit_no_reuse BEFORE INSERT ON audit
    WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}: an audit id cannot be reused'); END""",
    f"""CREATE TRIGGER audit_positive_id AFTER INSERT ON audit WHEN NEW.id < 1
    BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}: audit ids start at 1'); END""",
)
PG_TRIGGERS = ("audit_no_update_delete", "audit_no_truncate")


def upgrade() -> None:
    op.add_column("crawls", sa.Column("host", sa.String(length=255), nullable=True))
    op.add_column("crawls", sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        enabled = bind.execute(
            sa.text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('audit') "
                "AND tgname = ANY(:names) AND tgenabled = 'O'"
            ),
            {"names": list(PG_TRIGGERS)},
        ).scalars()
        for name in list(enabled):
            op.execute(f"ALTER TABLE audit ENABLE ALWAYS TRIGGER {name}")
    else:
        for statement in SQLITE_INSERT_GUARDS:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        enabled = bind.execute(
            sa.text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('audit') "
                "AND tgname = ANY(:names) AND tgenabled = 'A'"
            ),
            {"names": list(PG_TRIGGERS)},
        ).scalars()
        for name in list(enabled):
            op.execute(f"ALTER TABLE audit ENABLE TRIGGER {name}")
        op.drop_column("crawls", "heartbeat_at")
        op.drop_column("crawls", "host")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_positive_id")
        op.execute("DROP TRIGGER IF EXISTS audit_no_reuse")
        # Native DROP COLUMN (SQLite 3.35+): a batch rebuild of crawls would drop the old
        # table, and with foreign keys on that deletes crawl_seeds rows.
        op.execute("ALTER TABLE crawls DROP COLUMN heartbeat_at")
        op.execute("ALTER TABLE crawls DROP COLUMN host")
