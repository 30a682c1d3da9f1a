"""The Redis frontier's scripts on a real Redis: admission, leases, re-queueing, crawl ends."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from crawler.engine.distributed.frontier import Acked, RedisFrontier
from crawler.engine.scope import SeedPlan
from tests.workerhelpers import unique_frontier


@pytest.fixture
def frontier() -> Iterator[RedisFrontier]:
    for url, prefix in unique_frontier():
        yield RedisFrontier.from_url(url, prefix)


def _start(frontier: RedisFrontier, crawl_id: int, **kwargs: object) -> None:
    frontier.start_crawl(crawl_id, [SeedPlan(url="http://site.test/", max_pages=2)],
                         time_budget=kwargs.get("time_budget"),  # type: ignore[arg-type]
                         max_image_size=None)
    frontier.seeded(crawl_id)


def test_admission_is_once_per_crawl_with_traps_and_page_limits(frontier: RedisFrontier) -> None:
    _start(frontier, 1)
    _start(frontier, 2)
    assert frontier.push(1, b"a", score=0, key="page a", max_pages=2) == "ok"
    assert frontier.push(1, b"a2", score=0, key="page a", max_pages=2) == "seen"
    assert frontier.push(2, b"a", score=0, key="page a", max_pages=2) == "ok"  # other crawl
    assert frontier.push(1, b"b", score=0, key="page b", max_pages=2) == "ok"
    assert frontier.push(1, b"c", score=0, key="page c", max_pages=2) == "page_limit"
    for n in range(3):
        assert frontier.push(1, b"q%d" % n, score=0, key=f"q{n}", variant="h/cal",
                             max_variants=2) == ("ok" if n < 2 else "trap")
    assert frontier.push(1, b"retry", score=0) == "ok"  # no key: a redirect or retry
    assert frontier.push(3, b"x", score=0, key="x") == "ended"  # no such crawl running
    config = frontier.crawl_config(1)
    assert config is not None
    assert config.plans[0].max_pages == 2
    assert config.allow_addresses == ()


def test_a_crawl_carries_its_allowed_addresses_to_the_workers(frontier: RedisFrontier) -> None:
    frontier.start_crawl(1, [SeedPlan(url="http://site.test/")], time_budget=None,
                         max_image_size=1000, allow_addresses=["127.0.0.2/32", "10.0.0.0/8"])
    config = frontier.crawl_config(1)
    assert config is not None
    assert config.allow_addresses == ("127.0.0.2/32", "10.0.0.0/8")
    assert config.max_image_size == 1000


def test_a_lease_is_released_once_and_a_dead_workers_leases_come_back(
    frontier: RedisFrontier,
) -> None:
    _start(frontier, 1)
    for n in range(3):
        frontier.push(1, b"req%d" % n, score=-n, key=f"k{n}")
    frontier.beat("w1", ttl=0.3)
    frontier.beat("w2", ttl=60)
    first = frontier.pop("w1", lease_seconds=60)
    assert first is not None
    assert first.data == b"req2"  # highest priority first
    second = frontier.pop("w1", lease_seconds=60)
    third = frontier.pop("w2", lease_seconds=60)
    assert second is not None
    assert third is not None
    assert frontier.pop("w2", lease_seconds=60) is None
    assert frontier.counts(1) == (0, 3)
    assert not frontier.finish_if_done(1)  # leases held
    assert frontier.ack("w1", [first.member]) == Acked(1, ())
    assert frontier.ack("w1", [first.member]) == Acked(0, ())  # once
    time.sleep(0.5)  # w1's heartbeat expires: its other lease goes back to the queue
    assert frontier.reap() == 1
    assert frontier.counts(1) == (1, 1)
    assert frontier.ack("w1", [second.member]).released == 0  # too late: it is crawled again
    again = frontier.pop("w2", lease_seconds=0.2)
    assert again is not None
    assert again.data == second.data
    time.sleep(0.4)  # w2 is alive but this lease ran out
    assert frontier.reap() == 1
    assert frontier.counts(1) == (1, 1)
    last = frontier.pop("w2", lease_seconds=60)
    assert last is not None
    # The ack of its last lease, with nothing queued, ends the crawl (for that caller
    # only), without waiting for a housekeeping tick.
    assert frontier.ack("w2", [third.member, last.member]) == Acked(2, (1,))
    assert not frontier.finish_if_done(1)  # exactly one caller ends it
    assert frontier.state(1) == "finished"
    assert frontier.push(1, b"late", score=0, key="late") == "ended"


def test_the_ack_of_a_crawls_last_lease_ends_it_only_when_nothing_is_queued(
    frontier: RedisFrontier,
) -> None:
    _start(frontier, 1)
    _start(frontier, 2)
    frontier.start_crawl(3, [], time_budget=None, max_image_size=None)  # still seeding
    for crawl_id in (1, 2, 2, 3):
        frontier.push(crawl_id, b"r%d" % frontier.counts(crawl_id)[0], score=0)
    frontier.beat("w", ttl=60)
    leases = frontier.pop_many("w", 60, 3)  # one of each crawl (round robin)
    assert sorted(lease.crawl_id for lease in leases) == [1, 2, 3]
    # Crawl 2 has a request queued and crawl 3 is not seeded yet: only crawl 1 ends.
    assert frontier.ack("w", [lease.member for lease in leases]) == Acked(3, (1,))
    assert frontier.running_crawls() == [2, 3]
    [last] = frontier.pop_many("w", 60, 3)
    assert frontier.ack("w", [last.member]) == Acked(1, (2,))
    assert frontier.running_crawls() == [3]


def test_a_crawl_cannot_end_before_its_seeds_are_queued_and_ends_when_out_of_time(
    frontier: RedisFrontier,
) -> None:
    frontier.start_crawl(1, [], time_budget=0.2, max_image_size=None)
    assert not frontier.finish_if_done(1)  # seeding in progress
    frontier.push(1, b"seed", score=0, key="seed")
    frontier.seeded(1)
    assert not frontier.expire(1)
    time.sleep(0.3)
    assert frontier.expire(1)
    assert frontier.state(1) == "timeout"
    assert frontier.counts(1) == (0, 0)
    assert frontier.running_crawls() == []


def test_a_stopping_worker_puts_its_leases_back(frontier: RedisFrontier) -> None:
    _start(frontier, 1)
    frontier.push(1, b"r", score=0, key="r")
    frontier.beat("w", ttl=60)
    assert frontier.pop("w", lease_seconds=60) is not None
    assert frontier.release("w") == 1
    assert frontier.counts(1) == (1, 0)
    assert frontier.live_workers() == []


def test_a_redirect_or_retry_ends_its_lease_in_the_same_step(frontier: RedisFrontier) -> None:
    _start(frontier, 1)
    frontier.push(1, b"a", score=0, key="page a")
    frontier.push(1, b"b", score=0, key="page b")
    frontier.beat("w", ttl=60)
    first = frontier.pop("w", lease_seconds=60)
    second = frontier.pop("w", lease_seconds=60)
    assert first is not None
    assert second is not None
    assert frontier.counts(1) == (0, 2)
    # a's redirect to b: b was seen, so nothing is queued, and a's lease is over anyway
    assert frontier.push(1, b"a->b", score=0, key="page b", ending=("w", first.member)) == "seen"
    assert frontier.counts(1) == (0, 1)
    assert frontier.leases_of("w") == 1
    # b's retry (no key): queued, and b's lease ends with it
    assert frontier.push(1, b"b again", score=0, ending=("w", second.member)) == "ok"
    assert frontier.counts(1) == (1, 0)
    assert frontier.ack("w", [first.member, second.member]) == Acked(0, ())  # ended already


class _Reactor:
    """Stands in for the reactor's callFromThread: the test runs what the round-trip
    thread hands back, in the order it was handed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from twisted.internet import reactor

        self.handed: queue.SimpleQueue[tuple[Any, tuple[Any, ...]]] = queue.SimpleQueue()
        monkeypatch.setattr(reactor, "callFromThread",
                            lambda f, *args: self.handed.put((f, args)), raising=False)

    def run_one(self) -> None:
        f, args = self.handed.get(timeout=10)
        f(*args)


def test_round_trips_on_the_thread_keep_their_order(
    frontier: RedisFrontier, monkeypatch: pytest.MonkeyPatch,
) -> None:
    reactor = _Reactor(monkeypatch)
    _start(frontier, 1)
    frontier.push(1, b"page", score=0, key="page")
    frontier.start_thread()
    try:
        popped: list[Any] = []
        frontier.pop_many_async("w", 60, 4).addCallback(popped.append)
        reactor.run_one()
        [lease] = popped[0]
        # The page's requests are deferred, then its lease is acked without waiting: the
        # pushes reach Redis first, and their callbacks run on the reactor thread.
        admitted: list[str] = []
        frontier.defer_push(1, b"image", score=0, key="image", then=admitted.append)
        acked: list[int] = []
        frontier.ack_async("w", [lease.member]).addCallback(acked.append)
        # A waiting call goes after the round trips asked for before it.
        [image] = frontier.pop_many("w", 60, 4)
        assert image.data == b"image"
        assert (admitted, acked) == ([], [])  # not yet handed back to the reactor
        reactor.run_one()
        assert (admitted, acked) == (["ok"], [Acked(1, ())])
        assert frontier.counts(1) == (0, 1)
    finally:
        frontier.stop_thread()
    assert not frontier.threaded
    # without the thread: made at once; the crawl's last lease ends it
    assert frontier.ack("w", [image.member]) == Acked(1, (1,))


def test_deferred_commands_of_a_failed_round_trip_go_with_the_next(
    frontier: RedisFrontier, monkeypatch: pytest.MonkeyPatch,
) -> None:
    reactor = _Reactor(monkeypatch)
    _start(frontier, 1)
    send = frontier._send
    failures = [ConnectionError("Redis went away")]

    def flaky(batch: Any) -> list[Any]:
        if failures:
            raise failures.pop()
        return send(batch)

    monkeypatch.setattr(frontier, "_send", flaky)
    frontier.start_thread()
    try:
        frontier.defer_push(1, b"page", score=0, key="page")
        errors: list[Any] = []
        frontier.flush_async().addErrback(errors.append)
        reactor.run_one()
        [error] = errors
        assert error.check(ConnectionError)
        assert frontier.counts(1) == (0, 0)
        # the next round trip carries the push first: the pop finds it
        [lease] = frontier.pop_many("w", 60, 4)
        assert lease.data == b"page"
    finally:
        frontier.stop_thread()
