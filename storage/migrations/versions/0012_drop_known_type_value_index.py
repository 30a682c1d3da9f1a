"""Drop ix_known_type_value: known_hashes' (hash_type, value) index, which no query used.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Every query on known_hashes goes by id (the primary key), by list (uq_known_hash, whose
leading column is list_id) or reads the whole table; EXPLAIN on PostgreSQL and SQLite at
1.2M rows picked the index for none of them (bench/RESULTS.md, "Importing a known list").
It only cost the import a third b-tree insert per row (on PostgreSQL ~1.4 of the move's
~8 s of server CPU per million rows) and ~90 bytes a row on disk. uq_known_hash
(list_id, hash_type, value) still enforces one entry per value and list, and still answers
"is this value in this list". Downgrade builds the index again.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_known_type_value", table_name="known_hashes")


def downgrade() -> None:
    op.create_index("ix_known_type_value", "known_hashes", ["hash_type", "value"])
