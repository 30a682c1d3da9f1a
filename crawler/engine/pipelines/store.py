"""Record every image (digests or failure), the pages that showed it, and its hits."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.task import LoopingCall

from crawler.adapter import media_record, stored_match
from crawler.engine.context import crawl_id_for, store_for
from crawler.engine.items import ImageItem, ObservationItem
from storage.media import CrawlWriter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class StorePipeline:
    """Writes through storage.media.CrawlWriter, which batches; a timer commits at least
    every TRAWL_FLUSH_INTERVAL seconds so a killed crawl keeps what it found. The crawl
    row's counters go with the rows they count: images, hashed and hits with each image's
    record, pages and errors (which leave no rows) as of each timed flush."""

    def __init__(
        self, crawler: Crawler, stats: StatsCollector, flush_interval: float, batch_size: int
    ) -> None:
        self.crawler = crawler
        self.stats = stats
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.writer: CrawlWriter | None = None
        self._timer: LoopingCall | None = None
        # Pages seen showing an image whose fetch has not finished yet.
        self._pending_pages: dict[str, list[str]] = {}
        self._recorded: set[int] = set()  # hash() of image URLs with a media row
        self._counted = {"pages": 0, "errors": 0}  # stats values handed to the writer so far

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        s = crawler.settings
        assert crawler.stats is not None
        flush_interval = s.getfloat("TRAWL_FLUSH_INTERVAL")
        return cls(crawler, crawler.stats, flush_interval, s.getint("TRAWL_WRITE_BATCH"))

    def open_spider(self) -> None:
        self.writer = CrawlWriter(
            store_for(self.crawler),
            crawl_id_for(self.crawler),
            flush_interval=self.flush_interval,
            batch_size=self.batch_size,
        )
        self._timer = LoopingCall(self.flush)
        self._timer.start(self.flush_interval, now=False)

    def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.writer is not None:
            self.flush()
            self.writer.close()

    def flush(self) -> None:
        assert self.writer is not None
        deltas = {}
        for name, counted in self._counted.items():
            now = int(self.stats.get_value(f"trawl/{name}", 0))
            deltas[name] = max(0, now - counted)
            self._counted[name] = max(counted, now)
        self.writer.count(deltas)
        try:
            recorded = self.writer.flush()
        except Exception:  # keep crawling; the writer keeps its batch for the next attempt
            logger.exception("Could not write to the database; will retry")
            self.stats.inc_value("trawl/errors")
            self.stats.inc_value("trawl/errors/database")
            return
        for key, value in (("new_hits", recorded.new_hits),
                           ("new_matches", recorded.new_matches),
                           ("reopened_hits", recorded.reopened_removed),
                           ("reopened_rejected", recorded.reopened_rejected)):
            if value:
                self.stats.inc_value(f"trawl/{key}", value)

    def process_item(self, item: Any) -> Any:
        assert self.writer is not None
        if isinstance(item, ObservationItem):
            if hash(item.media_url) in self._recorded:
                self.writer.add_observation(item.media_url, item.page_url)
            else:
                pages = self._pending_pages.setdefault(item.media_url, [])
                if item.page_url not in pages:
                    pages.append(item.page_url)
            return item
        if not isinstance(item, ImageItem):
            return item
        pages = self._pending_pages.pop(item.url, [])
        if item.page_url and item.page_url not in pages:
            pages.append(item.page_url)
        record = media_record(
            item.url, item.digests, fetch_status=item.fetch_status, error=item.error,
            content_type=item.content_type, server_ip=item.server_ip, etag=item.etag,
            last_modified=item.last_modified,
        )
        hashed = item.digests is not None and item.fetch_status != "not_modified"
        self.writer.count({"images": 1, "hashed": int(hashed), "hits": int(bool(item.matches))})
        self.writer.add(record, pages, [stored_match(m) for m in item.matches])
        self._recorded.add(hash(item.url))
        self.stats.inc_value("trawl/images")
        self.stats.inc_value(f"trawl/image_status/{record.fetch_status}")
        if item.fetch_status == "not_modified":
            self.stats.inc_value("trawl/not_modified")
        return item
