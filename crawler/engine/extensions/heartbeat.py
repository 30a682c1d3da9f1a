"""The crawl's sign of life: its row's heartbeat, written every TRAWL_HEARTBEAT_INTERVAL seconds."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall

from crawler.engine.context import crawl_id_for, store_for
from storage.crawls import heartbeat

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# The finish reason of a crawl that stopped because it had been marked failed meanwhile.
MARKED_FAILED = "marked_failed"


class HeartbeatExtension:
    """Why: a crawl killed with SIGKILL, or whose machine died, cannot record its end; any
    Trawl command that finds its heartbeat stale (storage.crawls.STALE_AFTER_SECONDS), or
    its process gone from this machine, marks it failed so its seeds are not blocked. A
    crawl that learns it was marked failed (by an operator, or a stall that made its beat
    go stale) stops, so a seed is never crawled twice at once."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self._loop: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HeartbeatExtension:
        interval = crawler.settings.getfloat("TRAWL_HEARTBEAT_INTERVAL")
        if interval <= 0 or not crawler.settings.getint("TRAWL_CRAWL_ID", 0):
            raise NotConfigured
        ext = cls(crawler, interval)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        self._loop = LoopingCall(self.beat)
        self._loop.start(self.interval, now=True)

    def spider_closed(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def beat(self) -> None:
        crawl_id = crawl_id_for(self.crawler)
        try:
            alive = heartbeat(store_for(self.crawler), crawl_id)
        except Exception:  # a database hiccup must not stop the crawl; the next beat retries
            logger.exception("Could not record the crawl's heartbeat")
            return
        if alive:
            return
        logger.warning("Crawl %d was marked failed (or has ended) while running; stopping it",
                       crawl_id)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=MARKED_FAILED))
