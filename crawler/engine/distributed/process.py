"""Run one `trawl worker` in this process: the worker spider with the distributed parts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.engine.process import SpiderRun, run_spider, trawl_settings
from crawler.engine.settings import DOWNLOADER_MIDDLEWARES, EXTENSIONS

if TYPE_CHECKING:
    from storage.db import Store

_PACKAGE = "crawler.engine.distributed"

# What a worker changes in Trawl's settings (crawler/engine/settings.py), with its own
# TRAWL_* settings and their defaults. A crawl of one process uses none of this.
WORKER_SETTINGS: dict[str, Any] = {
    "SCHEDULER": f"{_PACKAGE}.scheduler.LeasedScheduler",
    "ITEM_PIPELINES": {
        "crawler.engine.pipelines.hashing.HashPipeline": 100,
        f"{_PACKAGE}.pipelines.ReloadingMatchPipeline": 200,
        f"{_PACKAGE}.pipelines.LeasedStorePipeline": 300,
    },
    "EXTENSIONS": {
        **EXTENSIONS,
        "crawler.engine.extensions.crawlstats.CrawlStatsExtension": None,  # rows: per crawl
        f"{_PACKAGE}.worker.WorkerExtension": 500,
    },
    "DOWNLOADER_MIDDLEWARES": {
        **DOWNLOADER_MIDDLEWARES,
        f"{_PACKAGE}.politeness.HostLimitMiddleware": 950,  # next to the downloader
        # A worker outlives crawls: hashed URLs are read at each crawl's start, not once.
        "crawler.engine.middlewares.conditional.ConditionalImageMiddleware": None,
        f"{_PACKAGE}.conditional.PerCrawlConditionalMiddleware": 560,
    },
    # Match in the reactor, where ReloadingMatchPipeline swaps in a new matcher when the
    # lists change (hash workers keep the matcher file they mapped at start).
    "TRAWL_MATCH_IN_HASH_POOL": False,
    "TRAWL_REDIS_PREFIX": "trawl",  # key prefix: one frontier per prefix on a server
    "TRAWL_LEASE_SECONDS": 300.0,  # a request not done by then is crawled again
    "TRAWL_LEASE_BATCH": 4,  # requests leased per round trip to Redis
    # Round trips to Redis on a thread of their own, leases fetched ahead: the reactor
    # never waits for Redis (False: on the reactor thread, as before; for comparisons)
    "TRAWL_REDIS_THREAD": True,
    "TRAWL_WORKER_HEARTBEAT": 1.0,  # seconds between heartbeats, reaps and crawl-end checks
    "TRAWL_WORKER_TTL": 10.0,  # a worker silent this long is dead: its leases are re-queued
    "TRAWL_HOST_CONCURRENCY": 8,  # requests in flight per host, across all workers (0: off)
    "TRAWL_HOST_DELAY": 0.0,  # seconds between two requests' starts per host, all workers
    "TRAWL_LIST_CHECK_INTERVAL": 5.0,  # seconds between checks for imported lists
}


def run_worker(
    store: Store,
    redis_url: str,
    *,
    settings: dict[str, Any] | None = None,
    log_file: Path | None = None,
    verbose: bool = False,
) -> SpiderRun:
    """Consume the frontier at `redis_url` until stopped (SIGINT/SIGTERM); blocks. Leases
    still held when it stops are put back in the frontier."""
    overrides = {**WORKER_SETTINGS, **(settings or {})}
    overrides.update({"TRAWL_DATABASE_URL": store.url, "TRAWL_REDIS_URL": redis_url})
    return run_spider("worker", trawl_settings(overrides), store=store, log_file=log_file,
                      verbose=verbose)
