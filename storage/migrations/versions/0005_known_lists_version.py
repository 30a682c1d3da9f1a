"""Known-lists version: one row bumped by every list import or removal.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A matcher saved to disk (crawler/index_cache.py) records the stamp "<instance>:<version>"
it was built from and is rebuilt when the stamp changes. The instance is random per
database, so an index file never passes for another database's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "known_lists_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "instance": uuid.uuid4().hex, "version": 0,
                            "changed_at": None}])


def downgrade() -> None:
    op.drop_table("known_lists_version")
