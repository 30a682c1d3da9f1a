"""Run the re-check spider in this process and record removed / still-live outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from storage.notices import (
    DEFAULT_RENOTICE_HOURS,
    RecheckResult,
    RecheckSummary,
    RecheckTarget,
    recheck_targets,
    record_recheck,
)

# Trawl's crawl components (scope, conditional requests, hash/match/store pipelines, crawl
# stats) belong to seed crawls; a re-check only fetches known URLs and hashes them in memory.
_OWN_COMPONENT_PREFIXES = ("crawler.",)


class RecheckError(RuntimeError):
    """A re-check that could not run; the message says why."""


def recheck_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The hardened crawl settings (no cache, no telnet, http(s) only) minus crawl components."""
    settings = Settings()
    settings.setmodule("crawler.engine.settings", priority="project")
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS"):
        kept = {k: v for k, v in settings.getdict(name).items()
                if not (isinstance(k, str) and k.startswith(_OWN_COMPONENT_PREFIXES))}
        settings.set(name, kept, priority="cmdline")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    # Known URLs already reported to the provider, one request each: not a traversal.
    settings.set("ROBOTSTXT_OBEY", False, priority="cmdline")
    settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
    settings.update(overrides or {}, priority="cmdline")
    return settings


def fetch_outcomes(targets: Sequence[RecheckTarget], overrides: dict[str, Any] | None = None
                   ) -> list[RecheckResult]:
    """Fetch every target once and compare with its known hashes. Blocks; once per process
    (Twisted's reactor cannot restart)."""
    from spiders.recheck import RecheckSpider

    if not targets:
        return []
    settings = recheck_settings(overrides)
    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(RecheckSpider)
    errors: list[str] = []
    process.crawl(crawler, targets=list(targets),
                  max_pixels=settings.getint("TRAWL_MAX_PIXELS") or None
                  ).addErrback(lambda f: errors.append(f.getErrorMessage()))
    process.start()
    if errors:
        raise RecheckError(f"the re-check could not run: {errors[0]}")
    spider = crawler.spider
    results: list[RecheckResult] = list(getattr(spider, "results", []))
    seen = {r.hit_id for r in results}
    # A request that never produced a callback (e.g. dropped by a middleware) is inconclusive.
    results += [RecheckResult(hit_id, "inconclusive", "no response")
                for t in targets for hit_id, *_ in t.hits if hit_id not in seen]
    return results


def run_recheck(
    store_url: str,
    *,
    actor: str,
    renotice_hours: float = DEFAULT_RENOTICE_HOURS,
    now: datetime | None = None,
    hit_ids: Sequence[int] | None = None,
    settings: dict[str, Any] | None = None,
) -> RecheckSummary:
    """Re-fetch the media of notified and live hits and record the outcome of each."""
    from storage.db import StorageError, open_store

    try:
        store = open_store(store_url)
    except StorageError as exc:
        raise RecheckError(str(exc)) from None
    try:
        targets = recheck_targets(store, hit_ids=hit_ids)
        results = fetch_outcomes(targets, settings)
        return record_recheck(store, results, actor=actor, renotice_hours=renotice_hours,
                              now=now)
    finally:
        store.close()
