"""Put a crawl's seeds into the shared frontier (what `trawl crawl --distributed` does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crawler.engine.distributed.frontier import RedisFrontier
from crawler.engine.distributed.leases import request_key
from crawler.engine.distributed.scheduler import encode_start_request
from crawler.engine.scope import SeedPlan, canonicalize_url


def enqueue_crawl(
    frontier: RedisFrontier,
    crawl_id: int,
    plans: Sequence[SeedPlan],
    *,
    time_budget: float | None = None,
    max_image_size: int | None = None,
    allow_addresses: Sequence[str] = (),
) -> int:
    """Open the crawl in the frontier and queue its start URLs; returns how many were
    queued. The workers do the rest; the time budget counts from now; the internal
    addresses in `allow_addresses` (checked CIDR strings) may be reached by this crawl."""
    frontier.start_crawl(crawl_id, plans, time_budget=time_budget,
                         max_image_size=max_image_size, allow_addresses=allow_addresses)
    queued = 0
    try:
        for index, plan in enumerate(plans):
            url = canonicalize_url(plan.url)
            meta: dict[str, Any] = {"trawl_kind": "page", "trawl_seed": (crawl_id, index),
                                    "trawl_depth": 0, "trawl_start": True}
            if not plan.obey_robots:
                meta["dont_obey_robotstxt"] = True
            result = frontier.push(
                crawl_id, encode_start_request(url, meta), score=0,
                key=request_key("page", url), seed=index, max_pages=plan.max_pages,
            )
            queued += result == "ok"
    finally:
        frontier.seeded(crawl_id)
    return queued
