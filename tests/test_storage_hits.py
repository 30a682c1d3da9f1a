"""list_hits: the joined view reviewers and notices use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storage.crawls import start_crawl
from storage.db import Store, open_store
from storage.hits import list_hits, page_urls_of
from storage.known import KnownHashIn, import_known_list, iter_known_hashes
from storage.media import CrawlWriter, MatchIn, MediaRecord, get_media_by_url
from storage.models import Hit

SHA_A, SHA_B = "a1" * 32, "b2" * 32
PDQ = "c3" * 32


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


@pytest.fixture
def seen(store: Store) -> dict[str, int]:
    """Two crawls: image a on three pages (exact hit), image b on one (PDQ hit)."""
    import_known_list(store, name="IWF", fmt="csv", source_file=None, actor="alice", entries=[
        KnownHashIn("sha256", SHA_A, label="series-1", category="A")])
    import_known_list(store, name="TE", fmt="te", source_file=None, actor="alice", entries=[
        KnownHashIn("pdq", PDQ, label="series-2", category="B")])
    known = {r.list_name: r.id for r in iter_known_hashes(store)}
    first = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, first) as writer:
        writer.add(MediaRecord(url="http://img.test/a.jpg", host="img.test", sha256=SHA_A,
                               server_ip="127.0.0.1"),
                   ["http://site.test/first", "http://site.test/second"],
                   [MatchIn(known["IWF"], "sha256", 0)])
    second = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, second) as writer:
        writer.add(MediaRecord(url="http://img.test/a.jpg", host="img.test", sha256=SHA_A,
                               server_ip="127.0.0.1"),
                   ["http://site.test/second", "http://site.test/third"],
                   [MatchIn(known["IWF"], "sha256", 0)])
        writer.add(MediaRecord(url="http://cdn.test/b.png", host="cdn.test", sha256=SHA_B,
                               pdq="c3" * 31 + "c2", pdq_quality=90, server_ip="127.0.0.2"),
                   ["http://site.test/third"],
                   [MatchIn(known["TE"], "pdq", 1, confidence=0.9, tier="high")])
    return {"first": first, "second": second, **known}


def test_hit_rows_carry_urls_list_and_server(store: Store, seen: dict[str, int]) -> None:
    exact, pdq = list_hits(store)
    assert exact.media_url == "http://img.test/a.jpg"
    assert exact.page_url == "http://site.test/first"
    assert exact.page_urls == ("http://site.test/first", "http://site.test/second",
                               "http://site.test/third")
    assert exact.page_count == 3
    assert (exact.list, exact.label, exact.category, exact.hash_type, exact.distance) == (
        "IWF", "series-1", "A", "sha256", 0)
    assert (exact.status, exact.crawl_id, exact.server_ip, exact.sha256, exact.host) == (
        "pending", seen["first"], "127.0.0.1", SHA_A, "img.test")
    assert [(m.known_hash_id, m.known_value) for m in exact.matches] == [(seen["IWF"], SHA_A)]
    assert exact.match_count == 1
    media = get_media_by_url(store, "http://img.test/a.jpg")
    assert media is not None
    assert exact.media_id == media.id
    assert exact.created_at == exact.updated_at
    assert exact.created_at.tzinfo is None
    assert (pdq.list, pdq.hash_type, pdq.distance, pdq.confidence, pdq.page_urls) == (
        "TE", "pdq", 1, 0.9, ("http://site.test/third",))
    assert pdq.crawl_id == seen["second"]


def test_filters_order_and_limit(store: Store, seen: dict[str, int]) -> None:
    exact, pdq = list_hits(store)
    with store.session() as session:
        session.execute(sa.update(Hit).where(Hit.id == pdq.id).values(status="confirmed"))
    assert [h.id for h in list_hits(store, status="pending")] == [exact.id]
    assert [h.id for h in list_hits(store, status=["pending", "confirmed"])] == [exact.id, pdq.id]
    assert list_hits(store, status="removed") == []
    assert [h.id for h in list_hits(store, ids=[pdq.id])] == [pdq.id]
    assert list_hits(store, ids=[]) == []
    assert [h.id for h in list_hits(store, limit=1)] == [exact.id]
    assert [h.id for h in list_hits(store, newest_first=True)] == [pdq.id, exact.id]


def test_one_hit_per_image_with_every_match_as_evidence(store: Store) -> None:
    """An exact copy matched by md5, sha256 and PDQ is one hit with three matches; a later
    crawl adding a match attaches it instead of queueing the image again."""
    entries = [KnownHashIn("md5", "d4" * 16, label="item-1"),
               KnownHashIn("sha256", SHA_A, label="item-1"),
               KnownHashIn("pdq", PDQ, label="item-1")]
    import_known_list(store, name="L", fmt="csv", source_file=None, actor="a", entries=entries)
    known = {r.hash_type: r.id for r in iter_known_hashes(store)}
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    url = "http://img.test/copy.jpg"
    with CrawlWriter(store, crawl) as writer:
        writer.add(MediaRecord(url=url, sha256=SHA_A), ["http://site.test/p"],
                   [MatchIn(known["sha256"], "sha256", 0), MatchIn(known["pdq"], "pdq", 2, 31)])
    assert (writer.recorded.new_hits, writer.recorded.new_matches) == (1, 2)
    again = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, again) as writer:
        writer.add(MediaRecord(url=url, sha256=SHA_A), [],
                   [MatchIn(known["md5"], "md5", 0), MatchIn(known["pdq"], "pdq", 1, 31)])
    assert (writer.recorded.new_hits, writer.recorded.new_matches) == (0, 1)
    (row,) = list_hits(store)
    assert row.match_count == 3
    assert [m.hash_type for m in row.matches][-1] == "pdq"  # exact matches first
    assert {m.hash_type for m in row.matches} == {"md5", "sha256", "pdq"}
    assert (row.hash_type, row.distance, row.tier) == (row.matches[0].hash_type, 0, "high")


def test_page_urls_are_capped_per_image(store: Store, seen: dict[str, int]) -> None:
    exact = list_hits(store)[0]
    with store.read_session() as session:
        pages = page_urls_of(session, [exact.media_id, 424242], per_media=2)
    assert pages == {exact.media_id: (("http://site.test/first", "http://site.test/second"), 3)}
