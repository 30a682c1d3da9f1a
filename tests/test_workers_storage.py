"""Writers of several workers at once on one database: one row per media URL and match, no
IntegrityError, no lost or double counter (storage.workers), on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from storage.crawls import get_crawl, start_crawl
from storage.db import open_store
from storage.hits import list_hits
from storage.known import KnownHashIn, import_known_list
from storage.records import MatchIn, MediaRecord
from storage.workers import LeasedCrawlWriter, crawl_worker_counts

SHA = "ab" * 32


def _known_id(store: Any) -> int:
    import_known_list(store, name="l", fmt="csv", source_file="t", actor="test",
                      entries=[KnownHashIn(hash_type="sha256", value=SHA, label="x")])
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT id FROM known_hashes")).scalar_one())


def _count(store: Any, sql: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_two_writers_racing_on_the_same_media_and_match_make_one_row(db_url: str) -> None:
    store = open_store(db_url)
    try:
        known = _known_id(store)
        crawl_id = start_crawl(store, start_urls=["http://site.test/"], seed_ids=[])
        rounds, errors = 25, []
        barrier = threading.Barrier(2)

        def writer(name: str) -> None:
            out = LeasedCrawlWriter(store, crawl_id, name, flush_interval=3600, batch_size=10**6)
            try:
                for n in range(rounds):
                    url = f"http://img.test/{n}.png"
                    out.add(MediaRecord(url=url, sha256=SHA, host="img.test"),
                            [f"http://site.test/p{n}"],
                            [MatchIn(known_hash_id=known, hash_type="sha256", distance=0)])
                    # The same request (crawled twice) and one request of each writer's own.
                    out.done(f"{name}/{n}", f"shared-{n}", {"images": 1, "hits": 1})
                    out.done(f"{name}/own{n}", f"{name}-{n}", {"pages": 1})
                    barrier.wait(timeout=30)
                    out.flush()
                    assert len(out.take_committed()) == 2
            except BaseException as exc:  # reported below: a thread's exception is lost
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert _count(store, "SELECT count(*) FROM media") == rounds
        assert _count(store, "SELECT count(DISTINCT url) FROM media") == rounds
        assert _count(store, "SELECT count(*) FROM hits") == rounds
        assert len(list_hits(store)) == rounds
        assert _count(store, "SELECT count(*) FROM hit_matches") == rounds
        assert _count(store, "SELECT count(*) FROM observations") == rounds
        crawl = get_crawl(store, crawl_id)
        assert (crawl.images, crawl.hits, crawl.pages) == (rounds, rounds, 2 * rounds)
        shares = {w.worker_id: w for w in crawl_worker_counts(store, crawl_id)}
        assert sum(w.images for w in shares.values()) == rounds
        assert sum(w.requests for w in shares.values()) == 3 * rounds
        assert shares["w0"].pages == shares["w1"].pages == rounds
    finally:
        store.close()


def test_an_observation_waits_for_its_image_row_and_holds_its_request(db_url: str) -> None:
    store = open_store(db_url)
    try:
        crawl_id = start_crawl(store, start_urls=["http://site.test/"], seed_ids=[])
        page_worker = LeasedCrawlWriter(store, crawl_id, "a", flush_interval=3600)
        image_worker = LeasedCrawlWriter(store, crawl_id, "b", flush_interval=3600)
        page_worker.add_leased_observation("http://img.test/x.png", "http://site.test/p", "a/1")
        page_worker.done("a/1", "page-p", {"pages": 1})
        page_worker.flush()
        assert page_worker.take_committed() == []  # the image has no row yet
        assert _count(store, "SELECT count(*) FROM observations") == 0
        image_worker.add(MediaRecord(url="http://img.test/x.png"), [], [])
        image_worker.done("b/1", "image-x", {"images": 1})
        image_worker.flush()
        assert image_worker.take_committed() == ["b/1"]
        page_worker.flush()  # writes the observation, and commits its request with it
        assert _count(store, "SELECT count(*) FROM observations") == 1
        assert page_worker.take_committed() == ["a/1"]
        assert get_crawl(store, crawl_id).pages == 1
        page_worker.flush()
        assert page_worker.take_committed() == []  # once

        # A request waiting for two images commits with the flush that writes the second.
        for n in (1, 2):
            page_worker.add_leased_observation(f"http://img.test/y{n}.png",
                                               "http://site.test/r", "a/3")
        page_worker.done("a/3", "page-r", {"pages": 1})
        image_worker.add(MediaRecord(url="http://img.test/y1.png"), [], [])
        image_worker.flush()
        page_worker.flush()
        assert page_worker.take_committed() == []  # y2 has no row yet
        assert get_crawl(store, crawl_id).pages == 1
        image_worker.add(MediaRecord(url="http://img.test/y2.png"), [], [])
        image_worker.flush()
        page_worker.flush()
        assert page_worker.take_committed() == ["a/3"]
        assert _count(store, "SELECT count(*) FROM observations") == 3
        assert get_crawl(store, crawl_id).pages == 2

        page_worker.add_leased_observation("http://img.test/never.png", "http://site.test/q",
                                           "a/2")
        page_worker.done("a/2", "page-q", {"pages": 1})
        page_worker.flush()
        assert page_worker.abandon_waiting() == 1  # the crawl ended without that image
        page_worker.flush()
        assert page_worker.take_committed() == ["a/2"]
        assert get_crawl(store, crawl_id).pages == 3
    finally:
        store.close()
