"""Audit filter indexes: the Audit page and /api/v1/audit filter by actor, action and date.

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-30

Each filter is paged newest first (ORDER BY id DESC LIMIT n), so (actor, id) and
(action, id) answer a filtered page from the index however long the trail is, and `at`
bounds a date range. Indexes only: no row of the append-only trail is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_actor", "audit", ["actor", "id"])
    op.create_index("ix_audit_action", "audit", ["action", "id"])
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_index("ix_audit_action", table_name="audit")
    op.drop_index("ix_audit_actor", table_name="audit")
