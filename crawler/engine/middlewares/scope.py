"""Drop page requests outside their seed's scope, including start URLs and redirect targets."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.engine.scope import Frontier

logger = logging.getLogger(__name__)


class OffScopeRequest(IgnoreRequest):
    """A page request left its seed's scope (the spider's errback records why)."""


class ScopeMiddleware:
    """Links are filtered when the spider extracts them; this catches what bypasses that:
    start URLs and redirects (a start URL that redirects off scope is not followed).
    Image requests pass: images are fetched from any host (CDNs)."""

    def __init__(self, crawler: Crawler, stats: StatsCollector) -> None:
        self.crawler = crawler
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScopeMiddleware:
        assert crawler.stats is not None
        return cls(crawler, crawler.stats)

    def process_request(self, request: Request) -> None:
        if request.meta.get("trawl_kind") != "page":
            return
        frontier: Frontier | None = getattr(self.crawler.spider, "frontier", None)
        seed = request.meta.get("trawl_seed")
        if frontier is None or seed is None or frontier.in_scope(seed, request.url):
            return
        redirected = bool(request.meta.get("redirect_urls"))
        reason = "redirect_off_scope" if redirected else "off_scope"
        self.stats.inc_value(f"trawl/drop/{reason}")
        logger.info("Not following %s: outside the scope of seed %s", request.url,
                    frontier.seeds[seed].url)
        raise OffScopeRequest(
            f"{'redirected' if redirected else 'led'} off scope to {request.url}"
        )
