"""Seeds (upsert by URL, filters) and crawl rows (stats, outcome, running seeds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.crawls import (
    SeedsBusyError,
    finish_crawl,
    get_crawl,
    list_crawls,
    running_seed_ids,
    start_crawl,
    update_crawl_stats,
)
from storage.db import NotFoundError, Store, open_store
from storage.seeds import SeedSpec, add_seeds, list_seeds, set_seeds_active


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def test_add_seeds_upserts_by_url(store: Store) -> None:
    first = add_seeds(store, [
        SeedSpec("http://a.test/", "a.test", tags=("news", "eu")),
        SeedSpec("http://b.test/start", "b.test", depth=1, max_pages=10),
    ])
    assert [s.url for s in first] == ["http://a.test/", "http://b.test/start"]
    assert first[0].tags == ("news", "eu")
    assert first[0].active
    assert first[0].obey_robots
    assert not first[0].include_subdomains
    assert first[0].created_at.tzinfo is None
    set_seeds_active(store, [first[0].id], active=False)
    again = add_seeds(store, [
        SeedSpec("http://a.test/", "A.test", depth=5, include_subdomains=True, tags=("eu",)),
    ])
    assert again[0].id == first[0].id
    assert again[0].created_at == first[0].created_at
    assert (again[0].depth, again[0].include_subdomains, again[0].domain) == (5, True, "a.test")
    assert again[0].tags == ("eu",)
    assert again[0].active  # re-adding a paused seed resumes it
    assert len(list_seeds(store)) == 2


def test_same_url_twice_in_one_call_keeps_the_last(store: Store) -> None:
    seeds = add_seeds(store, [SeedSpec("http://a.test/", "a.test", depth=1),
                              SeedSpec("http://a.test/", "a.test", depth=2)])
    assert [s.depth for s in seeds] == [2]
    assert [s.depth for s in list_seeds(store)] == [2]


def test_list_seeds_filters(store: Store) -> None:
    a, b, c = add_seeds(store, [
        SeedSpec("http://a.test/", "a.test", tags=("news",)),
        SeedSpec("http://b.test/", "b.test", tags=("news_x", "forum")),
        SeedSpec("http://c.test/", "c.test", tags=("forum",)),
    ])
    set_seeds_active(store, [c.id], active=False)
    assert [s.id for s in list_seeds(store, tag="news")] == [a.id]  # not news_x
    assert [s.id for s in list_seeds(store, tag="news_")] == []  # _ is not a wildcard
    assert [s.id for s in list_seeds(store, tag="forum")] == [b.id, c.id]
    assert [s.id for s in list_seeds(store, tag="forum", active_only=True)] == [b.id]
    assert [s.id for s in list_seeds(store, ids=[c.id, a.id])] == [a.id, c.id]
    assert list_seeds(store, ids=[]) == []


def test_set_seeds_active_names_unknown_ids(store: Store) -> None:
    (a,) = add_seeds(store, [SeedSpec("http://a.test/", "a.test")])
    with pytest.raises(NotFoundError, match="No seed has id 998, 999"):
        set_seeds_active(store, [a.id, 999, 998], active=False)
    assert list_seeds(store)[0].active


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SeedSpec("ftp://a.test/", "a.test"), "must start with http"),
        (SeedSpec("http://a.test/", " "), "needs its registered domain"),
        (SeedSpec("http://a.test/", "a.test", depth=-1), "depth -1"),
        (SeedSpec("http://a.test/", "a.test", max_pages=0), "max_pages 0"),
        (SeedSpec("http://a.test/", "a.test", tags=("a,b",)), "must not contain a comma"),
    ],
)
def test_invalid_seed_specs(store: Store, spec: SeedSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        add_seeds(store, [spec])
    assert list_seeds(store) == []


def test_crawl_lifecycle(store: Store) -> None:
    a, b = add_seeds(store, [SeedSpec("http://a.test/", "a.test"),
                             SeedSpec("http://b.test/", "b.test")])
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[a.id], pid=4242)
    assert running_seed_ids(store) == {a.id}
    info = get_crawl(store, crawl_id)
    assert (info.outcome, info.pid, info.seed_ids, info.start_urls) == (
        "running", 4242, (a.id,), ("http://a.test/",))
    assert info.finished_at is None
    update_crawl_stats(store, crawl_id, {"trawl/pages": 7, "trawl/images": 3.0,
                                         "trawl/hits": 1, "downloader/request_count": 12})
    info = get_crawl(store, crawl_id)
    assert (info.pages, info.images, info.hashed, info.hits, info.errors) == (7, 3, 0, 1, 0)
    assert info.stats["downloader/request_count"] == 12
    finish_crawl(store, crawl_id, outcome="timeout", reason="time budget of 60s reached",
                 stats={"trawl/pages": 9, "trawl/errors": 2, "finish_reason": "timeout"})
    info = get_crawl(store, crawl_id)
    assert (info.outcome, info.reason, info.pages, info.errors) == (
        "timeout", "time budget of 60s reached", 9, 2)
    assert info.finished_at is not None
    assert info.finished_at >= info.started_at
    assert running_seed_ids(store) == set()
    other = start_crawl(store, start_urls=[], seed_ids=[a.id, b.id])
    assert [c.id for c in list_crawls(store)] == [other, crawl_id]
    assert [c.id for c in list_crawls(store, seed_id=b.id)] == [other]
    assert [c.id for c in list_crawls(store, outcome="running")] == [other]
    assert [c.id for c in list_crawls(store, limit=1)] == [other]


def test_exclusive_start_refuses_busy_seeds(store: Store) -> None:
    a, b = add_seeds(store, [SeedSpec("http://a.test/", "a.test"),
                             SeedSpec("http://b.test/", "b.test")])
    first = start_crawl(store, start_urls=[], seed_ids=[a.id], exclusive=True)
    with pytest.raises(SeedsBusyError, match=rf"seed {a.id} \(crawl {first}\)") as info:
        start_crawl(store, start_urls=[], seed_ids=[a.id, b.id], exclusive=True)
    assert info.value.busy == {a.id: first}
    assert len(list_crawls(store)) == 1  # nothing was created
    second = start_crawl(store, start_urls=[], seed_ids=[b.id], exclusive=True)
    assert running_seed_ids(store) == {a.id, b.id}
    finish_crawl(store, first, outcome="finished", stats={})
    assert start_crawl(store, start_urls=[], seed_ids=[a.id], exclusive=True) > second


def test_unknown_crawls_and_outcomes(store: Store) -> None:
    with pytest.raises(NotFoundError, match="No crawl has id 77"):
        get_crawl(store, 77)
    with pytest.raises(NotFoundError, match="No crawl has id 77"):
        update_crawl_stats(store, 77, {})
    crawl_id = start_crawl(store, start_urls=[], seed_ids=[])
    with pytest.raises(ValueError, match="'done' is not one of finished, failed"):
        finish_crawl(store, crawl_id, outcome="done", stats={})
