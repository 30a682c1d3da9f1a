"""The shared per-host limit's middleware on a real Redis, with a fake clock: how many
slots one worker takes, and how soon a waiting request gets a slot given back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import Response
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from crawler.engine.distributed import politeness
from crawler.engine.distributed.frontier import RedisFrontier
from crawler.engine.distributed.politeness import HostLimitMiddleware
from tests.workerhelpers import unique_frontier


class _Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


@pytest.fixture
def frontier() -> Iterator[RedisFrontier]:
    for url, prefix in unique_frontier():
        yield RedisFrontier.from_url(url, prefix)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(politeness, "reactor", clock)
    return clock


def _middleware(frontier: RedisFrontier, worker: str, *, concurrency: int,
                local_limit: int) -> HostLimitMiddleware:
    return HostLimitMiddleware(frontier, worker, _Stats(),  # type: ignore[arg-type]
                               concurrency=concurrency, delay=0.0, hold_seconds=60.0,
                               download_timeout=30.0, local_limit=local_limit)


def _ask(mw: HostLimitMiddleware, request: Request) -> Deferred[Any]:
    return Deferred.fromCoroutine(mw.process_request(request))


def _held(frontier: RedisFrontier, host: str) -> int:
    frontier.flush()
    return int(frontier.client.zcard(frontier.key("host", host)))


def test_a_worker_takes_no_more_slots_than_it_downloads_at_once(
    frontier: RedisFrontier, clock: Clock,
) -> None:
    one = _middleware(frontier, "w1", concurrency=4, local_limit=2)
    two = _middleware(frontier, "w2", concurrency=4, local_limit=2)
    mine = [Request(f"http://site.test/{n}") for n in range(4)]
    asked = [_ask(one, r) for r in mine]
    assert [d.called for d in asked] == [True, True, False, False]
    assert _held(frontier, "site.test") == 2  # the other two wait in this worker
    # so the other worker still finds slots of the host in Redis
    others = [Request(f"http://site.test/b{n}") for n in range(3)]
    theirs = [_ask(two, r) for r in others]
    assert [d.called for d in theirs] == [True, True, False]
    assert _held(frontier, "site.test") == 4
    clock.advance(5)  # polls in the meantime change nothing: the host is full
    assert [d.called for d in asked] == [True, True, False, False]
    assert not theirs[2].called
    _give_back(two, others[0])
    assert theirs[2].called
    _give_back(one, *mine[:2])
    assert all(d.called for d in asked)
    assert _held(frontier, "site.test") == 4


def _give_back(mw: HostLimitMiddleware, *requests: Request) -> None:
    for request in requests:
        mw.process_response(request, Response(request.url, request=request))


def test_a_slot_given_back_goes_to_a_waiting_request_at_once(
    frontier: RedisFrontier, clock: Clock,
) -> None:
    mw = _middleware(frontier, "w1", concurrency=8, local_limit=2)
    requests = [Request(f"http://site.test/{n}") for n in range(3)]
    asked = [_ask(mw, r) for r in requests]
    assert not asked[2].called
    _give_back(mw, requests[0])
    assert asked[2].called  # woken by the give-back, no clock tick, no poll of Redis
    assert _held(frontier, "site.test") == 2  # the slot changed hands inside the worker
    _give_back(mw, *requests[1:])
    time.sleep(politeness.IDLE_SECONDS + 0.01)
    clock.advance(politeness.IDLE_SECONDS + 0.01)  # idle slots go back to Redis
    assert _held(frontier, "site.test") == 0


def _finish_as_granted(mw: HostLimitMiddleware, requests: list[Request],
                       granted: list[Deferred[Any]], given: set[int], clock: Clock) -> None:
    """For 20 ticks of the fake clock, finish each request as soon as its slot is granted
    (its deferred called), once; `given` remembers the ones already finished."""
    for _ in range(20):
        for request, d in zip(requests, granted, strict=True):
            if d.called and id(request) not in given:
                _give_back(mw, request)
                given.add(id(request))
        clock.advance(0.05)


def _holding(frontier: RedisFrontier, host: str, worker: str) -> int:
    frontier.flush()
    holders = frontier.client.zrange(frontier.key("host", host), 0, -1)
    return sum(h.decode().startswith(worker + "/") for h in holders)


def test_workers_wanting_one_host_share_its_slots(
    frontier: RedisFrontier, clock: Clock,
) -> None:
    one = _middleware(frontier, "w1", concurrency=4, local_limit=4)
    two = _middleware(frontier, "w2", concurrency=4, local_limit=4)
    one.reuse_within = two.reuse_within = 0.0  # a slot given back goes back to Redis
    mine = [Request(f"http://site.test/a{n}") for n in range(8)]
    asked = [_ask(one, r) for r in mine]
    assert sum(d.called for d in asked) == 4  # the first to ask fills the host
    others = [Request(f"http://site.test/b{n}") for n in range(4)]
    theirs = [_ask(two, r) for r in others]
    assert not any(d.called for d in theirs)  # refused: the other worker now wants it
    _give_back(one, *mine[:2])  # its own waiting requests are refused: over its share
    assert sum(d.called for d in asked) == 4
    for _ in range(4):
        clock.advance(0.05)  # polls
    assert sum(d.called for d in theirs) == 2
    assert (_holding(frontier, "site.test", "w1"), _holding(frontier, "site.test", "w2")) \
        == (2, 2)
    # The other worker finishes its requests and wants no more: its want lapses after
    # WANT_SECONDS, and the first worker may fill the host again.
    given: set[int] = set()
    _finish_as_granted(two, others, theirs, given, clock)
    assert all(d.called for d in theirs)
    time.sleep(politeness.WANT_SECONDS + 0.05)
    for _ in range(4):
        clock.advance(0.05)
    assert sum(d.called for d in asked) == 6
    assert _holding(frontier, "site.test", "w1") == 4
    _finish_as_granted(one, mine, asked, given, clock)  # the rest: nothing left waiting
    assert all(d.called for d in asked)


def test_three_workers_sharing_a_host_never_exceed_its_limit_and_get_fair_shares(
    frontier: RedisFrontier, clock: Clock,
) -> None:
    limit, host = 6, "site.test"
    names = ("w1", "w2", "w3")
    workers = {name: _middleware(frontier, name, concurrency=limit, local_limit=limit)
               for name in names}
    for mw in workers.values():
        mw.reuse_within = 0.0  # every slot given back goes back to Redis: the worst case
    requests = {name: [Request(f"http://{host}/{name}/{n}") for n in range(90)]
                for name in names}
    # The first worker asks alone and fills the host; then the others ask too.
    asked = {"w1": [_ask(workers["w1"], r) for r in requests["w1"]]}
    assert sum(d.called for d in asked["w1"]) == limit
    for name in names[1:]:
        asked[name] = [_ask(workers[name], r) for r in requests[name]]
    given: set[int] = set()
    granted = dict.fromkeys(names, 0)  # requests each worker finished, after the start
    shares: list[tuple[int, ...]] = []
    for tick in range(40):
        # Every request granted by the last tick finishes now (a download of one tick):
        # its slot is given back, and a request waiting in its worker asks again.
        for name in names:
            ready = [r for r, d in zip(requests[name], asked[name], strict=True)
                     if d.called and id(r) not in given]
            for request in ready:
                _give_back(workers[name], request)
                given.add(id(request))
                assert _held(frontier, host) <= limit
                if tick >= 10:
                    granted[name] += 1
        clock.advance(0.05)  # polls of the waiting requests
        assert _held(frontier, host) <= limit
        shares.append(tuple(_holding(frontier, host, name) for name in names))
    # Within a few polls the first worker's six slots are shared two by two; the limit is
    # used in full, and each worker finished its third of the requests.
    assert shares[-20:] == [(2, 2, 2)] * 20
    assert sum(granted.values()) == 30 * limit
    assert set(granted.values()) == {10 * limit}
    for name in names:  # the rest: nothing left waiting
        _finish_as_granted(workers[name], requests[name], asked[name], given, clock)
    assert all(d.called for name in names for d in asked[name])
