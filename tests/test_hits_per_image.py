"""One hit per image: new evidence is attached, and never silently re-opens decided work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.audit import list_audit
from storage.crawls import start_crawl
from storage.db import Store, open_store
from storage.hits import CRAWLER_ACTOR, list_hits
from storage.known import KnownHashIn, import_known_list, iter_known_hashes
from storage.media import CrawlWriter, MatchIn, MediaRecord, get_media_by_url, record_rematch
from storage.review import claim_next, decide
from tests.takedown_helpers import T0

SHA = "5a" * 32
PDQ_A, PDQ_B, PHASH = "a1" * 32, "b2" * 32, "c3" * 8
URL = "http://img.test/a.jpg"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    for name, entries in (
        ("first", [KnownHashIn("sha256", SHA, label="item-1"),
                   KnownHashIn("pdq", PDQ_A, label="item-1")]),
        ("later", [KnownHashIn("pdq", PDQ_B, label="item-9")]),
        ("logos", [KnownHashIn("phash", PHASH, label="logo-3")]),
    ):
        import_known_list(opened, name=name, fmt="csv", source_file=None, actor="a",
                          entries=entries)
    yield opened
    opened.close()


def known(store: Store) -> dict[tuple[str, str], int]:
    return {(r.list_name, r.hash_type): r.id for r in iter_known_hashes(store)}


def crawl_once(store: Store, matches: list[MatchIn]) -> CrawlWriter:
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    with CrawlWriter(store, crawl) as writer:
        writer.add(MediaRecord(url=URL, sha256=SHA), ["http://site.test/"], matches)
    return writer


def rematch(store: Store, matches: list[MatchIn]) -> None:
    media = get_media_by_url(store, URL)
    assert media is not None
    record_rematch(store, [(media.id, matches)])


def only_hit(store: Store):  # type: ignore[no-untyped-def]
    (row,) = list_hits(store)
    return row


def test_a_rejected_image_reopens_only_on_high_tier_evidence_from_a_new_list(
        store: Store) -> None:
    k = known(store)
    crawl_once(store, [MatchIn(k[("first", "sha256")], "sha256", 0)])
    hit = only_hit(store)
    decide(store, [hit.id], actor="alice", decision="reject", note="not it", now=T0)

    rematch(store, [MatchIn(k[("logos", "phash")], "phash", 2, 6, 0.3, "low")])  # low tier
    rematch(store, [MatchIn(k[("first", "pdq")], "pdq", 4, 31, 0.9, "high")])  # same list
    row = only_hit(store)
    assert (row.status, row.match_count) == ("rejected", 3)  # evidence kept, not re-opened

    rematch(store, [MatchIn(k[("later", "pdq")], "pdq", 6, 31, 0.9, "high")])
    row = only_hit(store)
    assert (row.status, row.match_count) == ("pending", 4)
    events = list_audit(store, entity="hit", entity_id=hit.id)
    reopen = events[-1]
    assert (reopen.actor, reopen.action, reopen.from_state, reopen.to_state) == (
        CRAWLER_ACTOR, "reopen", "rejected", "pending")
    assert "'later'" in (reopen.detail or "")
    assert "pdq distance 6" in (reopen.detail or "")
    # The analyst who rejected it gets it again: the earlier round's votes no longer count.
    assert [h.id for h in claim_next(store, actor="alice", now=T0)] == [hit.id]
    assert row.confirmations == 0


def test_decided_images_stay_decided_and_gain_evidence(store: Store) -> None:
    k = known(store)
    crawl_once(store, [MatchIn(k[("first", "sha256")], "sha256", 0)])
    hit = only_hit(store)
    decide(store, [hit.id], actor="alice", decision="confirm", now=T0)
    writer = crawl_once(store, [MatchIn(k[("first", "sha256")], "sha256", 0),
                                MatchIn(k[("later", "pdq")], "pdq", 3, 31, 0.95, "high")])
    assert (writer.recorded.new_hits, writer.recorded.new_matches) == (0, 1)
    row = only_hit(store)
    assert (row.status, row.match_count) == ("confirmed", 2)


def test_stronger_evidence_raises_a_pending_image_to_the_high_tier(store: Store) -> None:
    k = known(store)
    crawl_once(store, [MatchIn(k[("logos", "phash")], "phash", 3, 6, 0.2, "low")])
    assert (only_hit(store).tier, claim_next(store, actor="bob", now=T0)) == ("low", [])
    assert [h.tier for h in claim_next(store, actor="bob", tier="low", now=T0)] == ["low"]
    rematch(store, [MatchIn(k[("first", "pdq")], "pdq", 2, 31, 0.97, "high")])
    row = only_hit(store)
    assert (row.tier, row.confidence, row.hash_type) == ("high", 0.97, "pdq")
    assert [m.hash_type for m in row.matches] == ["pdq", "phash"]
