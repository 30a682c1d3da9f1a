"""Re-check notified images: fetch their URLs again (in memory) and record removed or live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crawler.errors import TrawlError
from storage.policy import DEFAULT_RENOTICE_HOURS

if TYPE_CHECKING:
    from scrapy.settings import Settings

    from storage.db import Store
    from storage.notices import RecheckResult, RecheckSummary, RecheckTarget

# Trawl's crawl components (scope, conditional requests, hash/match/store pipelines, crawl
# stats) belong to seed crawls; a re-check only fetches known URLs and hashes them in memory.
_OWN_COMPONENT_PREFIXES = ("crawler.",)


class RecheckError(TrawlError, RuntimeError):
    """A re-check that could not run; the message says why."""


def recheck_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The hardened crawl settings (no cache, no telnet, http(s) only) minus crawl components."""
    from crawler.engine.process import trawl_settings

    settings = trawl_settings()
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS"):
        kept = {k: v for k, v in settings.getdict(name).items()
                if not (isinstance(k, str) and k.startswith(_OWN_COMPONENT_PREFIXES))}
        settings.set(name, kept, priority="cmdline")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    # Known URLs already reported to the provider, one request each: not a traversal.
    settings.set("ROBOTSTXT_OBEY", False, priority="cmdline")
    settings.update(overrides or {}, priority="cmdline")
    return settings


def fetch_outcomes(targets: Sequence[RecheckTarget], overrides: dict[str, Any] | None = None,
                   *, verbose: bool = False) -> list[RecheckResult]:
    """Fetch every target once and compare with its known hashes. Blocks; once per process
    (Twisted's reactor cannot restart)."""
    from crawler.engine.process import run_spider
    from storage.notices import RecheckResult

    if not targets:
        return []
    settings = recheck_settings(overrides)
    run = run_spider("recheck", settings, verbose=verbose, targets=list(targets),
                     max_pixels=settings.getint("TRAWL_MAX_PIXELS") or None)
    if run.startup_error:
        raise RecheckError(f"the re-check could not run: {run.startup_error}")
    results: list[RecheckResult] = list(getattr(run.spider, "results", []))
    seen = {r.hit_id for r in results}
    # A request that never produced a callback (e.g. dropped by a middleware) is inconclusive.
    results += [RecheckResult(hit_id, "inconclusive", "no response")
                for t in targets for hit_id, *_ in t.hits if hit_id not in seen]
    return results


def run_recheck(
    store: Store,
    *,
    actor: str,
    renotice_hours: float = DEFAULT_RENOTICE_HOURS,
    now: datetime | None = None,
    hit_ids: Sequence[int] | None = None,
    settings: dict[str, Any] | None = None,
    verbose: bool = False,
) -> RecheckSummary:
    """Re-fetch the media of notified and live hits and record the outcome of each."""
    from storage.notices import recheck_targets, record_recheck

    targets = recheck_targets(store, hit_ids=hit_ids)
    results = fetch_outcomes(targets, settings, verbose=verbose)
    return record_recheck(store, results, actor=actor, renotice_hours=renotice_hours, now=now)
