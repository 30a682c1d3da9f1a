"""A worker's matching and storing: the known lists reloaded when they change, one
LeasedCrawlWriter per crawl, leases released after their results are committed."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from twisted.internet import threads
from twisted.internet.task import LoopingCall

from crawler.adapter import build_matcher, media_record, stored_match
from crawler.engine.context import store_for
from crawler.engine.distributed.context import worker_context
from crawler.engine.distributed.frontier import RUNNING
from crawler.engine.items import ImageItem, ObservationItem
from crawler.engine.pipelines.matching import MatchPipeline
from storage.known import known_lists_stamp
from storage.workers import LeasedCrawlWriter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.engine.distributed.leases import HeldRequest
    from matchers.decision import Matcher

logger = logging.getLogger(__name__)


class ReloadingMatchPipeline(MatchPipeline):
    """The crawl's MatchPipeline, for a process that outlives list imports: every
    TRAWL_LIST_CHECK_INTERVAL seconds it reads the known-lists version (storage.known) and,
    when a list was imported or removed, loads the new matcher (the index file, rebuilt
    once for every worker sharing it) in a thread and swaps it in without stopping."""

    def __init__(self, crawler: Crawler, stats: StatsCollector, interval: float) -> None:
        super().__init__(crawler, stats)
        self.interval = interval
        self.stamp: str | None = None
        self._loop: LoopingCall | None = None
        self._loading = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReloadingMatchPipeline:
        assert crawler.stats is not None
        return cls(crawler, crawler.stats, crawler.settings.getfloat("TRAWL_LIST_CHECK_INTERVAL"))

    def open_spider(self) -> None:
        self.stamp = known_lists_stamp(store_for(self.crawler))
        super().open_spider()
        if self.interval > 0:
            self._loop = LoopingCall(self.check)
            self._loop.start(self.interval, now=False)

    def close_spider(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def check(self) -> None:
        if self._loading:
            return
        try:
            stamp = known_lists_stamp(store_for(self.crawler))
        except Exception:
            logger.exception("Could not read the known-lists version; will retry")
            return
        if stamp == self.stamp:
            return
        self._loading = True
        started = time.monotonic()
        thresholds = self.crawler.settings.getdict("TRAWL_MATCH_THRESHOLDS") or None
        d = threads.deferToThread(
            build_matcher, store_for(self.crawler),
            thresholds={k: int(v) for k, v in thresholds.items()} if thresholds else None)

        def loaded(matcher: Matcher) -> None:
            self.matcher, self.stamp = matcher, stamp
            self.stats.set_value("trawl/known_hashes", len(matcher))
            self.stats.inc_value("trawl/list_reloads")
            logger.info("Reloaded %d known hashes (lists changed) in %.1fs", len(matcher),
                        time.monotonic() - started)

        def failed(failure: Any) -> None:
            logger.error("Could not reload the known lists: %s", failure.getErrorMessage())

        d.addCallbacks(loaded, failed)
        d.addBoth(lambda _: setattr(self, "_loading", False))


class LeasedStorePipeline:
    """Stores each item in its crawl's LeasedCrawlWriter (the crawl comes from the lease of
    the request that produced it), commits finished requests with their batch, and after
    every commit releases their leases in Redis."""

    def __init__(self, crawler: Crawler, stats: StatsCollector, flush_interval: float,
                 batch_size: int) -> None:
        self.crawler = crawler
        self.stats = stats
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.context = worker_context(crawler)
        self.writers: dict[int, LeasedCrawlWriter] = {}
        self._timer: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LeasedStorePipeline:
        s = crawler.settings
        assert crawler.stats is not None
        pipeline = cls(crawler, crawler.stats, s.getfloat("TRAWL_FLUSH_INTERVAL"),
                       s.getint("TRAWL_WRITE_BATCH"))
        tracker = pipeline.context.tracker
        tracker.on_complete = pipeline.request_done
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(pipeline.item_finished, signal=signal)
        return pipeline

    def open_spider(self) -> None:
        self._timer = LoopingCall(self.flush)
        self._timer.start(self.flush_interval, now=False)

    def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self.flush()
        for writer in self.writers.values():
            try:
                writer.close()
            except Exception:
                logger.exception("Could not write crawl %d's last batch", writer.crawl_id)
        self.flush()  # release what close() committed

    def item_finished(self, item: Any) -> None:
        self.context.tracker.item_finished(item)

    def writer(self, crawl_id: int) -> LeasedCrawlWriter:
        writer = self.writers.get(crawl_id)
        if writer is None:
            writer = LeasedCrawlWriter(
                store_for(self.crawler), crawl_id, self.context.worker_id,
                flush_interval=self.flush_interval, batch_size=self.batch_size)
            self.writers[crawl_id] = writer
        return writer

    def request_done(self, held: HeldRequest) -> None:
        self.writer(held.crawl_id).done(held.token, held.key, held.deltas)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, (ImageItem, ObservationItem)):
            return item
        held = self.context.tracker.of_item(item)
        if held is None:  # not from a leased request: nothing to attribute it to
            self.stats.inc_value("trawl/drop/item_without_lease")
            return item
        writer = self.writer(held.crawl_id)
        if isinstance(item, ObservationItem):
            writer.add_leased_observation(item.media_url, item.page_url, held.token)
            return item
        record = media_record(
            item.url, item.digests, fetch_status=item.fetch_status, error=item.error,
            content_type=item.content_type, server_ip=item.server_ip, etag=item.etag,
            last_modified=item.last_modified,
        )
        pages = [item.page_url] if item.page_url else []
        writer.add(record, pages, [stored_match(m) for m in item.matches])
        held.count("images")
        held.count("hashed", int(item.digests is not None and item.fetch_status == "ok"))
        held.count("hits", int(bool(item.matches)))
        self.stats.inc_value("trawl/images")
        self.stats.inc_value(f"trawl/image_status/{record.fetch_status}")
        return item

    def flush(self) -> None:
        """Commit every crawl's batch, then release the leases of what was committed."""
        for crawl_id, writer in list(self.writers.items()):
            try:
                writer.flush()
            except Exception:  # keep crawling; the writer keeps its batch for the next attempt
                logger.exception("Could not write crawl %d to the database; will retry",
                                 crawl_id)
                self.stats.inc_value("trawl/errors/database")
            released = self.context.tracker.release(writer.take_committed())
            self.stats.inc_value("trawl/requests_released", released)
            if self.context.frontier.state(crawl_id) != RUNNING:
                dropped = writer.abandon_waiting()
                if dropped:
                    self.stats.inc_value("trawl/drop/observation_crawl_ended", dropped)
                    continue  # their requests commit with the next flush
                if not writer.pending:
                    del self.writers[crawl_id]
