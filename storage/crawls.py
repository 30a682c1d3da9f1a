"""Crawl runs: when they started and ended, which seeds they cover, and their stats."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, func, insert, select, text, update

from storage.audit import append_audit
from storage.db import NotFoundError, StorageError, utcnow
from storage.models import Crawl, CrawlSeed
from storage.records import CrawlInfo, DeadCrawl

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "COUNTER_KEYS",
    "FINAL_OUTCOMES",
    "CrawlEndedError",
    "CrawlInfo",
    "DeadCrawl",
    "SeedsBusyError",
    "add_crawl_counts",
    "finish_crawl",
    "get_crawl",
    "heartbeat",
    "list_crawls",
    "mark_crawl_failed",
    "reap_dead_crawls",
    "running_seed_ids",
    "start_crawl",
    "update_crawl_stats",
]

RUNNING = "running"
FINAL_OUTCOMES = ("finished", "failed", "killed", "timeout")
# crawl row column -> Scrapy stats key it is read from
COUNTER_KEYS = {
    "pages": "trawl/pages",
    "images": "trawl/images",
    "hashed": "trawl/hashed",
    "hits": "trawl/hits",
    "errors": "trawl/errors",
}
# Any constant: serialises exclusive crawl starts on PostgreSQL (SQLite's BEGIN IMMEDIATE
# already does).
PG_CRAWL_START_LOCK_KEY = 0x7472_6177_6C01
# A crawl process calls heartbeat() this often; a running crawl whose last heartbeat is
# older than STALE_AFTER_SECONDS counts as dead, wherever it ran (ten missed beats, so a
# busy or briefly stalled crawl is not mistaken for a dead one).
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 300.0
# Who the audit trail names when Trawl itself marks a dead crawl failed.
SYSTEM_ACTOR = "trawl"


class SeedsBusyError(StorageError):
    """An exclusive crawl start found some of its seeds in a crawl that is still running."""

    def __init__(self, busy: Mapping[int, int]) -> None:
        self.busy = dict(busy)  # seed id -> running crawl id
        pairs = ", ".join(f"seed {s} (crawl {c})" for s, c in sorted(self.busy.items()))
        super().__init__(
            f"These seeds are being crawled already: {pairs}. Wait for those crawls to end, "
            "or, if their process died, mark them failed (`trawl crawls mark-failed ID`)."
        )


class CrawlEndedError(StorageError):
    """The crawl has already ended, so it cannot be marked failed."""


def start_crawl(
    store: Store,
    *,
    start_urls: Sequence[str],
    seed_ids: Sequence[int],
    schedule_id: int | None = None,
    pid: int | None = None,
    host: str | None = None,
    exclusive: bool = False,
    frontier: str | None = None,
) -> int:
    """Create a crawl row (outcome 'running') and return its id.

    The row records the crawl's process (`pid`, when known), its `host` (default: this
    machine's name) and a first heartbeat, so a crawl that dies unseen can be recognised
    (reap_dead_crawls). With `exclusive`, refuse (SeedsBusyError) when any of the seeds is
    in a running crawl; the check and the insert are one serialised transaction, so two
    schedulers racing for the same seed cannot both start it. `frontier` names the Redis
    frontier of a distributed crawl (its workers keep the heartbeat; it has no pid).
    """
    seeds = sorted(set(seed_ids))
    with store.session() as session:
        if exclusive:
            if store.dialect == "postgresql":
                session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_CRAWL_START_LOCK_KEY}
                )
            busy = _running_seeds(session, seeds)
            if busy:
                raise SeedsBusyError(busy)
        now = utcnow()
        crawl = Crawl(
            started_at=now,
            outcome=RUNNING,
            schedule_id=schedule_id,
            pid=pid,
            host=host if host is not None else socket.gethostname(),
            heartbeat_at=now,
            start_urls=json.dumps(list(start_urls)),
            stats="{}",
            frontier=frontier,
        )
        session.add(crawl)
        session.flush()
        if seeds:
            session.execute(
                insert(CrawlSeed), [{"crawl_id": crawl.id, "seed_id": s} for s in seeds]
            )
        return crawl.id


def update_crawl_stats(
    store: Store, crawl_id: int, stats: Mapping[str, Any], *, counters: bool = True
) -> None:
    """Store the crawl's current stats while it runs, and the counters read from them
    unless `counters` is False (a crawl whose writer counts with add_crawl_counts: stats
    run ahead of what is committed, and the row must match what was stored)."""
    with store.session() as session:
        _write_stats(session, crawl_id, stats, {}, counters=counters)


def finish_crawl(
    store: Store,
    crawl_id: int,
    *,
    outcome: str,
    stats: Mapping[str, Any],
    reason: str | None = None,
) -> None:
    """Record how a crawl ended: outcome is finished, failed, killed or timeout. A crawl
    already marked failed while it ran keeps that outcome and its reason (the audited
    decision); its final stats are still stored."""
    if outcome not in FINAL_OUTCOMES:
        raise ValueError(
            f"Crawl outcome {outcome!r} is not one of {', '.join(FINAL_OUTCOMES)}."
        )
    running = Crawl.outcome == RUNNING
    with store.session() as session:
        _write_stats(
            session, crawl_id, stats, {
                "outcome": case((running, outcome), else_=Crawl.outcome),
                "reason": case((running, reason), else_=Crawl.reason),
                "finished_at": case((running, utcnow()), else_=Crawl.finished_at),
            }
        )


def heartbeat(store: Store, crawl_id: int) -> bool:
    """Record that the crawl's process is alive (call every HEARTBEAT_SECONDS).

    Returns False when the crawl is no longer running: it was marked failed (its heartbeat
    went stale, or an operator said so) or has ended, and the caller should stop.
    """
    with store.session() as session:
        result = session.execute(
            update(Crawl)
            .where(Crawl.id == crawl_id, Crawl.outcome == RUNNING)
            .values(heartbeat_at=utcnow())
        )
        return bool(getattr(result, "rowcount", 0) == 1)


@cache
def _add_counts(names: tuple[str, ...]) -> Any:
    """UPDATE crawls SET name = name + :d_name, ... WHERE id = :crawl, built once per set of
    counters (a writer flushes every few seconds with the same few)."""
    values = {name: getattr(Crawl, name) + bindparam(f"d_{name}") for name in names}
    return update(Crawl).where(Crawl.id == bindparam("crawl")).values(**values)


def add_crawl_counts(session: Session, crawl_id: int, deltas: Mapping[str, int]) -> None:
    """Add to the crawl row's counters inside the caller's transaction.

    Why: the writer that stores a batch of pages, images and hits can count them in the
    same transaction, so a crawl killed at any moment leaves a row that matches what it
    stored. `deltas` maps counter names (pages, images, hashed, hits, errors) to the
    non-negative amounts to add; the UPDATE adds in the database (x = x + d), so writers in
    several processes never lose each other's counts.
    """
    unknown = sorted(set(deltas) - set(COUNTER_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown crawl counter(s) {', '.join(unknown)}: use {', '.join(COUNTER_KEYS)}."
        )
    values: dict[str, int] = {}
    for name, delta in deltas.items():
        if isinstance(delta, bool) or not isinstance(delta, int) or delta < 0:
            raise ValueError(f"Crawl counter {name} can only grow: {delta!r} cannot be added.")
        if delta:
            values[name] = delta
    if not values:
        return
    stmt = _add_counts(tuple(sorted(values)))
    result = session.execute(stmt, {"crawl": crawl_id, **{f"d_{k}": v for k, v in values.items()}})
    if getattr(result, "rowcount", 1) == 0:
        raise NotFoundError(f"No crawl has id {crawl_id}: its counters cannot be updated.")


def reap_dead_crawls(
    store: Store,
    *,
    host: str,
    pid_alive: Callable[[int], bool],
    stale_after: float = STALE_AFTER_SECONDS,
) -> list[DeadCrawl]:
    """Mark failed every running crawl that is dead, audited as SYSTEM_ACTOR, and return them.

    Dead means: it runs on `host` (this machine; pids mean nothing elsewhere) and its
    process is gone (`pid_alive(pid)` is False), or its last heartbeat (its start, for a
    row written before heartbeats existed) is older than `stale_after` seconds. Each row
    is changed only if it is still running and still in the state that condemned it, so a
    crawl that ends or beats at the same moment, or another command reaping at once, is
    never marked twice or wrongly.
    """
    if stale_after <= 0:
        raise ValueError(f"stale_after must be a positive number of seconds, not {stale_after}.")
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after)
    last_sign = func.coalesce(Crawl.heartbeat_at, Crawl.started_at)
    with store.read_session() as session:
        rows = list(
            session.execute(
                select(Crawl.id, Crawl.pid, Crawl.host, last_sign)
                .where(Crawl.outcome == RUNNING)
                .order_by(Crawl.id)
            )
        )
    reaped: list[DeadCrawl] = []
    for crawl_id, pid, crawl_host, last in rows:
        if crawl_host == host and pid is not None and not pid_alive(int(pid)):
            reason = f"its process (pid {pid} on {host}) is gone"
            condition = Crawl.pid == pid
        elif last is not None and last < cutoff:
            reason = (
                f"no heartbeat for {(now - last).total_seconds():.0f} s "
                f"(since {last:%Y-%m-%dT%H:%M:%S}Z; the limit is {stale_after:g} s)"
            )
            condition = last_sign < cutoff
        else:
            continue
        with store.session() as session:
            result = session.execute(
                update(Crawl)
                .where(Crawl.id == crawl_id, Crawl.outcome == RUNNING, condition)
                .values(outcome="failed", finished_at=utcnow(), reason=f"marked failed: {reason}")
            )
            if getattr(result, "rowcount", 0) != 1:
                continue
            append_audit(
                session, actor=SYSTEM_ACTOR, action="crawl_marked_failed", entity="crawl",
                entity_id=crawl_id, from_state=RUNNING, to_state="failed",
                detail={"reason": reason, "pid": pid, "host": crawl_host},
            )
        reaped.append(DeadCrawl(crawl_id=crawl_id, pid=pid, host=crawl_host, reason=reason))
    return reaped


def mark_crawl_failed(store: Store, crawl_id: int, *, actor: str, reason: str) -> CrawlInfo:
    """The operator's word that a running crawl is dead: mark it failed, audited as `actor`.

    Its seeds can then be crawled again. NotFoundError for an unknown id; CrawlEndedError
    (with its outcome) for a crawl that has already ended.
    """
    why = " ".join(reason.split())
    if not why:
        raise ValueError(f"Say why crawl {crawl_id} is being marked failed (a reason).")
    with store.session() as session:
        result = session.execute(
            update(Crawl)
            .where(Crawl.id == crawl_id, Crawl.outcome == RUNNING)
            .values(outcome="failed", finished_at=utcnow(), reason=f"marked failed by {actor}: "
                    f"{why}")
        )
        if getattr(result, "rowcount", 0) != 1:
            crawl = session.get(Crawl, crawl_id)
            if crawl is None:
                raise NotFoundError(f"No crawl has id {crawl_id}: list crawls to see their ids.")
            ended = f" at {crawl.finished_at:%Y-%m-%dT%H:%M:%S}Z" if crawl.finished_at else ""
            raise CrawlEndedError(
                f"Crawl {crawl_id} already ended ({crawl.outcome}{ended}); only a running "
                "crawl can be marked failed."
            )
        append_audit(
            session, actor=actor, action="crawl_marked_failed", entity="crawl",
            entity_id=crawl_id, from_state=RUNNING, to_state="failed", detail={"reason": why},
        )
    return get_crawl(store, crawl_id)


def get_crawl(store: Store, crawl_id: int) -> CrawlInfo:
    """The crawl with this id; NotFoundError if there is none."""
    with store.read_session() as session:
        crawl = session.get(Crawl, crawl_id)
        if crawl is None:
            raise NotFoundError(f"No crawl has id {crawl_id}: list crawls to see their ids.")
        return _info(crawl, _seed_ids(session, [crawl_id]).get(crawl_id, ()))


def list_crawls(
    store: Store,
    *,
    seed_id: int | None = None,
    limit: int | None = 50,
    outcome: str | None = None,
    offset: int = 0,
) -> list[CrawlInfo]:
    """Crawls newest first; `seed_id` keeps those covering that seed, `outcome` those that
    ended that way ('running' lists the crawls in progress); `offset` skips that many."""
    query = select(Crawl).order_by(Crawl.id.desc())
    if seed_id is not None:
        query = query.where(
            Crawl.id.in_(select(CrawlSeed.crawl_id).where(CrawlSeed.seed_id == seed_id))
        )
    if outcome is not None:
        query = query.where(Crawl.outcome == outcome)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.read_session() as session:
        crawls = list(session.scalars(query))
        seeds = _seed_ids(session, [c.id for c in crawls])
        return [_info(c, seeds.get(c.id, ())) for c in crawls]


def running_seed_ids(store: Store) -> set[int]:
    """Seeds covered by a crawl whose outcome is still 'running'."""
    with store.read_session() as session:
        return set(_running_seeds(session, None))


# --- internals ----------------------------------------------------------------------


def _running_seeds(session: Session, seed_ids: Sequence[int] | None) -> dict[int, int]:
    query = (
        select(CrawlSeed.seed_id, CrawlSeed.crawl_id)
        .join(Crawl, Crawl.id == CrawlSeed.crawl_id)
        .where(Crawl.outcome == RUNNING)
    )
    if seed_ids is not None:
        if not seed_ids:
            return {}
        query = query.where(CrawlSeed.seed_id.in_(list(seed_ids)))
    return {seed: crawl for seed, crawl in session.execute(query)}


def _write_stats(
    session: Session, crawl_id: int, stats: Mapping[str, Any], extra: dict[str, Any],
    *, counters: bool = True,
) -> None:
    # Counters never go down: add_crawl_counts may have counted further than this snapshot
    # of the stats (SQLite's two-argument max() is PostgreSQL's greatest()).
    larger = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    values: dict[str, Any] = {
        col: larger(getattr(Crawl, col), _counter(stats.get(key)))
        for col, key in COUNTER_KEYS.items()
    } if counters else {}
    values["stats"] = json.dumps(dict(stats), sort_keys=True, default=str)
    result = session.execute(
        update(Crawl).where(Crawl.id == crawl_id).values(**values, **extra)
    )
    if getattr(result, "rowcount", 1) == 0:
        raise NotFoundError(f"No crawl has id {crawl_id}: it cannot be updated.")


def _counter(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


def _seed_ids(session: Session, crawl_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    if not crawl_ids:
        return {}
    found: dict[int, list[int]] = {}
    rows = session.execute(
        select(CrawlSeed.crawl_id, CrawlSeed.seed_id)
        .where(CrawlSeed.crawl_id.in_(list(crawl_ids)))
        .order_by(CrawlSeed.crawl_id, CrawlSeed.seed_id)
    )
    for crawl_id, seed_id in rows:
        found.setdefault(crawl_id, []).append(seed_id)
    return {k: tuple(v) for k, v in found.items()}


def _info(crawl: Crawl, seed_ids: tuple[int, ...]) -> CrawlInfo:
    try:
        stats = json.loads(crawl.stats or "{}")
        start_urls = json.loads(crawl.start_urls or "[]")
    except ValueError:  # written by hand? show what we can rather than fail a listing
        stats, start_urls = {}, []
    return CrawlInfo(
        id=crawl.id,
        started_at=crawl.started_at,
        finished_at=crawl.finished_at,
        outcome=crawl.outcome,
        reason=crawl.reason,
        schedule_id=crawl.schedule_id,
        pid=crawl.pid,
        host=crawl.host,
        heartbeat_at=crawl.heartbeat_at,
        frontier=crawl.frontier,
        start_urls=tuple(start_urls),
        seed_ids=seed_ids,
        pages=crawl.pages,
        images=crawl.images,
        hashed=crawl.hashed,
        hits=crawl.hits,
        errors=crawl.errors,
        stats=stats if isinstance(stats, dict) else {},
    )
