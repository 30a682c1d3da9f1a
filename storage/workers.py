"""Distributed crawling's bookkeeping: workers, their share of each crawl, committed requests.

Several `trawl worker` processes write one crawl at once. Each commits, in the same
transaction as the media rows, observations and hits of a batch, the keys of the requests
that batch finished (`crawl_requests_done`): a request crawled twice (its worker died after
committing but before releasing its lease) counts once, in the crawl row and in the worker's
row of `crawl_workers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from storage.crawls import COUNTER_KEYS, add_crawl_counts
from storage.db import dialect_insert, url_key, utcnow
from storage.hits import Recorded
from storage.media import CrawlWriter, _media_ids
from storage.models import Crawl, CrawlRequestDone, CrawlWorker, Worker

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "LIVE_WITHIN_SECONDS",
    "CrawlWorkerInfo",
    "LeasedCrawlWriter",
    "WorkerInfo",
    "crawl_worker_counts",
    "list_workers",
    "note_crawl_frontier",
    "record_done",
    "register_worker",
    "stop_worker",
    "worker_heartbeat",
]

# A worker whose heartbeat is older than this is not listed as live.
LIVE_WITHIN_SECONDS = 30.0
STATEMENT_ROWS = 1000
WORKER_COUNTERS = ("requests", *COUNTER_KEYS)


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    frontier: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    crawl_id: int | None
    requests: int
    rate: float  # requests per second over its last heartbeat interval


@dataclass(frozen=True)
class CrawlWorkerInfo:
    worker_id: str
    requests: int
    pages: int
    images: int
    hashed: int
    hits: int
    errors: int


def register_worker(store: Store, worker_id: str, *, host: str, pid: int, frontier: str) -> None:
    """Record a worker process starting (or starting again under the same id)."""
    now = utcnow()
    values = {"host": host, "pid": pid, "frontier": frontier, "started_at": now,
              "heartbeat_at": now, "stopped_at": None, "crawl_id": None, "requests": 0,
              "rate": 0.0}
    with store.session() as session:
        stmt = dialect_insert(store, Worker.__table__).values(id=worker_id, **values)
        session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))


def worker_heartbeat(
    store: Store, worker_id: str, *, crawl_id: int | None, requests: int, rate: float
) -> None:
    """A worker says it is alive: the crawl it last worked on, its request count and rate."""
    with store.session() as session:
        session.execute(
            update(Worker).where(Worker.id == worker_id).values(
                heartbeat_at=utcnow(), crawl_id=crawl_id, requests=requests, rate=rate)
        )


def stop_worker(store: Store, worker_id: str) -> None:
    with store.session() as session:
        session.execute(update(Worker).where(Worker.id == worker_id).values(
            stopped_at=utcnow(), rate=0.0))


def note_crawl_frontier(store: Store, crawl_id: int, frontier: str) -> None:
    """Record that a crawl (a row a scheduler claimed) runs on this Redis frontier."""
    with store.session() as session:
        session.execute(update(Crawl).where(Crawl.id == crawl_id).values(frontier=frontier))


def list_workers(
    store: Store, *, live_within: float = LIVE_WITHIN_SECONDS, include_stopped: bool = False
) -> list[WorkerInfo]:
    """Workers that beat within `live_within` seconds and have not stopped (with
    `include_stopped`, every worker ever registered), by host and pid."""
    query = select(Worker).order_by(Worker.host, Worker.pid, Worker.id)
    if not include_stopped:
        cutoff = utcnow() - timedelta(seconds=live_within)
        query = query.where(Worker.stopped_at.is_(None), Worker.heartbeat_at >= cutoff)
    with store.read_session() as session:
        return [
            WorkerInfo(id=w.id, host=w.host, pid=w.pid, frontier=w.frontier,
                       started_at=w.started_at, heartbeat_at=w.heartbeat_at,
                       stopped_at=w.stopped_at, crawl_id=w.crawl_id, requests=w.requests,
                       rate=w.rate)
            for w in session.scalars(query)
        ]


def crawl_worker_counts(store: Store, crawl_id: int) -> list[CrawlWorkerInfo]:
    """What each worker added to a distributed crawl, by worker id."""
    with store.read_session() as session:
        rows = session.scalars(
            select(CrawlWorker).where(CrawlWorker.crawl_id == crawl_id)
            .order_by(CrawlWorker.worker_id)
        )
        return [CrawlWorkerInfo(r.worker_id, *(getattr(r, n) for n in WORKER_COUNTERS))
                for r in rows]


def record_done(
    session: Session,
    store: Store,
    crawl_id: int,
    worker_id: str,
    done: Iterable[tuple[str, Mapping[str, int]]],
) -> int:
    """Record finished requests (request key, counter deltas) in the caller's transaction and
    add the deltas of those not recorded before to the crawl row and the worker's row;
    returns how many were new. Safe against any number of concurrent writers."""
    deltas_by_key: dict[str, Mapping[str, int]] = {}
    for key, deltas in done:
        deltas_by_key.setdefault(key, deltas)
    if not deltas_by_key:
        return 0
    table = CrawlRequestDone.__table__
    now = utcnow()
    new: set[str] = set()
    keys = sorted(deltas_by_key)  # one lock order for every writer
    for start in range(0, len(keys), STATEMENT_ROWS):
        rows = [{"crawl_id": crawl_id, "request_key": k, "worker_id": worker_id, "done_at": now}
                for k in keys[start:start + STATEMENT_ROWS]]
        stmt = dialect_insert(store, table).on_conflict_do_nothing(
            index_elements=["crawl_id", "request_key"]).returning(table.c.request_key)
        new.update(session.execute(stmt, rows).scalars())
    if not new:
        return 0
    totals = dict.fromkeys(COUNTER_KEYS, 0)
    for key in new:
        for name, value in deltas_by_key[key].items():
            totals[name] += int(value)
    add_crawl_counts(session, crawl_id, totals)
    counts: dict[str, Any] = {"requests": len(new), **totals}
    worker_table = CrawlWorker.__table__
    stmt = dialect_insert(store, worker_table).values(
        crawl_id=crawl_id, worker_id=worker_id, **counts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["crawl_id", "worker_id"],
        set_={name: worker_table.c[name] + stmt.excluded[name] for name in counts},
    )
    session.execute(stmt)
    return len(new)


class LeasedCrawlWriter(CrawlWriter):
    """A CrawlWriter for one worker's share of a distributed crawl.

    Besides media, observations and matches it commits the requests that are done (`done`),
    so their leases can be released once `flush` returns (`take_committed`). An observation
    of an image whose row does not exist yet (another worker is fetching it) is kept for a
    later flush instead of dropped, and the request that made it is not committed before
    it: a worker that dies meanwhile loses nothing, the request is crawled again.
    """

    def __init__(self, store: Store, crawl_id: int, worker_id: str, **kwargs: Any) -> None:
        super().__init__(store, crawl_id, **kwargs)
        self.worker_id = worker_id
        self._done: dict[str, tuple[str, Mapping[str, int]]] = {}  # token -> (key, deltas)
        self._held: dict[str, tuple[str, Mapping[str, int]]] = {}  # waiting for observations
        self._blocking: dict[str, int] = {}  # token -> its observations not yet written
        self._obs_tokens: dict[tuple[str, str], set[str]] = {}
        self._deferred: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._flushing: tuple[list[str], list[tuple[str, str]]] = ([], [])
        self._committed: list[str] = []
        self.new_requests = 0

    @property
    def pending(self) -> int:
        return super().pending + len(self._done)

    def add_leased_observation(self, media_url: str, page_url: str, token: str) -> None:
        """`page_url` showed `media_url`; the request `token` is done only once it is written."""
        key = (url_key(media_url), url_key(page_url))
        tokens = self._obs_tokens.setdefault(key, set())
        if token not in tokens:
            tokens.add(token)
            self._blocking[token] = self._blocking.get(token, 0) + 1
        self.add_observation(media_url, page_url)

    def done(self, token: str, request_key: str, deltas: Mapping[str, int]) -> None:
        """The request `token` (key `request_key`) is finished: commit it with the next flush
        that has written its observations."""
        if self._blocking.get(token):
            self._held[token] = (request_key, deltas)
        else:
            self._done[token] = (request_key, deltas)
        self._maybe_flush()

    def abandon_waiting(self) -> int:
        """After a flush: drop the observations still waiting for an image row (the crawl
        has ended, the image will not be fetched) and free their requests; returns how
        many."""
        dropped = [key for key in self._pages if key in self._obs_tokens]
        for key in dropped:
            del self._pages[key]
        self._unblock(dropped)
        self.dropped_observations += len(dropped)
        return len(dropped)

    def take_committed(self) -> list[str]:
        """Tokens of the requests committed since the last call: release their leases."""
        committed, self._committed = self._committed, []
        return committed

    def flush(self) -> Recorded:
        self._flushing = ([], [])
        try:
            recorded = super().flush()
        finally:
            self._pages.update(self._deferred)  # written or not, deferred ones stay
            self._deferred = {}
        tokens, written = self._flushing
        self._flushing = ([], [])
        for token in tokens:
            self._done.pop(token, None)
            self._held.pop(token, None)  # committed with its last observations
        self._committed.extend(tokens)
        self._unblock(written)
        return recorded

    def _unblock(self, written: Sequence[tuple[str, str]]) -> None:
        for key in written:
            for token in self._obs_tokens.pop(key, ()):
                left = self._blocking.get(token, 0) - 1
                if left > 0:
                    self._blocking[token] = left
                    continue
                self._blocking.pop(token, None)
                held = self._held.pop(token, None)
                if held is not None:
                    self._done[token] = held

    def _write(self, session: Session) -> tuple[Recorded, int]:
        # Observations of images without a row yet wait for a later flush.
        missing = {media for media, _ in self._pages} - self._media.keys()
        if missing:
            existing = _media_ids(session, missing)
            for key in [k for k in self._pages if k[0] in missing and k[0] not in existing]:
                self._deferred[key] = self._pages.pop(key)
        self._media = dict(sorted(self._media.items()))  # one lock order for every writer
        written = list(self._pages)
        recorded, dropped = super()._write(session)
        # Requests whose last waiting observations this flush writes commit with them,
        # not one flush later.
        done = {**self._done, **{t: self._held[t] for t in self._unblocked_by(written)}}
        self.new_requests += record_done(
            session, self.store, self.crawl_id, self.worker_id, done.values())
        self._flushing = (list(done), written)
        return recorded, dropped

    def _unblocked_by(self, written: Sequence[tuple[str, str]]) -> list[str]:
        """Held requests none of whose observations waits once `written` are written."""
        left: dict[str, int] = {}
        for key in written:
            for token in self._obs_tokens.get(key, ()):
                left[token] = left.get(token, self._blocking.get(token, 0)) - 1
        return [t for t, n in left.items() if n <= 0 and t in self._held]
