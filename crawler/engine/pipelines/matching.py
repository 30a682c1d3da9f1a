"""Match each image's digests against the known-hash lists loaded when the crawl starts."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from crawler.engine.context import matcher_for, saved_matcher_for
from crawler.engine.items import ImageItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from matchers.decision import Matcher

logger = logging.getLogger(__name__)


class MatchPipeline:
    """Digests -> list of Match, for the images the hash pool did not match already (see
    HashPipeline; a 304 re-fetch, a worker without the matcher file); counts the hits. The
    matcher is the one current when the crawl starts, so a list imported mid-crawl is
    matched by the next crawl or by `trawl rematch`. Where the hash workers match, this
    process maps the saved matcher (and imports numpy) only for the first image left to
    it: a crawl's start does not pay for it."""

    def __init__(self, crawler: Crawler, stats: StatsCollector) -> None:
        self.crawler = crawler
        self.stats = stats
        self._matcher: Matcher | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        assert crawler.stats is not None
        return cls(crawler, crawler.stats)

    def open_spider(self) -> None:
        started = time.monotonic()
        saved = saved_matcher_for(self.crawler)
        known = len(saved) if saved is not None else len(self.matcher)
        self.stats.set_value("trawl/known_hashes", known)
        logger.info("Loaded %d known hashes in %.1fs", known, time.monotonic() - started)

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self._matcher = matcher_for(self.crawler)
        return self._matcher

    @matcher.setter
    def matcher(self, matcher: Matcher) -> None:
        self._matcher = matcher

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ImageItem) and item.digests is not None:
            if not item.matched:
                item.matches, item.matched = self.matcher.match(item.digests), True
            if item.matches:
                self.stats.inc_value("trawl/hits")
                self.stats.inc_value("trawl/matches", len(item.matches))
        return item
