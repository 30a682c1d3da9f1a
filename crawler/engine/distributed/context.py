"""A worker's shared state for its Scrapy components: frontier, identity, leases, crawls."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from scrapy.exceptions import NotConfigured

from crawler.engine.distributed.frontier import CrawlConfig, RedisFrontier
from crawler.engine.distributed.leases import LeaseTracker
from crawler.engine.scope import SeedPlan

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_ATTR = "_trawl_worker"
logger = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


# Seconds a deferred Redis command waits at most for a round trip to go with (the
# requests a response led to, host slots given back): others see them by then.
FLUSH_SOON_SECONDS = 0.01


@dataclass
class WorkerContext:
    worker_id: str
    frontier: RedisFrontier
    tracker: LeaseTracker
    redis_url: str
    _crawls: dict[int, CrawlConfig] = field(default_factory=dict)
    _flush_call: Any = None

    def flush_soon(self) -> None:
        """Send the frontier's deferred commands within FLUSH_SOON_SECONDS, with whatever
        else this turn of the reactor defers (one round trip for a page's requests)."""
        if self._flush_call is None or not self._flush_call.active():
            from twisted.internet import reactor

            self._flush_call = cast(Any, reactor).callLater(FLUSH_SOON_SECONDS, self._flush)

    def _flush(self) -> None:
        """On the round-trip thread: the reactor goes on meanwhile."""
        self.frontier.flush_async().addErrback(self._flush_failed)

    def _flush_failed(self, failure: Any) -> None:  # kept for the next round trip
        logger.error("Could not send the deferred frontier commands; will retry: %s",
                     failure.getErrorMessage())
        self.flush_soon()

    def crawl(self, crawl_id: int) -> CrawlConfig:
        """A crawl's configuration, read from Redis once."""
        config = self._crawls.get(crawl_id)
        if config is None:
            config = self.frontier.crawl_config(crawl_id)
            if config is None:
                config = CrawlConfig(crawl_id, (), None, "unknown")
            self._crawls[crawl_id] = config
        return config


class CrawlPlans:
    """The seed spider's `plans`, across crawls: keys are (crawl id, seed index)."""

    def __init__(self, context: WorkerContext) -> None:
        self.context = context

    def __getitem__(self, seed: tuple[int, int]) -> SeedPlan:
        crawl_id, index = seed
        return self.context.crawl(crawl_id).plans[index]

    def allowed_addresses(self, seed: tuple[int, int]) -> tuple[str, ...]:
        """The internal addresses the seed's crawl was queued with (--allow-address): the
        address middleware lets that crawl's requests reach them."""
        return self.context.crawl(seed[0]).allow_addresses


def worker_context(crawler: Crawler) -> WorkerContext:
    """The worker's context, created on first use from the settings TRAWL_REDIS_URL,
    TRAWL_REDIS_PREFIX and TRAWL_WORKER_ID."""
    context: WorkerContext | None = getattr(crawler, _ATTR, None)
    if context is None:
        s = crawler.settings
        url = s.get("TRAWL_REDIS_URL")
        if not url:
            raise NotConfigured("TRAWL_REDIS_URL is not set: start workers with `trawl worker`.")
        frontier = RedisFrontier.from_url(url, s.get("TRAWL_REDIS_PREFIX") or "trawl")
        # The reactor hands its round trips to a thread (see RedisFrontier); the worker
        # extension stops it when the spider closes.
        if s.getbool("TRAWL_REDIS_THREAD", True):
            frontier.start_thread()
        worker_id = s.get("TRAWL_WORKER_ID") or new_worker_id()
        context = WorkerContext(worker_id, frontier, LeaseTracker(frontier, worker_id), url)
        setattr(crawler, _ATTR, context)
    return context


def wake_engine(crawler: Crawler | None) -> None:
    """Have the engine ask the scheduler for a request now: while idle it asks only every
    5 s (new leases, this worker's own pushes, the end of a housekeeping tick)."""
    engine = getattr(crawler, "engine", None)
    nextcall = getattr(getattr(engine, "_slot", None), "nextcall", None)
    if nextcall is not None:
        nextcall.schedule()
