"""CrawlWriter: batched upserts, flush timing, kill safety, suppressions, rematch hits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.audit import list_audit
from storage.crawls import start_crawl
from storage.db import BATCH_SIZES, Store, open_store, utcnow
from storage.hits import CRAWLER_ACTOR
from storage.known import KnownHashIn, import_known_list, iter_known_hashes
from storage.media import (
    CrawlWriter,
    MatchIn,
    MediaRecord,
    get_media_by_url,
    iter_media_digests,
    record_rematch,
)
from storage.models import Hit, HitMatch, Media, Observation, Suppression

ROOT = Path(__file__).resolve().parents[1]
SHA_A, SHA_B = "a1" * 32, "b2" * 32


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def record(url: str, sha256: str | None = SHA_A, **fields: object) -> MediaRecord:
    values: dict[str, object] = {"host": "img.test", "sha256": sha256}
    if sha256:
        values |= {"md5": sha256[:32], "sha1": sha256[:40], "size": 1234, "format": "jpeg",
                   "width": 64, "height": 48, "frames": 1, "phash": "8f" * 8}
    return MediaRecord(url=url, **(values | fields))  # type: ignore[arg-type]


def known_id(store: Store, value: str = SHA_A, name: str = "L") -> int:
    import_known_list(store, name=name, fmt="csv", source_file=None, actor="alice",
                      entries=[KnownHashIn("sha256", value, label="series-1")])
    return next(r.id for r in iter_known_hashes(store) if r.value == value and r.list_name == name)


def count(store: Store, model: type) -> int:
    with store.read_session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_flush_makes_rows_visible_to_another_connection_before_close(store: Store,
                                                                     db_url: str) -> None:
    kid = known_id(store)
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    writer = CrawlWriter(store, crawl, flush_interval=3600, batch_size=1000)
    writer.add(record("http://img.test/a.jpg"), ["http://site.test/1", "http://site.test/2"],
               [MatchIn(kid, "sha256", 0)])
    writer.add(record("http://img.test/b.jpg", SHA_B), ["http://site.test/1"], [])
    other = open_store(db_url, migrate=False)
    try:
        assert count(other, Media) == 0  # buffered, not written
        assert writer.pending == 2 + 3 + 1
        assert writer.flush().new_hits == 1
        assert writer.pending == 0
        assert (count(other, Media), count(other, Observation), count(other, Hit)) == (2, 3, 1)
        writer.add_observation("http://img.test/b.jpg", "http://site.test/3")
        writer.close()
        assert count(other, Observation) == 4
    finally:
        other.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.add(record("http://img.test/c.jpg"), [], [])


def test_batch_size_and_interval_trigger_flushes(store: Store) -> None:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    writer = CrawlWriter(store, crawl, flush_interval=3600, batch_size=3)
    writer.add(record("http://img.test/1.jpg"), ["http://site.test/"], [])  # 2 pending
    assert count(store, Media) == 0
    writer.add(record("http://img.test/2.jpg"), [], [])  # 3 pending: flushes
    assert count(store, Media) == 2
    timed = CrawlWriter(store, crawl, flush_interval=0.2, batch_size=1000)
    timed.add(record("http://img.test/3.jpg"), [], [])
    assert count(store, Media) == 2
    time.sleep(0.3)
    timed.add(record("http://img.test/4.jpg"), [], [])  # interval passed: flushes both
    assert count(store, Media) == 4
    timed.close()
    writer.close()


def test_no_transaction_is_held_between_flushes(sqlite_url: str) -> None:
    import sqlite3

    store = open_store(sqlite_url)
    try:
        crawl = start_crawl(store, start_urls=[], seed_ids=[])
        writer = CrawlWriter(store, crawl, flush_interval=3600)
        writer.add(record("http://img.test/1.jpg"), ["http://site.test/"], [])
        writer.flush()
        writer.add(record("http://img.test/2.jpg"), [], [])  # buffered only
        raw = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0)
        try:
            raw.execute("BEGIN IMMEDIATE")  # 'database is locked' if the writer held one
            raw.rollback()
        finally:
            raw.close()
        writer.close()
    finally:
        store.close()


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from storage.db import open_store
    from storage.media import CrawlWriter, MatchIn, MediaRecord
    url, crawl, known = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = open_store(url, migrate=False)
    writer = CrawlWriter(store, crawl, flush_interval=3600, batch_size=100000)
    for i in range(50):
        sha = f"{i:064x}"
        hits = [MatchIn(known, "sha256", 0)] if i == 0 else []
        page = f"http://p.test/{i}"
        writer.add(MediaRecord(url=f"http://img.test/{i}.png", sha256=sha), [page], hits)
    writer.flush()
    for i in range(50, 80):
        writer.add(MediaRecord(url=f"http://img.test/{i}.png", sha256=f"{i:064x}"), [], [])
    print("flushed", flush=True)
    time.sleep(600)
""")


def test_killed_process_keeps_what_it_flushed(store: Store, db_url: str) -> None:
    kid = known_id(store, value=f"{0:064x}")
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, db_url, str(crawl), str(kid)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "flushed", proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (count(store, Media), count(store, Observation), count(store, Hit)) == (50, 50, 1)
    # The database is usable after the kill (no stale lock, no half-written batch).
    writer = CrawlWriter(store, crawl)
    writer.add(record("http://img.test/after.jpg"), [], [])
    writer.close()
    assert count(store, Media) == 51


def test_media_upsert_keeps_first_seen_and_hashed_digests(store: Store) -> None:
    first_crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, first_crawl) as writer:
        writer.add(record("http://img.test/a.jpg", etag='"v1"', server_ip="127.0.0.1"), [], [])
    before = get_media_by_url(store, "http://img.test/a.jpg")
    assert before is not None
    assert (before.etag, before.sha256, before.last_crawl_id) == ('"v1"', SHA_A, first_crawl)
    second_crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, second_crawl) as writer:  # the image now fails to download
        writer.add(MediaRecord(url="http://img.test/a.jpg", fetch_status="http_404",
                               error="404 Not Found", server_ip="127.0.0.2"), [], [])
    failed = get_media_by_url(store, "http://img.test/a.jpg")
    assert failed is not None
    assert (failed.fetch_status, failed.error, failed.server_ip) == (
        "http_404", "404 Not Found", "127.0.0.2")
    assert (failed.sha256, failed.md5, failed.etag, failed.width) == (
        SHA_A, SHA_A[:32], '"v1"', 64)
    assert failed.first_seen == before.first_seen
    assert failed.last_seen >= before.last_seen
    assert failed.last_crawl_id == second_crawl
    with CrawlWriter(store, second_crawl) as writer:  # new content at the same URL
        writer.add(record("http://img.test/a.jpg", SHA_B, etag='"v2"', phash=None), [], [])
    changed = get_media_by_url(store, "http://img.test/a.jpg")
    assert changed is not None
    assert (changed.sha256, changed.etag, changed.phash, changed.fetch_status) == (
        SHA_B, '"v2"', None, "ok")
    assert count(store, Media) == 1
    assert get_media_by_url(store, "http://img.test/never.jpg") is None


def test_recrawl_does_not_duplicate_hits_or_observations(store: Store) -> None:
    kid = known_id(store)
    crawls = [start_crawl(store, start_urls=[], seed_ids=[]) for _ in range(2)]
    created = []
    for crawl in crawls:
        with CrawlWriter(store, crawl) as writer:
            for _ in range(2):  # the same page twice in one crawl
                writer.add(record("http://img.test/a.jpg"), ["http://site.test/"],
                           [MatchIn(kid, "sha256", 0)])
            writer.add_observation("http://img.test/a.jpg", "http://site.test/")
            created.append(writer.flush().new_hits)
    assert created == [1, 0]
    assert count(store, Hit) == 1
    assert count(store, Observation) == 2  # once per crawl


def test_removed_content_served_again_goes_back_to_live(store: Store) -> None:
    kid = known_id(store)
    first = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, first) as writer:
        writer.add(record("http://img.test/a.jpg"), ["http://site.test/"],
                   [MatchIn(kid, "sha256", 0)])
    removed_at = utcnow()
    with store.session() as session:
        session.execute(sa.update(Hit).values(status="removed", removed_at=removed_at))
    # A rematch re-reads stored digests only: it says nothing about the URL serving it.
    media = get_media_by_url(store, "http://img.test/a.jpg")
    assert media is not None
    assert record_rematch(store, [(media.id, [MatchIn(kid, "sha256", 0)])]).reopened_removed == 0
    with store.read_session() as session:
        assert session.scalars(sa.select(Hit.status)).one() == "removed"

    again = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, again) as writer:
        writer.add(record("http://img.test/a.jpg"), ["http://site.test/"],
                   [MatchIn(kid, "sha256", 0)])
        assert writer.flush().new_hits == 0  # no new hit: the old one reopens
        assert writer.recorded.reopened_removed == 1
    with store.read_session() as session:
        hit = session.scalars(sa.select(Hit)).one()
        assert (hit.status, hit.removed_at) == ("live", None)
        assert hit.renotice_due_at is not None  # due for a notice at once
        hit_id = hit.id
    events = list_audit(store, entity="hit", entity_id=hit_id)
    assert [(e.actor, e.action, e.from_state, e.to_state) for e in events] == [
        (CRAWLER_ACTOR, "reappeared", "removed", "live")
    ]
    assert f"crawl {again}" in (events[0].detail or "")
    # A third crawl that finds it again changes nothing more: it is already live.
    third = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, third) as writer:
        writer.add(record("http://img.test/a.jpg"), [], [MatchIn(kid, "sha256", 0)])
        writer.flush()
        assert writer.recorded.reopened_removed == 0
    assert len(list_audit(store, entity="hit", entity_id=hit_id)) == 1


def test_suppressed_pairs_are_never_queued(store: Store) -> None:
    kid = known_id(store)
    other = known_id(store, name="Other")
    with store.session() as session:
        session.add(Suppression(sha256=SHA_A, known_hash_id=kid, created_at=utcnow()))
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, crawl) as writer:
        writer.add(record("http://img.test/copy.jpg"), ["http://site.test/"],
                   [MatchIn(kid, "sha256", 0), MatchIn(other, "sha256", 0)])
        assert writer.flush().new_hits == 1  # the pair nobody rejected queues the image
    with store.read_session() as session:
        assert list(session.scalars(sa.select(HitMatch.known_hash_id))) == [other]
    media = get_media_by_url(store, "http://img.test/copy.jpg")
    assert media is not None
    done = record_rematch(store, [(media.id, [MatchIn(kid, "sha256", 0)])])
    assert (done.new_hits, done.new_matches) == (0, 0)


def test_rematch_hits_are_created_once_without_crawl(store: Store) -> None:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, crawl) as writer:
        writer.add(record("http://img.test/a.jpg"), ["http://site.test/"], [])
        writer.add(record("http://img.test/b.jpg", SHA_B), [], [])
        writer.add(MediaRecord(url="http://img.test/broken.jpg", fetch_status="error"), [], [])
    digests = list(iter_media_digests(store))
    assert [d.url for d in digests] == ["http://img.test/a.jpg", "http://img.test/b.jpg"]
    assert (digests[0].sha256, digests[0].size, digests[0].phash) == (SHA_A, 1234, "8f" * 8)
    kid = known_id(store)
    images = [(digests[0].id, [MatchIn(kid, "phash", 3, 6, confidence=0.8, tier="low")])]
    assert record_rematch(store, images).new_hits == 1
    assert record_rematch(store, images).new_hits == 0
    assert record_rematch(store, [(999_999, [MatchIn(kid, "sha256", 0)])]).new_hits == 0
    with store.read_session() as session:
        hit = session.scalars(sa.select(Hit)).one()
        match = session.scalars(sa.select(HitMatch)).one()
        assert (hit.crawl_id, hit.status, hit.tier, hit.confidence) == (
            None, "pending", "low", 0.8)
        assert (match.distance, match.threshold, match.crawl_id) == (3, 6, None)


def test_hits_for_deleted_known_hashes_are_skipped(store: Store) -> None:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, crawl) as writer:
        writer.add(record("http://img.test/a.jpg"), [], [MatchIn(424242, "sha256", 0)])
        assert writer.flush().new_hits == 0
    assert count(store, Media) == 1


def test_failed_flush_keeps_the_batch(store: Store) -> None:
    writer = CrawlWriter(store, 1, flush_interval=3600, batch_size=1)  # crawl 1: not yet
    writer.add(record("http://img.test/a.jpg"), ["http://site.test/"], [])  # logs, no raise
    assert writer.pending == 2
    with pytest.raises(sa.exc.IntegrityError):
        writer.flush()
    assert writer.pending == 2
    assert start_crawl(store, start_urls=[], seed_ids=[]) == 1
    writer.flush()
    assert (count(store, Media), count(store, Observation)) == (1, 1)
    writer.close()


def test_unknown_media_observations_are_dropped_and_counted(store: Store) -> None:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, crawl) as writer:
        writer.add_observation("http://img.test/never-fetched.jpg", "http://site.test/")
        writer.flush()
        assert writer.dropped_observations == 1
    assert count(store, Observation) == 0


def test_hostile_strings_are_stored_safely(store: Store) -> None:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    long_type = "image/" + "x" * 400
    with CrawlWriter(store, crawl) as writer:
        writer.add(record("http://img.test/nul.jpg", content_type=long_type,
                          error="bad\x00byte " + "e" * 5000, host="h" * 300),
                   ["http://site.test/p\x00age"], [])
    media = get_media_by_url(store, "http://img.test/nul.jpg")
    assert media is not None
    assert media.content_type == long_type[:255]
    assert media.error is not None
    assert "\x00" not in media.error
    assert len(media.error) == 2000
    assert media.host == "h" * 255


def test_writer_refuses_a_second_thread(store: Store) -> None:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    writer = CrawlWriter(store, crawl)
    writer.add(record("http://img.test/a.jpg"), [], [])
    errors: list[BaseException] = []

    def from_other_thread() -> None:
        try:
            writer.add(record("http://img.test/b.jpg"), [], [])
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=from_other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "second thread" in str(errors[0])
    writer.close()
    assert count(store, Media) == 1


def test_batches_of_every_length_use_a_bounded_set_of_statements(store: Store) -> None:
    """The sqlite3 module (and PostgreSQL's drivers) keep one prepared statement per SQL
    text, and an INSERT of N rows or an IN of N keys is a text per N: a crawl's flushes of
    1..500 records must not make a text per length, or its memory grows with the crawl."""
    texts: set[str] = set()

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        texts.add(statement)

    kid = known_id(store)
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    writer = CrawlWriter(store, crawl, flush_interval=3600, batch_size=10**9)
    texts.clear()
    n = 0
    for length in range(1, 121):
        for _ in range(length):
            n += 1
            matches = [MatchIn(kid, "sha256", 0)] if n % 7 == 0 else []
            writer.add(record(f"http://img.test/{n}.jpg", f"{n:064x}"),
                       [f"http://site.test/{n}"], matches)
        for earlier in range(1, length, 3):  # images of earlier flushes: looked up by key
            writer.add_observation(f"http://img.test/{earlier}.jpg", f"http://site.test/x{n}")
        writer.flush()
    writer.close()
    assert count(store, Media) == n == 120 * 121 // 2
    with store.read_session() as session:
        hits = session.scalar(sa.select(sa.func.count()).select_from(Hit))
    assert hits == n // 7
    lengths: dict[str, int] = Counter(map(statement_shape, texts))
    assert max(lengths.values()) > 4  # batches of several lengths were written
    assert max(lengths.values()) <= len(BATCH_SIZES), lengths


def statement_shape(sql: str) -> str:
    """The SQL text with its parameter lists collapsed: `IN (?, ?)` and `IN (?)` alike."""
    while "(" in sql:
        sql = re.sub(r"\([^()]*\)", "<>", sql)
    return re.sub(r"<>(?:, <>)+", "<>", sql)
