"""Keep the crawl row's stats current while crawling, and print a progress line on stderr."""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from scrapy import signals
from twisted.internet.task import LoopingCall

from crawler.engine.context import crawl_id_for, store_for
from storage.crawls import update_crawl_stats

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

# The counters the crawl row (and every summary) shows, in display order.
SUMMARY_KEYS = ("trawl/pages", "trawl/images", "trawl/hashed", "trawl/hits", "trawl/errors")


def json_safe_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """Scrapy stats as JSON values (datetimes as ISO strings), sorted by key."""
    safe: dict[str, Any] = {}
    for key in sorted(stats):
        value = stats[key]
        if isinstance(value, datetime):
            value = value.isoformat()
        elif not isinstance(value, (int, float, str, bool, type(None))):
            value = str(value)
        safe[key] = value
    return safe


def progress_line(stats: dict[str, Any], elapsed: float, images_per_s: float) -> str:
    counts = [f"{int(stats.get(k, 0))} {k.split('/')[1]}" for k in SUMMARY_KEYS]
    return f"trawl: {', '.join(counts)} after {elapsed:.0f}s ({images_per_s:.1f} images/s)"


class CrawlStatsExtension:
    """Writes stats to the crawl row every TRAWL_STATS_INTERVAL seconds (so a long crawl
    shows its progress to other processes) and, with TRAWL_PROGRESS, a LogStats-like line."""

    def __init__(
        self,
        crawler: Crawler,
        stats: StatsCollector,
        stats_interval: float,
        progress_interval: float | None,
        out: TextIO | None = None,
    ) -> None:
        self.crawler = crawler
        self.stats = stats
        self.stats_interval = stats_interval
        self.progress_interval = progress_interval
        self.out = out or sys.stderr
        self._loops: list[LoopingCall] = []
        self._started = time.monotonic()
        self._last = (self._started, 0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlStatsExtension:
        s = crawler.settings
        progress = s.getfloat("TRAWL_PROGRESS_INTERVAL") if s.getbool("TRAWL_PROGRESS") else None
        assert crawler.stats is not None
        ext = cls(crawler, crawler.stats, s.getfloat("TRAWL_STATS_INTERVAL"), progress)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        self._started = time.monotonic()
        self._last = (self._started, 0)
        tasks = ((self.stats_interval, self.save), (self.progress_interval, self.log))
        for interval, task in tasks:
            if interval:
                loop = LoopingCall(task)
                loop.start(interval, now=False)
                self._loops.append(loop)

    def spider_closed(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self.progress_interval:
            self.log()
        self.save()

    def save(self) -> None:
        try:
            update_crawl_stats(
                store_for(self.crawler),
                crawl_id_for(self.crawler),
                json_safe_stats(self.stats.get_stats()),
                counters=False,  # the store pipeline counts with the rows it commits
            )
        except Exception:  # progress reporting must never stop the crawl
            logger.exception("Could not update the crawl's stats")

    def log(self) -> None:
        now = time.monotonic()
        images = int(self.stats.get_value("trawl/images", 0))
        last_time, last_images = self._last
        rate = (images - last_images) / (now - last_time) if now > last_time else 0.0
        self._last = (now, images)
        print(progress_line(self.stats.get_stats(), now - self._started, rate), file=self.out)
        self.out.flush()
