"""Migration 0008 (review indexes) on a database at 0005 that holds hits and notices."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from storage.db import alembic_config, open_store, schema_revision
from storage.migrations import HEAD_REVISION
from storage.review import review_queue
from storage.stats import takedown_stats

T = datetime(2026, 1, 2, 3, 4, 5)
NEW_INDEXES = {
    "hits": {"ix_hit_review_order", "ix_hit_claimed_by", "ix_hit_claimed_until",
             "ix_hit_status_id", "ix_hit_status_notified", "ix_hit_status_renotice"},
    "media": {"ix_media_host"},
    "notice_items": {"ix_notice_item_hit"},
}


def database_at_0005(url: str) -> None:
    store = open_store(url, migrate=False, create=True)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0005")

            def run(sql: str, **params: object) -> None:
                conn.execute(sa.text(sql), params)

            run("INSERT INTO known_lists (id, name, format, imported_at, entry_count, "
                "duplicate_count) VALUES (1, 'iwf', 'csv', :t, 3, 0)", t=T)
            for n in (1, 2, 3):
                run("INSERT INTO known_hashes (id, list_id, hash_type, value, label) VALUES "
                    "(:n, 1, 'sha256', :v, 'item')", n=n, v=f"{n}" * 64)
                run("INSERT INTO media (id, url, url_key, host, sha256, fetch_status, "
                    "first_seen, last_seen) VALUES (:n, :u, :k, 'img.test', :v, 'ok', :t, :t)",
                    n=n, u=f"http://img.test/{n}.jpg", k=f"{n:064x}", v=f"{n}" * 64, t=T)
            for n, status, claimed_by in ((1, "pending", "ann"), (2, "pending", None),
                                          (3, "notified", None)):
                run("INSERT INTO hits (id, media_id, confidence, tier, status, created_at, "
                    "updated_at, claimed_by, claimed_until, notified_at, vote_floor) VALUES "
                    "(:n, :n, 1.0, 'high', :s, :t, :t, :c, :u, :na, 0)",
                    n=n, s=status, t=T, c=claimed_by,
                    u=datetime(2099, 1, 1) if claimed_by else None,
                    na=T if status == "notified" else None)
                run("INSERT INTO hit_matches (hit_id, known_hash_id, hash_type, distance, "
                    "threshold, confidence, tier, found_at) VALUES (:n, :n, 'sha256', 0, 0, "
                    "1.0, 'high', :t)", n=n, t=T)
            run("INSERT INTO notices (id, reference, provider_key, created_at, created_by, "
                "sent_at, sent_by, kind) VALUES (1, 'TRAWL-1', 'unattributed:img.test', :t, "
                "'tom', :t, 'tom', 'initial')", t=T)
            run("INSERT INTO notice_items (notice_id, hit_id) VALUES (1, 3)")
    finally:
        store.close()


def index_names(store: object, table: str) -> set[str]:
    inspector = sa.inspect(store.engine)  # type: ignore[attr-defined]
    return {ix["name"] for ix in inspector.get_indexes(table)}


def test_upgrade_from_0005_keeps_rows_and_adds_the_indexes(fresh_db_url: str) -> None:
    database_at_0005(fresh_db_url)
    store = open_store(fresh_db_url)  # migrates to head
    try:
        assert schema_revision(store) == HEAD_REVISION
        for table, names in NEW_INDEXES.items():
            assert names <= index_names(store, table), table
        queue = review_queue(store, actor="ann", now=T)
        assert [h.id for h in queue.mine] == [1]
        assert [h.id for h in queue.next_up] == [2]
        stats = takedown_stats(store, now=T)
        assert stats.hits_by_status["pending"] == 2
        assert [(p.provider, p.notified, p.still_live) for p in stats.providers] == [
            ("unattributed (img.test)", 1, 1)]
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0005")
        for table, names in NEW_INDEXES.items():
            assert not names & index_names(store, table), table
        with store.engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM hits")) == 3
    finally:
        store.close()
