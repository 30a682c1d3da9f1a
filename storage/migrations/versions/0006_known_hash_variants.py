"""Known-hash variants: which crop (or trimmed picture) of a known item a hash is.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Lists made with `trawl hash --variants crops` carry, besides each image's own hashes, the
hashes of a documented set of its crops, marked with the crop's name (crop-centre-90, ...)
under the same label. Existing rows are full-image hashes: the new column is NULL for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: on SQLite and PostgreSQL alike a plain ALTER
    # TABLE ADD COLUMN, which rewrites no rows.
    op.add_column("known_hashes", sa.Column("variant", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("known_hashes") as batch:
        batch.drop_column("variant")
