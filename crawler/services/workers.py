"""Distributed crawls: queue a crawl in a shared Redis frontier, run a worker, list workers.

A distributed crawl is a crawl row (with its frontier's URL) plus its seeds in Redis; any
number of `trawl worker` processes, on any machines, crawl it together into one database.
The rules are the single-process crawl's (crawler.services.crawls builds the same plans).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.engine.scope import DEFAULT_DEPTH
from crawler.errors import TrawlError
from crawler.services.addresses import SETTING as ADDRESS_SETTING
from crawler.services.addresses import allowed_addresses
from crawler.services.crawls import build_plans

if TYPE_CHECKING:
    from crawler.engine.process import SpiderRun
    from storage.db import Store
    from storage.records import CrawlInfo
    from storage.seeds import SeedInfo
    from storage.workers import WorkerInfo

DEFAULT_PREFIX = "trawl"


class FrontierError(TrawlError, ConnectionError):
    """The Redis frontier cannot be reached (the message names it and what to check)."""


def _frontier(redis_url: str, prefix: str) -> Any:
    from crawler.engine.distributed.frontier import RedisFrontier, redis_display_url

    frontier = RedisFrontier.from_url(redis_url, prefix)
    try:
        frontier.client.ping()
    except Exception as exc:
        raise FrontierError(
            f"Cannot reach the Redis frontier at {redis_display_url(redis_url)}: {exc}. "
            "Check that Redis runs there and the URL is right (redis://HOST:6379/0)."
        ) from None
    return frontier


def _allowance_values(value: Any) -> list[str]:
    """The setting TRAWL_ALLOW_ADDRESSES as a list (a list from address_settings, or a
    string given some other way)."""
    if not value:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def enqueue_distributed_crawl(
    store: Store,
    redis_url: str,
    *,
    seeds: Sequence[SeedInfo] = (),
    urls: Sequence[str] = (),
    crawl_id: int | None = None,
    schedule_id: int | None = None,
    time_budget: float | None = None,
    settings: dict[str, Any] | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> int:
    """Start a crawl row and queue its seeds in the frontier; returns the crawl id at once
    (the workers crawl it). Same plans and errors as run_crawl; a stored seed already in a
    running crawl raises storage.crawls.SeedsBusyError. With `crawl_id` (a row a scheduler
    claimed) no row is started. The setting TRAWL_ALLOW_ADDRESSES (the crawl's
    --allow-address) is queued with the crawl: every worker applies it to this crawl."""
    from crawler.engine.distributed.frontier import redis_display_url
    from crawler.engine.distributed.seeding import enqueue_crawl
    from storage.crawls import finish_crawl, start_crawl
    from storage.workers import note_crawl_frontier

    overrides = dict(settings or {})
    plans = build_plans(
        seeds, urls, depth=int(overrides.get("TRAWL_DEFAULT_DEPTH", DEFAULT_DEPTH)),
        max_pages=overrides.get("TRAWL_MAX_PAGES"),
    )
    # The crawl's --allow-address (and TRAWL_ALLOW_ADDRESSES) go with it to every worker.
    allowed = allowed_addresses(_allowance_values(overrides.get(ADDRESS_SETTING)), environ={})
    frontier = _frontier(redis_url, prefix)
    seed_ids = [p.seed_id for p in plans if p.seed_id is not None]
    if crawl_id is None:
        crawl_id = start_crawl(
            store, start_urls=[p.url for p in plans], seed_ids=seed_ids,
            schedule_id=schedule_id, pid=None, exclusive=bool(seed_ids),
            frontier=redis_display_url(redis_url),
        )
    else:
        note_crawl_frontier(store, crawl_id, redis_display_url(redis_url))
    size = overrides.get("TRAWL_MAX_IMAGE_SIZE")
    try:
        enqueue_crawl(frontier, crawl_id, plans, time_budget=time_budget,
                      max_image_size=int(size) if size else None,
                      allow_addresses=allowed)
    except BaseException as exc:
        finish_crawl(store, crawl_id, outcome="failed", stats={},
                     reason=f"could not queue the seeds: {type(exc).__name__}: {exc}")
        raise
    return crawl_id


# Seconds between two reads of the crawl row while waiting for its end (one cheap
# query: the command returns within this of the crawl's end).
WAIT_POLL_SECONDS = 0.2


def wait_for_crawl(store: Store, crawl_id: int, *, timeout: float | None = None,
                   poll: float = WAIT_POLL_SECONDS) -> CrawlInfo:
    """Block until the crawl's row is no longer running (or `timeout` seconds pass)."""
    from storage.crawls import get_crawl

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        info = get_crawl(store, crawl_id)
        if info.outcome != "running" or (deadline is not None and time.monotonic() > deadline):
            return info
        time.sleep(poll)


def run_worker(
    store: Store,
    redis_url: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    settings: dict[str, Any] | None = None,
    log_file: Path | None = None,
    verbose: bool = False,
) -> SpiderRun:
    """Run a worker in this process until SIGINT/SIGTERM (once per process)."""
    from crawler.engine.distributed.process import run_worker as run

    _frontier(redis_url, prefix)  # a clear error before Scrapy starts
    overrides = {"TRAWL_REDIS_PREFIX": prefix, **(settings or {})}
    return run(store, redis_url, settings=overrides, log_file=log_file, verbose=verbose)


def live_workers(store: Store, *, include_stopped: bool = False) -> list[WorkerInfo]:
    from storage.workers import list_workers

    return list_workers(store, include_stopped=include_stopped)
