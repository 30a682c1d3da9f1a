"""Crawl history as rows: duration, counters, drop and error reasons, and the trend per seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crawler.clock import utcnow

if TYPE_CHECKING:
    from storage.db import Store
    from storage.records import CrawlInfo

COUNTERS = ("pages", "images", "hashed", "hits", "errors")
# Stats key prefixes shown as breakdowns in `trawl crawls show`, with their headings.
BREAKDOWNS = {
    "trawl/drop/": "dropped",
    "trawl/errors/": "error_reasons",
    "trawl/image_status/": "image_status",
    "trawl/address_refused/": "address_refused",  # internal addresses not connected to
}
RECRAWL_KEYS = {
    "conditional_requests": "trawl/conditional_requests",
    "not_modified": "trawl/not_modified",
    "response_bytes": "downloader/response_bytes",
}
LIST_COLUMNS = (
    "id", "started_at", "outcome", "duration", *COUNTERS, "not_modified", "schedule_id",
    "seeds", "reason",
)
TREND_COLUMNS = ("id", "started_at", "outcome", "duration", *COUNTERS, "not_modified",
                 "pages_change", "images_change", "hits_change")


def duration_seconds(info: CrawlInfo, now: datetime | None = None) -> float:
    """How long the crawl ran (so far, for one still running)."""
    end = info.finished_at or now or utcnow()
    return max(0.0, (end - info.started_at).total_seconds())


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _int(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def crawl_row(info: CrawlInfo, now: datetime | None = None) -> dict[str, Any]:
    """One crawl as a flat row (duration in seconds plus a readable form)."""
    seconds = duration_seconds(info, now)
    return {
        "id": info.id,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
        "outcome": info.outcome,
        "duration": format_seconds(seconds),
        "duration_seconds": round(seconds, 3),
        **{name: getattr(info, name) for name in COUNTERS},
        "not_modified": _int(info.stats, RECRAWL_KEYS["not_modified"]),
        "schedule_id": info.schedule_id,
        "seeds": " ".join(f"#{i}" for i in info.seed_ids),
        "seed_ids": list(info.seed_ids),
        "reason": info.reason,
    }


def breakdown(stats: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Drop reasons, error reasons and image fetch statuses from a crawl's stats."""
    groups: dict[str, dict[str, int]] = {name: {} for name in BREAKDOWNS.values()}
    for key in sorted(stats):
        for prefix, name in BREAKDOWNS.items():
            if key.startswith(prefix):
                groups[name][key[len(prefix):]] = _int(stats, key)
    return groups


def recrawl_figures(stats: Mapping[str, Any]) -> dict[str, int]:
    return {name: _int(stats, key) for name, key in RECRAWL_KEYS.items()}


def trend(crawls: Sequence[CrawlInfo], now: datetime | None = None) -> list[dict[str, Any]]:
    """A seed's crawls newest first, each with its change against the crawl before it."""
    rows = [crawl_row(c, now) for c in crawls]
    for row, older in zip(rows, [*rows[1:], None], strict=True):
        for name in ("pages", "images", "hits"):
            row[f"{name}_change"] = (
                None if older is None else f"{row[name] - older[name]:+d}"
            )
    return rows


def crawl_detail(
    info: CrawlInfo, seed_trends: Mapping[int, Sequence[CrawlInfo]], now: datetime | None = None
) -> dict[str, Any]:
    """Everything `trawl crawls show` prints: the row, start URLs, breakdowns and trends."""
    return {
        **crawl_row(info, now),
        "pid": info.pid,
        "start_urls": list(info.start_urls),
        "recrawl": recrawl_figures(info.stats),
        **breakdown(info.stats),
        "trend": {str(seed): trend(crawls, now) for seed, crawls in seed_trends.items()},
        "stats": dict(info.stats),
    }


def crawl_history(
    store: Store,
    *,
    seed_id: int | None = None,
    schedule_ref: str | None = None,
    outcome: str | None = None,
    limit: int = 20,
) -> list[CrawlInfo]:
    """Crawls newest first, optionally of one seed, one schedule (id or name) or outcome;
    crawls left 'running' by a dead process are marked failed first."""
    from crawler.services.crawls import reap_dead_crawls
    from storage.crawls import get_crawl, list_crawls
    from storage.schedules import get_schedule, schedule_crawl_ids

    reap_dead_crawls(store)
    if schedule_ref is None:
        return list_crawls(store, seed_id=seed_id, limit=limit, outcome=outcome)
    schedule = get_schedule(store, schedule_ref)
    crawls = [get_crawl(store, i) for i in schedule_crawl_ids(store, schedule.id,
                                                               limit=limit * 10)]
    return [c for c in crawls if (seed_id is None or seed_id in c.seed_ids)
            and (outcome is None or c.outcome == outcome)][:limit]


def crawl_report(store: Store, crawl_id: int, *, trend_limit: int = 10) -> dict[str, Any]:
    """`crawl_detail` of one crawl, with the recent crawls of each of its seeds (dead
    crawls marked failed first)."""
    from crawler.services.crawls import reap_dead_crawls
    from storage.crawls import get_crawl, list_crawls
    from storage.workers import crawl_worker_counts

    reap_dead_crawls(store)
    info = get_crawl(store, crawl_id)
    trends = {s: list_crawls(store, seed_id=s, limit=trend_limit) for s in info.seed_ids}
    detail = crawl_detail(info, trends)
    detail["frontier"] = info.frontier
    detail["workers"] = [asdict(w) for w in crawl_worker_counts(store, crawl_id)]
    return detail
