"""Indexes for the web app's review queue, claims and listings; pre-aggregated figures.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30

The review queue reads pending images of a tier in the order confidence descending, then
oldest: ix_hit_review_order holds that order, so a page is an index range even with a
million pending images. The rest serve claims (own batch, everyone's live claims), listings
by state and host, the dashboard's still-live and due re-notice figures, and an image's
notices.

The dashboard's figures at a million images: hit_state_counts holds images per (state,
tier) as +1/-1 deltas written by triggers on hits (backfilled here from the hits), and
takedown_changes gets a row from triggers whenever the takedown figures can move, so the
time to removal per provider (stats_snapshots) is recomputed only then. The triggers are
in storage/statstriggers.py, shared with the check in tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import statstriggers

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: tuple[tuple[str, str, tuple[str | sa.TextClause, ...]], ...] = (
    ("ix_hit_review_order", "hits",
     ("status", "tier", sa.text("confidence DESC"), "created_at", "id")),
    ("ix_hit_claimed_by", "hits", ("claimed_by", "claimed_until")),
    ("ix_hit_claimed_until", "hits", ("claimed_until",)),
    ("ix_hit_status_id", "hits", ("status", "id")),
    ("ix_hit_status_notified", "hits", ("status", "notified_at", "id")),
    ("ix_hit_status_renotice", "hits", ("status", "renotice_due_at")),
    ("ix_media_host", "media", ("host",)),
    ("ix_notice_item_hit", "notice_items", ("hit_id",)),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, list(columns))
    op.create_table(
        "hit_state_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "takedown_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "stats_snapshots",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    conn = op.get_bind()
    statstriggers.install(conn)
    statstriggers.rebuild_counts(conn)


def downgrade() -> None:
    statstriggers.remove(op.get_bind())
    for table in ("stats_snapshots", "takedown_changes", "hit_state_counts"):
        op.drop_table(table)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
