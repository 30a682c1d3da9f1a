"""Migration 0007 on a database at 0005 holding crawls, media and hits (both dialects)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from storage.crawls import get_crawl, start_crawl
from storage.db import alembic_config, open_store, schema_revision, url_key
from storage.migrations import HEAD_REVISION
from storage.records import MediaRecord
from storage.workers import LeasedCrawlWriter, crawl_worker_counts, list_workers

T = datetime(2026, 1, 2, 3, 4, 5)


def test_upgrade_from_0005_keeps_rows_and_adds_worker_bookkeeping(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False, create=True)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0005")
            conn.execute(sa.text(
                "INSERT INTO crawls (started_at, outcome, start_urls, pages, images, "
                "hashed, hits, errors, stats) VALUES (:t, 'finished', '[]', 4, 3, 3, 1, 0, "
                "'{}')"), {"t": T})
            conn.execute(sa.text(
                "INSERT INTO media (url, url_key, host, sha256, fetch_status, first_seen, "
                "last_seen, last_crawl_id) VALUES ('http://img.test/a.png', :k, "
                "'img.test', :s, 'ok', :t, :t, 1)"),
                {"k": url_key("http://img.test/a.png"), "s": "2" * 64, "t": T})
    finally:
        store.close()

    store = open_store(fresh_db_url)  # migrates to head
    try:
        assert schema_revision(store) == HEAD_REVISION
        old = get_crawl(store, 1)
        assert (old.pages, old.images, old.hits, old.frontier) == (4, 3, 1, None)
        crawl_id = start_crawl(store, start_urls=["http://site.test/"], seed_ids=[],
                               frontier="redis://queue:6379/0")
        assert get_crawl(store, crawl_id).frontier == "redis://queue:6379/0"
        writer = LeasedCrawlWriter(store, crawl_id, "w1")
        writer.add(MediaRecord(url="http://img.test/a.png"), ["http://site.test/"], [])
        writer.done("w1/1", "image a", {"images": 1})
        writer.close()
        assert [(w.worker_id, w.images) for w in crawl_worker_counts(store, crawl_id)] == [
            ("w1", 1)]
        assert list_workers(store) == []
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM media")).scalar_one() == 1
        with store.engine.begin() as conn:  # and back down again
            command.downgrade(alembic_config(connection=conn), "0005")
        with store.engine.connect() as conn:
            assert "workers" not in sa.inspect(conn).get_table_names()
            assert conn.execute(sa.text("SELECT pages FROM crawls WHERE id = 1")).scalar_one() == 4
    finally:
        store.close()
