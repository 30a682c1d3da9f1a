"""Variants: which crop of a known item a known hash is; a media row's variant hashes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Lists made with `trawl hash --variants crops` carry, besides each image's own hashes, the
hashes of a documented set of its crops, marked with the crop's name (crop-centre-90, ...)
under the same label. Existing rows are full-image hashes: the new column is NULL for them.

A crawled image's query-side variants (the picture inside a frame, without a caption band)
are kept with its media row like its orientation hashes, so a rematch or a 304 re-fetch
finds such copies without the image; images crawled before have none (NULL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: on SQLite and PostgreSQL alike a plain ALTER
    # TABLE ADD COLUMN, which rewrites no rows.
    op.add_column("known_hashes", sa.Column("variant", sa.String(length=32), nullable=True))
    op.add_column("media", sa.Column("variant_hashes", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not a batch (copy and rename) on SQLite: dropping the old media or known_hashes table
    # would cascade to the observations, hits and matches that reference it. SQLite drops
    # a column in place since 3.35 (2021).
    for table, column in (("media", "variant_hashes"), ("known_hashes", "variant")):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
