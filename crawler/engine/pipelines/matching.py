"""Match each image's digests against the known-hash lists loaded when the crawl starts."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from crawler.adapter import build_matcher
from crawler.engine.context import store_for
from crawler.engine.items import ImageItem
from matchers.decision import Matcher

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class MatchPipeline:
    """Digests -> list of Match. The index is built once per crawl from the database, so a
    list imported mid-crawl is matched by the next crawl or by `trawl rematch`."""

    def __init__(
        self, crawler: Crawler, stats: StatsCollector, thresholds: dict[str, int] | None
    ) -> None:
        self.crawler = crawler
        self.stats = stats
        self.thresholds = thresholds or None
        self.matcher: Matcher = Matcher.empty()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        assert crawler.stats is not None
        thresholds = crawler.settings.getdict("TRAWL_MATCH_THRESHOLDS") or None
        return cls(crawler, crawler.stats, {k: int(v) for k, v in (thresholds or {}).items()})

    def open_spider(self) -> None:
        started = time.monotonic()
        self.matcher = build_matcher(store_for(self.crawler), thresholds=self.thresholds)
        self.stats.set_value("trawl/known_hashes", len(self.matcher))
        logger.info(
            "Loaded %d known hashes in %.1fs", len(self.matcher), time.monotonic() - started
        )

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ImageItem) and item.digests is not None:
            item.matches = self.matcher.match(item.digests)
            if item.matches:
                self.stats.inc_value("trawl/hits")
                self.stats.inc_value("trawl/matches", len(item.matches))
        return item
