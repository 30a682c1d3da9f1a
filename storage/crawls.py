"""Crawl runs: when they started and ended, which seeds they cover, and their stats."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, text, update

from storage.db import NotFoundError, StorageError, utcnow
from storage.models import Crawl, CrawlSeed
from storage.records import CrawlInfo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "COUNTER_KEYS",
    "FINAL_OUTCOMES",
    "CrawlInfo",
    "SeedsBusyError",
    "finish_crawl",
    "get_crawl",
    "list_crawls",
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


class SeedsBusyError(StorageError):
    """An exclusive crawl start found some of its seeds in a crawl that is still running."""

    def __init__(self, busy: Mapping[int, int]) -> None:
        self.busy = dict(busy)  # seed id -> running crawl id
        pairs = ", ".join(f"seed {s} (crawl {c})" for s, c in sorted(self.busy.items()))
        super().__init__(
            f"These seeds are being crawled already: {pairs}. Wait for those crawls to end, "
            "or mark them finished if their process died."
        )


def start_crawl(
    store: Store,
    *,
    start_urls: Sequence[str],
    seed_ids: Sequence[int],
    schedule_id: int | None = None,
    pid: int | None = None,
    exclusive: bool = False,
) -> int:
    """Create a crawl row (outcome 'running') and return its id.

    With `exclusive`, refuse (SeedsBusyError) when any of the seeds is in a running crawl;
    the check and the insert are one serialised transaction, so two schedulers racing for
    the same seed cannot both start it.
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
        crawl = Crawl(
            started_at=utcnow(),
            outcome=RUNNING,
            schedule_id=schedule_id,
            pid=pid,
            start_urls=json.dumps(list(start_urls)),
            stats="{}",
        )
        session.add(crawl)
        session.flush()
        if seeds:
            session.execute(
                insert(CrawlSeed), [{"crawl_id": crawl.id, "seed_id": s} for s in seeds]
            )
        return crawl.id


def update_crawl_stats(store: Store, crawl_id: int, stats: Mapping[str, Any]) -> None:
    """Store the crawl's current stats (and the counters read from them) while it runs."""
    with store.session() as session:
        _write_stats(session, crawl_id, stats, {})


def finish_crawl(
    store: Store,
    crawl_id: int,
    *,
    outcome: str,
    stats: Mapping[str, Any],
    reason: str | None = None,
) -> None:
    """Record how a crawl ended: outcome is finished, failed, killed or timeout."""
    if outcome not in FINAL_OUTCOMES:
        raise ValueError(
            f"Crawl outcome {outcome!r} is not one of {', '.join(FINAL_OUTCOMES)}."
        )
    with store.session() as session:
        _write_stats(
            session, crawl_id, stats, {"outcome": outcome, "reason": reason,
                                       "finished_at": utcnow()}
        )


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
) -> list[CrawlInfo]:
    """Crawls newest first; `seed_id` keeps those covering that seed, `outcome` those that
    ended that way ('running' lists the crawls in progress)."""
    query = select(Crawl).order_by(Crawl.id.desc())
    if seed_id is not None:
        query = query.where(
            Crawl.id.in_(select(CrawlSeed.crawl_id).where(CrawlSeed.seed_id == seed_id))
        )
    if outcome is not None:
        query = query.where(Crawl.outcome == outcome)
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
    session: Session, crawl_id: int, stats: Mapping[str, Any], extra: dict[str, Any]
) -> None:
    values: dict[str, Any] = {col: _counter(stats.get(key)) for col, key in COUNTER_KEYS.items()}
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
        start_urls=tuple(start_urls),
        seed_ids=seed_ids,
        pages=crawl.pages,
        images=crawl.images,
        hashed=crawl.hashed,
        hits=crawl.hits,
        errors=crawl.errors,
        stats=stats if isinstance(stats, dict) else {},
    )
