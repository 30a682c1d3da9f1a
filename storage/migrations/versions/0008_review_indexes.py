"""Indexes for the web app's review queue, claims, listings and dashboard.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30

The review queue reads pending images of a tier in the order confidence descending, then
oldest: ix_hit_review_order holds that order, so a page is an index range even with a
million pending images. The rest serve claims (own batch, everyone's live claims), listings
by state and host, the dashboard's still-live and due re-notice figures, and an image's
notices.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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
    ("ix_hit_status_notified", "hits", ("status", "notified_at")),
    ("ix_hit_status_renotice", "hits", ("status", "renotice_due_at")),
    ("ix_media_host", "media", ("host",)),
    ("ix_notice_item_hit", "notice_items", ("hit_id",)),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, list(columns))


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
