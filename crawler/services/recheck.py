"""Re-check notified images: fetch their URLs again (in memory) and record removed or live."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.errors import TrawlError
from storage.policy import DEFAULT_RENOTICE_HOURS

if TYPE_CHECKING:
    from scrapy.settings import Settings

    from matchers.decision import Matcher
    from storage.db import Store
    from storage.notices import RecheckResult, RecheckSummary, RecheckTarget

# A re-check fetches known URLs (no traversal, no crawl row) and hashes them off the reactor
# like a crawl, then decides with the crawl's matcher.
RECHECK_PIPELINES = {
    "crawler.engine.pipelines.hashing.HashPipeline": 100,
    "crawler.engine.pipelines.recheck.RecheckPipeline": 200,
}
# Crawl components a re-check does without: seed scope and conditional requests (pages and
# stored validators are a crawl's business) and the crawl row's stats.
CRAWL_ONLY = (
    "crawler.engine.middlewares.scope.ScopeMiddleware",
    "crawler.engine.middlewares.conditional.ConditionalImageMiddleware",
    "crawler.engine.extensions.crawlstats.CrawlStatsExtension",
    "crawler.engine.extensions.heartbeat.HeartbeatExtension",
)


class RecheckError(TrawlError, RuntimeError):
    """A re-check that could not run; the message says why."""


def recheck_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The hardened crawl settings (no cache, no telnet, http(s) only) for a re-check."""
    from crawler.engine.process import trawl_settings

    settings = trawl_settings()
    for name in ("DOWNLOADER_MIDDLEWARES", "EXTENSIONS"):
        kept = {k: (None if k in CRAWL_ONLY else v) for k, v in settings.getdict(name).items()}
        settings.set(name, kept, priority="cmdline")
    settings.set("ITEM_PIPELINES", RECHECK_PIPELINES, priority="cmdline")
    settings.set("TRAWL_MATCH_IN_HASH_POOL", False, priority="cmdline")  # RecheckPipeline decides
    # Known URLs already reported to the provider, one request each: not a traversal.
    settings.set("ROBOTSTXT_OBEY", False, priority="cmdline")
    settings.update(overrides or {}, priority="cmdline")
    return settings


def recheck_matcher(store: Store, targets: Sequence[RecheckTarget]) -> Matcher:
    """The crawl's matcher over every known hash, at thresholds no tighter than the ones
    the targets' matches were recorded at (a list may have been matched looser)."""
    from crawler.adapter import build_matcher
    from matchers.hashtypes import HASH_TYPES

    loosest: dict[str, int] = {}
    for target in targets:
        for hash_type, threshold in target.thresholds:
            kind = HASH_TYPES.get(hash_type)
            if kind is not None and kind.kind == "perceptual":
                loosest[hash_type] = max(threshold, kind.default_threshold,
                                         loosest.get(hash_type, 0))
    return build_matcher(store, thresholds=loosest or None)


def fetch_outcomes(
    store: Store, targets: Sequence[RecheckTarget], overrides: dict[str, Any] | None = None,
    *, verbose: bool = False,
) -> list[RecheckResult]:
    """Fetch every target once and decide each with the crawl's matcher. Blocks; once per
    process (Twisted's reactor cannot restart)."""
    from crawler.engine.process import run_spider
    from storage.notices import RecheckResult

    if not targets:
        return []
    run = run_spider("recheck", recheck_settings(overrides), store=store,
                     matcher=recheck_matcher(store, targets), verbose=verbose,
                     targets=list(targets))
    if run.startup_error:
        raise RecheckError(f"the re-check could not run: {run.startup_error}")
    results: list[RecheckResult] = list(getattr(run.spider, "results", []))
    seen = {r.hit_id for r in results}
    # A request that never produced a callback (e.g. dropped by a middleware) is inconclusive.
    results += [RecheckResult(t.hit_id, "inconclusive", "no response")
                for t in targets if t.hit_id not in seen]
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
    """Re-fetch the notified and live images and record the outcome of each."""
    from storage.notices import recheck_targets, record_recheck

    targets = recheck_targets(store, hit_ids=hit_ids)
    results = fetch_outcomes(store, targets, settings, verbose=verbose)
    return record_recheck(store, results, actor=actor, renotice_hours=renotice_hours, now=now)


def running_recheck(store: Store) -> int | None:
    """The pid of the last re-check started by start_recheck, if that process is still a
    `trawl recheck` on this machine (so a double click does not fetch everything twice)."""
    import json

    from crawler.services.scheduler.processes import cmdline, pid_alive
    from storage.audit import list_audit

    last = list_audit(store, action="recheck_started", entity="recheck", limit=1,
                      newest_first=True)
    if not last or not last[0].detail:
        return None
    try:
        pid = int(json.loads(last[0].detail).get("pid", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    argv = cmdline(pid) or []
    return pid if pid_alive(pid) and "recheck" in argv else None


@dataclass(frozen=True)
class StartedRecheck:
    """A re-check running in its own process (`trawl recheck`), as the person who asked."""

    pid: int
    hits: int
    log_path: Path


def start_recheck(store: Store, *, actor: str, hit_ids: Sequence[int] | None = None,
                  log_dir: Path | None = None) -> StartedRecheck:
    """Start `trawl --as ACTOR recheck` in its own process, for interfaces that must not
    block on a fetch (Scrapy runs once per process): the web app. The process records each
    outcome as `actor`; the request itself is audited here. Raises RecheckError when there
    is nothing to re-check."""
    from crawler.services.scheduler.options import default_log_dir
    from crawler.services.scheduler.processes import default_crawl_command, spawn_crawl
    from storage.audit import append_audit
    from storage.notices import recheck_targets

    running = running_recheck(store)
    if running is not None:
        raise RecheckError(f"A re-check is already running (process {running}, started from "
                           "the web app); its outcomes appear in the audit trail as it goes. "
                           "Start another when it has ended.")
    targets = recheck_targets(store, hit_ids=hit_ids)
    if not targets:
        raise RecheckError("Nothing to re-check: no notified or live image"
                           + (" among the hits given." if hit_ids else "."))
    args = ["--as", actor, "recheck"]
    for target in targets:
        args += ["--hit", str(target.hit_id)]
    stamp = time.strftime("%Y%m%dT%H%M%S")
    log_path = (log_dir or default_log_dir()) / f"recheck-{stamp}-{os.getpid()}.log"
    popen = spawn_crawl(default_crawl_command(), args, db_url=store.url, log_path=log_path)
    with store.session() as session:
        append_audit(session, actor=actor, action="recheck_started", entity="recheck",
                     detail={"hits": [t.hit_id for t in targets], "pid": popen.pid})
    return StartedRecheck(popen.pid, len(targets), log_path)
