"""Crawls: which seeds to crawl, running one crawl in this process, and what it did."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.engine.scope import DEFAULT_DEPTH, ScopeError, SeedPlan, canonicalize_url
from crawler.errors import TrawlError

if TYPE_CHECKING:
    from storage.db import Store
    from storage.records import DeadCrawl
    from storage.seeds import SeedInfo

logger = logging.getLogger(__name__)

# Scrapy's finish_reason -> the crawl row's outcome.
OUTCOMES = {
    "finished": "finished",
    "closespider_timeout": "timeout",
    "shutdown": "killed",  # SIGINT/SIGTERM: stopped gracefully, everything found is recorded
    "marked_failed": "failed",  # marked failed while running (the row keeps that reason)
}
COUNTERS = ("pages", "images", "hashed", "hits", "errors")


class CrawlError(TrawlError, ValueError):
    """A crawl that cannot start (bad URL, nothing to crawl); the message says what to fix."""


@dataclass(frozen=True)
class CrawlSummary:
    """What a finished crawl did; counters come from the stats keys trawl/pages etc."""

    crawl_id: int
    outcome: str  # finished | failed | timeout | killed
    reason: str | None
    pages: int
    images: int
    hashed: int
    hits: int
    errors: int
    duration: float
    stats: dict[str, Any] = field(default_factory=dict)
    start_failures: dict[str, str] = field(default_factory=dict)


def reap_dead_crawls(store: Store) -> list[DeadCrawl]:
    """Mark failed (audited as Trawl) every crawl still 'running' whose process is gone from
    this machine or whose heartbeat is stale, and return them. Commands that look at
    running crawls call it first, so a crawl killed with SIGKILL never blocks its seeds."""
    from crawler.services.scheduler.processes import pid_alive
    from storage.crawls import reap_dead_crawls as reap

    reaped = reap(store, host=socket.gethostname(), pid_alive=pid_alive)
    for dead in reaped:
        logger.warning("crawl %d was still marked running; marked it failed: %s",
                       dead.crawl_id, dead.reason)
    return reaped


def select_seeds(
    store: Store,
    *,
    seed_ids: Sequence[int] = (),
    tag: str | None = None,
    depth: int | None = None,
    max_pages: int | None = None,
) -> list[SeedInfo]:
    """The seeds a crawl covers: the ids given, the active seeds with `tag`, or, with neither,
    every active seed; `depth`/`max_pages` override the seeds' own limits. Raises CrawlError
    naming unknown ids, or a tag that selects nothing (saying when its seeds are paused)."""
    from storage.seeds import list_seeds

    seeds: list[SeedInfo] = []
    if seed_ids:
        seeds += list_seeds(store, ids=list(seed_ids))
        missing = sorted(set(seed_ids) - {s.id for s in seeds})
        if missing:
            raise CrawlError(
                f"No seed with id {', '.join(map(str, missing))}: see `trawl seeds list` for "
                "the ids."
            )
    if tag:
        tagged = list_seeds(store, active_only=True, tag=tag)
        if not tagged:
            paused = list_seeds(store, tag=tag)
            if paused:
                ids = ", ".join(str(s.id) for s in paused)
                raise CrawlError(
                    f"Every seed with the tag {tag!r} is paused (ids {ids}): resume them with "
                    f"`trawl seeds resume {ids.replace(', ', ' ')}` to crawl them."
                )
            raise CrawlError(f"No seed has the tag {tag!r}: see `trawl seeds list`.")
        seeds += [s for s in tagged if s.id not in {x.id for x in seeds}]
    if not seed_ids and not tag:
        seeds = list_seeds(store, active_only=True)
    if depth is not None or max_pages is not None:
        seeds = [
            replace(s, depth=s.depth if depth is None else depth,
                    max_pages=s.max_pages if max_pages is None else max_pages)
            for s in seeds
        ]
    return seeds


def build_plans(
    seeds: Sequence[SeedInfo] | None,
    urls: Sequence[str] | None,
    *,
    depth: int = DEFAULT_DEPTH,
    max_pages: int | None = None,
) -> list[SeedPlan]:
    """Seed rows keep their own limits; ad-hoc URLs get depth/max_pages. Raises CrawlError
    naming the first URL Trawl cannot crawl (unknown scheme, no host)."""
    plans = [
        SeedPlan(
            url=s.url,
            depth=s.depth,
            max_pages=s.max_pages,
            include_subdomains=s.include_subdomains,
            obey_robots=s.obey_robots,
            seed_id=s.id,
        )
        for s in seeds or ()
    ]
    plans += [SeedPlan(url=u, depth=depth, max_pages=max_pages) for u in urls or ()]
    for plan in plans:
        try:
            canonicalize_url(plan.url)
        except ScopeError as exc:
            raise CrawlError(str(exc)) from None
    if not plans:
        raise CrawlError("Nothing to crawl: give URLs, or add seeds with `trawl seeds add`.")
    return plans


def _outcome(
    finish_reason: str | None, pages: int, start_failures: dict[str, str],
    startup_error: str | None,
) -> tuple[str, str | None]:
    if startup_error:
        return "failed", startup_error
    if pages == 0 and start_failures:
        detail = "; ".join(f"{url}: {why}" for url, why in start_failures.items())
        count = len(start_failures)
        return "failed", f"nothing crawled: all {count} start URLs failed: {detail}"
    outcome = OUTCOMES.get(finish_reason or "", "failed")
    return outcome, None if outcome == "finished" else f"stopped: {finish_reason}"


def run_crawl(
    store: Store,
    *,
    seeds: Sequence[SeedInfo] = (),
    urls: Sequence[str] = (),
    crawl_id: int | None = None,
    schedule_id: int | None = None,
    time_budget: float | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool = False,
    log_file: Path | None = None,
    verbose: bool = False,
) -> CrawlSummary:
    """Crawl the seeds and URLs, blocking until done, and record the outcome on the crawl row.

    Runs Scrapy in this process, so call it once per process (Twisted's reactor cannot
    restart); the crawl's components share `store`. Starts the crawl row unless crawl_id is
    given (a scheduler that claimed it); a stored seed already in a running crawl makes it
    raise storage.crawls.SeedsBusyError. Raises CrawlError for URLs Trawl cannot crawl,
    before any row is written.
    """
    from crawler.engine.scrapystart import charset_detection_on_first_use
    from storage.crawls import finish_crawl, start_crawl

    with charset_detection_on_first_use():  # Scrapy is imported here
        from crawler.engine.process import run_spider, trawl_settings

    overrides = dict(settings or {})
    plans = build_plans(
        seeds,
        urls,
        depth=int(overrides.get("TRAWL_DEFAULT_DEPTH", DEFAULT_DEPTH)),
        max_pages=overrides.get("TRAWL_MAX_PAGES"),
    )
    if crawl_id is None:
        reap_dead_crawls(store)  # a dead crawl must not hold its seeds
        seed_ids = [p.seed_id for p in plans if p.seed_id is not None]
        crawl_id = start_crawl(
            store,
            start_urls=[p.url for p in plans],
            seed_ids=seed_ids,
            schedule_id=schedule_id,
            pid=os.getpid(),
            exclusive=bool(seed_ids),  # a seed is never crawled twice at once
        )
    overrides.update({
        "TRAWL_DATABASE_URL": store.url, "TRAWL_CRAWL_ID": crawl_id, "TRAWL_PROGRESS": progress,
    })
    if time_budget:
        overrides["CLOSESPIDER_TIMEOUT"] = float(time_budget)
    try:
        run = run_spider("seed", trawl_settings(overrides), store=store, log_file=log_file,
                         verbose=verbose, seeds=plans)
    except BaseException as exc:  # record the failure, then let it propagate
        crashed = f"crawl crashed: {type(exc).__name__}: {exc}"
        finish_crawl(store, crawl_id, outcome="failed", stats={}, reason=crashed)
        raise
    start_failures = dict(getattr(run.spider, "start_failures", {}))
    outcome, reason = _outcome(
        run.stats.get("finish_reason"),
        int(run.stats.get("trawl/pages", 0)),
        start_failures,
        run.startup_error,
    )
    finish_crawl(store, crawl_id, outcome=outcome, stats=run.stats, reason=reason)
    counts = {k: int(run.stats.get(f"trawl/{k}", 0)) for k in COUNTERS}
    return CrawlSummary(
        crawl_id=crawl_id, outcome=outcome, reason=reason, **counts, duration=run.duration,
        stats=run.stats, start_failures=start_failures,
    )
