"""Run one crawl in this process: crawl row, Scrapy CrawlerProcess, outcome and stats."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler.engine.extensions.crawlstats import json_safe_stats
from crawler.engine.extensions.logformatter import one_line_errors
from crawler.engine.scope import DEFAULT_DEPTH, ScopeError, SeedPlan, canonicalize_url
from storage.crawls import finish_crawl, start_crawl
from storage.db import open_store

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from storage.seeds import SeedInfo

# Scrapy's finish_reason -> the crawl row's outcome.
OUTCOMES = {
    "finished": "finished",
    "closespider_timeout": "timeout",
    "shutdown": "killed",  # SIGINT/SIGTERM: stopped gracefully, everything found is recorded
}


class CrawlError(ValueError):
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


def crawl_settings(
    store_url: str, crawl_id: int, overrides: dict[str, Any] | None, progress: bool,
    time_budget: float | None,
) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.engine.settings", priority="project")
    settings.update(overrides or {}, priority="cmdline")
    settings.set("TRAWL_DB_URL", store_url, priority="cmdline")
    settings.set("TRAWL_CRAWL_ID", crawl_id, priority="cmdline")
    settings.set("TRAWL_PROGRESS", progress, priority="cmdline")
    if time_budget:
        settings.set("CLOSESPIDER_TIMEOUT", float(time_budget), priority="cmdline")
    return settings


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


@dataclass
class _Run:
    stats: dict[str, Any]
    start_failures: dict[str, str]
    startup_error: str | None
    duration: float


def _run_scrapy(settings: Settings, plans: list[SeedPlan]) -> _Run:
    from spiders.seed import SeedSpider

    started = time.monotonic()
    process = CrawlerProcess(settings)
    one_line_errors()
    crawler = process.create_crawler(SeedSpider)
    startup_errors: list[str] = []

    def crawl_failed(failure: Failure) -> None:
        startup_errors.append(f"crawl could not run: {failure.getErrorMessage()}")

    process.crawl(crawler, seeds=plans).addErrback(crawl_failed)
    process.start()
    return _Run(
        stats=json_safe_stats(crawler.stats.get_stats() if crawler.stats else {}),
        start_failures=dict(getattr(crawler.spider, "start_failures", {})),
        startup_error=startup_errors[0] if startup_errors else None,
        duration=time.monotonic() - started,
    )


def run_crawl(
    store_url: str,
    *,
    seeds: list[SeedInfo] | None,
    urls: list[str] | None,
    crawl_id: int | None = None,
    schedule_id: int | None = None,
    time_budget: float | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool = False,
) -> CrawlSummary:
    """Crawl the seeds and URLs, blocking until done, and record the outcome on the crawl row.

    Runs Scrapy in this process, so call it once per process (Twisted's reactor cannot
    restart). Starts the crawl row unless crawl_id is given (a scheduler that claimed it);
    a stored seed already in a running crawl makes it raise storage.crawls.SeedsBusyError.
    Raises CrawlError for URLs Trawl cannot crawl, before any row is written.
    """
    overrides = dict(settings or {})
    plans = build_plans(
        seeds,
        urls,
        depth=int(overrides.get("TRAWL_DEFAULT_DEPTH", DEFAULT_DEPTH)),
        max_pages=overrides.get("TRAWL_MAX_PAGES"),
    )
    store = open_store(store_url)
    try:
        if crawl_id is None:
            seed_ids = [p.seed_id for p in plans if p.seed_id is not None]
            crawl_id = start_crawl(
                store,
                start_urls=[p.url for p in plans],
                seed_ids=seed_ids,
                schedule_id=schedule_id,
                pid=os.getpid(),
                exclusive=bool(seed_ids),  # a seed is never crawled twice at once
            )
        try:
            run = _run_scrapy(
                crawl_settings(store_url, crawl_id, overrides, progress, time_budget), plans
            )
        except BaseException as exc:  # record the failure, then let it propagate
            crashed = f"crawl crashed: {type(exc).__name__}: {exc}"
            finish_crawl(store, crawl_id, outcome="failed", stats={}, reason=crashed)
            raise
        outcome, reason = _outcome(
            run.stats.get("finish_reason"),
            int(run.stats.get("trawl/pages", 0)),
            run.start_failures,
            run.startup_error,
        )
        finish_crawl(store, crawl_id, outcome=outcome, stats=run.stats, reason=reason)
    finally:
        store.close()
    counts = {k: int(run.stats.get(f"trawl/{k}", 0))
              for k in ("pages", "images", "hashed", "hits", "errors")}
    return CrawlSummary(
        crawl_id=crawl_id, outcome=outcome, reason=reason, **counts, duration=run.duration,
        stats=run.stats, start_failures=run.start_failures,
    )
