"""One hit per image: matches become evidence rows of their image's hit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Before: a hit was one (image, known hash) pair, so an exact copy matched by md5, sha256 and
PDQ was three hits to decide. After: one hit per media row, carrying every match in
hit_matches. Existing hits of one image merge into the one with the smallest id; the
others' ids are kept in hit_aliases so their audit entries stay in the image's history
(the audit trail is append-only and is not rewritten). Votes, notice items and
suppressions move to the merged hit. The merged status is the furthest the image got:
live, notified, removed (only if every takedown-stage hit was removed), confirmed,
pending, and rejected only when every hit of the image was rejected.

SQLite rebuilds the hits table (it cannot drop constrained columns); storage.db runs
migrations with foreign keys off, as SQLite prescribes for table rebuilds, and this
migration checks them before it ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The thresholds older hits were matched at were not recorded: the registry's defaults then.
DEFAULT_THRESHOLDS = {"phash": 6, "dhash": 4, "pdq": 31}
# Which status an image's merged hit takes, most telling first.
MERGE_ORDER = ("live", "notified", "removed", "confirmed", "pending", "rejected")
TAKEDOWN = ("live", "notified", "removed")


def upgrade() -> None:
    op.create_table(
        "hit_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("known_hash_id", sa.Integer(), nullable=False),
        sa.Column("hash_type", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("transform", sa.String(length=32), nullable=True),
        sa.Column("crawl_id", sa.Integer(), nullable=True),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["crawl_id"], ["crawls.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["known_hash_id"], ["known_hashes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hit_id", "known_hash_id", name="uq_hit_match"),
    )
    op.create_index("ix_hit_match_known_hash", "hit_matches", ["known_hash_id"], unique=False)
    op.create_table(
        "hit_aliases",
        sa.Column("old_id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("old_id"),
    )
    conn = op.get_bind()
    _copy_matches(conn)
    _merge_images(conn)
    with op.batch_alter_table("hits") as batch:
        batch.drop_index("ix_hit_known_hash")
        batch.drop_index("ix_hit_status")
        batch.drop_constraint("uq_hit", type_="unique")
        if conn.dialect.name == "postgresql":
            batch.drop_constraint("hits_known_hash_id_fkey", type_="foreignkey")
        batch.drop_column("known_hash_id")
        batch.drop_column("hash_type")
        batch.drop_column("distance")
        batch.drop_column("transform")
        batch.add_column(sa.Column("vote_floor", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.create_unique_constraint("uq_hit_media", ["media_id"])
        batch.create_index("ix_hit_queue", ["status", "tier", "confidence", "created_at"])
    with op.batch_alter_table("hits") as batch:
        batch.alter_column("vote_floor", server_default=None)
    if conn.dialect.name == "sqlite":
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")


def _copy_matches(conn: Any) -> None:
    """Every old hit becomes a match of its image's merged hit (the smallest id)."""
    default = "CASE hits.hash_type " + " ".join(
        f"WHEN '{name}' THEN {value}" for name, value in DEFAULT_THRESHOLDS.items()) + " ELSE 0 END"
    conn.execute(sa.text(
        "INSERT INTO hit_matches (hit_id, known_hash_id, hash_type, distance, threshold, "
        "confidence, tier, transform, crawl_id, found_at) "
        "SELECT rep.id, hits.known_hash_id, hits.hash_type, hits.distance, "
        f"CASE WHEN hits.distance > {default} THEN hits.distance ELSE {default} END, "
        "hits.confidence, hits.tier, hits.transform, hits.crawl_id, hits.created_at "
        "FROM hits JOIN (SELECT media_id, MIN(id) AS id FROM hits GROUP BY media_id) rep "
        "ON rep.media_id = hits.media_id ORDER BY hits.id"
    ))


def _merge_images(conn: Any) -> None:
    """Images that had several hits: one status, grade and set of claims, votes, notice
    items and suppressions on the merged hit; the other ids become aliases."""
    hits = sa.table("hits", *(sa.column(c) for c in (
        "id", "media_id", "status", "tier", "confidence", "claimed_by", "claimed_until",
        "notified_at", "last_checked_at", "renotice_due_at", "removed_at", "updated_at")))
    groups: dict[int, list[Any]] = defaultdict(list)
    for row in conn.execute(
            sa.select(hits).where(hits.c.media_id.in_(
                sa.select(hits.c.media_id).group_by(hits.c.media_id)
                .having(sa.func.count() > 1)))
            .order_by(hits.c.media_id, hits.c.id)):
        groups[row.media_id].append(row)
    for rows in groups.values():
        keep, others = rows[0], rows[1:]
        _merge_one(conn, hits, keep, rows)
        for old in others:
            _move_children(conn, old.id, keep.id)
            conn.execute(sa.text("INSERT INTO hit_aliases (old_id, hit_id) VALUES (:o, :k)"),
                         {"o": old.id, "k": keep.id})
            conn.execute(sa.text("DELETE FROM hits WHERE id = :o"), {"o": old.id})


def _merge_one(conn: Any, hits: Any, keep: Any, rows: list[Any]) -> None:
    status = min((r.status for r in rows), key=MERGE_ORDER.index)
    if status == "removed" and any(r.status in ("live", "notified") for r in rows):
        status = "live"
    lead = next(r for r in rows if r.status == status)
    best = min(rows, key=lambda r: (0 if r.tier == "high" else 1, -r.confidence))
    notified = [r.notified_at for r in rows if r.notified_at is not None]
    checked = [r.last_checked_at for r in rows if r.last_checked_at is not None]
    conn.execute(hits.update().where(hits.c.id == keep.id).values(
        status=status, tier=best.tier, confidence=best.confidence,
        claimed_by=lead.claimed_by, claimed_until=lead.claimed_until,
        notified_at=min(notified) if notified else None,
        last_checked_at=max(checked) if checked else None,
        renotice_due_at=lead.renotice_due_at,
        removed_at=lead.removed_at if status == "removed" else None,
        updated_at=max(r.updated_at for r in rows),
    ))


def _move_children(conn: Any, old: int, keep: int) -> None:
    """Votes, notice items and suppressions of a merged-away hit go to the one kept."""
    conn.execute(sa.text(
        "DELETE FROM hit_votes WHERE hit_id = :o AND EXISTS (SELECT 1 FROM hit_votes k "
        "WHERE k.hit_id = :k AND k.actor = hit_votes.actor AND k.decision = hit_votes.decision)"
    ), {"o": old, "k": keep})
    conn.execute(sa.text("UPDATE hit_votes SET hit_id = :k WHERE hit_id = :o"),
                 {"o": old, "k": keep})
    conn.execute(sa.text(
        "DELETE FROM notice_items WHERE hit_id = :o AND EXISTS (SELECT 1 FROM notice_items k "
        "WHERE k.hit_id = :k AND k.notice_id = notice_items.notice_id)"
    ), {"o": old, "k": keep})
    conn.execute(sa.text("UPDATE notice_items SET hit_id = :k WHERE hit_id = :o"),
                 {"o": old, "k": keep})
    conn.execute(sa.text("UPDATE suppressions SET hit_id = :k WHERE hit_id = :o"),
                 {"o": old, "k": keep})


def downgrade() -> None:
    """Back to one hit per (image, known hash), as far as one row per image allows: each
    image keeps its hit with its best match as that hit's known hash (the other matches
    and the aliases are dropped). For development databases, not for going back in use."""
    conn = op.get_bind()
    with op.batch_alter_table("hits") as batch:
        batch.drop_index("ix_hit_queue")
        batch.drop_constraint("uq_hit_media", type_="unique")
        batch.drop_column("vote_floor")
        batch.add_column(sa.Column("known_hash_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("hash_type", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("distance", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("transform", sa.String(length=32), nullable=True))
    best = (
        "SELECT {col} FROM hit_matches m WHERE m.hit_id = hits.id "
        "ORDER BY CASE m.tier WHEN 'high' THEN 0 ELSE 1 END, m.confidence DESC, m.id LIMIT 1"
    )
    conn.execute(sa.text(
        "UPDATE hits SET " + ", ".join(
            f"{col} = ({best.format(col=col)})"
            for col in ("known_hash_id", "hash_type", "distance", "transform"))
    ))
    conn.execute(sa.text("DELETE FROM hits WHERE known_hash_id IS NULL"))
    with op.batch_alter_table("hits") as batch:
        batch.alter_column("known_hash_id", nullable=False)
        batch.alter_column("hash_type", nullable=False)
        batch.alter_column("distance", nullable=False)
        batch.create_foreign_key("hits_known_hash_id_fkey", "known_hashes", ["known_hash_id"],
                                 ["id"], ondelete="CASCADE")
        batch.create_unique_constraint("uq_hit", ["media_id", "known_hash_id"])
        batch.create_index("ix_hit_known_hash", ["known_hash_id"])
        batch.create_index("ix_hit_status", ["status"])
    op.drop_table("hit_aliases")
    op.drop_index("ix_hit_match_known_hash", table_name="hit_matches")
    op.drop_table("hit_matches")
