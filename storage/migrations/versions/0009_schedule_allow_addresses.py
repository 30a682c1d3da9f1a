"""Schedules: the internal addresses their crawls may reach (--allow-address).

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30

A JSON list of CIDR blocks, like seed_ids; '[]' (every existing schedule) allows nothing
beyond the seeds' own hosts, which is what crawls did by then only because nothing was
checked: the address policy now refuses the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(
            sa.Column("allow_addresses", sa.Text(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("allow_addresses")
