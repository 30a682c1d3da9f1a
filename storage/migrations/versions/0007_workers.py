"""Distributed crawling: workers, each worker's share of a crawl, committed requests.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30

New tables and one nullable column, so existing rows are untouched: `crawls.frontier`
(the Redis URL a distributed crawl runs on; NULL for the crawls of one process),
`workers` (each `trawl worker` process and its heartbeat), `crawl_workers` (the counters
each worker added to a crawl) and `crawl_requests_done` (lease bookkeeping: a request
re-crawled after its worker died between committing and releasing it counts once). The
known-lists version the workers reload on is revision 0005's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("requests", "pages", "images", "hashed", "hits", "errors")


def upgrade() -> None:
    with op.batch_alter_table("crawls") as batch:
        batch.add_column(sa.Column("frontier", sa.String(length=255), nullable=True))
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("frontier", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("crawl_id", sa.Integer(), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "crawl_workers",
        sa.Column("crawl_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.ForeignKeyConstraint(["crawl_id"], ["crawls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("crawl_id", "worker_id"),
    )
    op.create_table(
        "crawl_requests_done",
        sa.Column("crawl_id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["crawl_id"], ["crawls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("crawl_id", "request_key"),
    )


def downgrade() -> None:
    op.drop_table("crawl_requests_done")
    op.drop_table("crawl_workers")
    op.drop_table("workers")
    with op.batch_alter_table("crawls") as batch:
        batch.drop_column("frontier")
