"""A worker's matching and storing: the known lists reloaded when they change, one
LeasedCrawlWriter per crawl, leases released after their results are committed."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from scrapy import signals
from twisted.internet import reactor, threads
from twisted.internet.task import LoopingCall

from crawler.adapter import build_matcher, media_record, stored_match
from crawler.engine.context import store_for
from crawler.engine.distributed.context import worker_context
from crawler.engine.distributed.frontier import RUNNING
from crawler.engine.items import ImageItem, ObservationItem
from crawler.engine.pipelines.matching import MatchPipeline
from crawler.engine.pipelines.store import FlushLoop
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


# Seconds the reactor collects items and finished requests before it hands them to the
# write thread (a crawl's StorePipeline hands over every HAND_OVER_INTERVAL too).
HAND_OVER_SECONDS = 0.1
# Seconds without a hand-over after which the write thread commits what it holds, not
# waiting for TRAWL_FLUSH_INTERVAL (FlushLoop's idle_commit): the last records of a crawl
# hold its leases, and so its end. Above HAND_OVER_SECONDS, so a steady crawl still
# commits at the interval.
IDLE_COMMIT_SECONDS = 0.25


class LeasedWrites(FlushLoop):
    """The worker's LeasedCrawlWriters, one per crawl, on the loop a crawl's WriteThread
    uses (crawler.engine.pipelines.store.FlushLoop): the operations are items and finished
    requests; after a turn that committed requests, they are handed back to the reactor,
    which releases their leases."""

    def __init__(self, pipeline: LeasedStorePipeline, *, threaded: bool) -> None:
        self.pipeline = pipeline
        self.writers: dict[int, LeasedCrawlWriter] = {}
        self._committed: list[str] = []  # committed, not yet released
        self._lock = threading.Lock()
        super().__init__(pipeline.flush_interval, threaded=threaded,
                         idle_commit=IDLE_COMMIT_SECONDS if threaded else 0.0)

    def writer(self, crawl_id: int) -> LeasedCrawlWriter:
        writer = self.writers.get(crawl_id)
        if writer is None:
            p = self.pipeline
            writer = LeasedCrawlWriter(
                store_for(p.crawler), crawl_id, p.context.worker_id,
                flush_interval=p.flush_interval, batch_size=p.batch_size)
            self.writers[crawl_id] = writer
        return writer

    def take_committed(self) -> list[str]:
        with self._lock:
            committed, self._committed = self._committed, []
        return committed

    # --- on the write thread (or the reactor's, without one) -------------------------
    def _apply(self, ops: list[tuple[Any, ...]]) -> bool:
        for kind, crawl_id, *args in ops:
            writer = self.writer(crawl_id)
            try:
                if kind == "image":
                    writer.add(*args)
                elif kind == "observation":
                    writer.add_leased_observation(*args)
                else:
                    writer.done(*args)
            except Exception:  # one bad record must not stop the writer
                logger.exception("Could not buffer a record of crawl %d", crawl_id)
            self._collect(writer)
        return False

    def _flush(self) -> None:
        stats = self.pipeline.stats
        for crawl_id, writer in list(self.writers.items()):
            try:
                writer.flush()
            except Exception:  # keep crawling; the writer keeps its batch for the next attempt
                logger.exception("Could not write crawl %d to the database; will retry",
                                 crawl_id)
                self._call(stats.inc_value, "trawl/errors/database")
            self._collect(writer)
            try:
                running = self.pipeline.context.frontier.state(crawl_id) == RUNNING
            except Exception:
                logger.exception("Could not read crawl %d's state; will retry", crawl_id)
                continue
            if not running:
                dropped = writer.abandon_waiting()
                if dropped:
                    self._call(stats.inc_value, "trawl/drop/observation_crawl_ended", dropped)
                    continue  # their requests commit with the next flush
                if not writer.pending:
                    del self.writers[crawl_id]

    def _finish(self) -> None:  # close_spider releases what is committed
        self._flush_now()
        for writer in self.writers.values():
            try:
                writer.close()
            except Exception:
                logger.exception("Could not write crawl %d's last batch", writer.crawl_id)
            self._collect(writer)

    def _after(self, flushed: bool, waited: bool) -> None:
        if not waited and self._has_committed():  # flush() takes the committed itself
            self._call(self.pipeline.release_committed)

    def _failed(self) -> None:
        self._call(self.pipeline.stats.inc_value, "trawl/errors/database")

    def _has_pending(self) -> bool:
        return any(writer.pending for writer in self.writers.values())

    def _collect(self, writer: LeasedCrawlWriter) -> None:
        committed = writer.take_committed()
        if committed:
            with self._lock:
                self._committed.extend(committed)

    def _has_committed(self) -> bool:
        with self._lock:
            return bool(self._committed)

    def _call(self, f: Any, *args: Any) -> None:
        """Run f on the reactor thread (now, without a write thread)."""
        if self._thread is not None and threading.current_thread() is self._thread:
            cast(Any, reactor).callFromThread(f, *args)
        else:
            f(*args)


class LeasedStorePipeline:
    """Stores each item in its crawl's LeasedCrawlWriter (the crawl comes from the lease of
    the request that produced it), commits finished requests with their batch, and after
    every commit releases their leases in Redis.

    The writers live on a thread of their own (LeasedWrites, the loop of a single crawl's
    WriteThread), so their statements and commits never block the reactor: a flush of a
    few hundred rows waited on PostgreSQL for 10-20% of a worker's reactor time (py-spy,
    2 workers at load ~15). The reactor hands each item and finished request over through
    a queue; the thread writes them (a batch at TRAWL_WRITE_BATCH records), commits at
    least every TRAWL_FLUSH_INTERVAL seconds, and hands the committed requests back to the
    reactor, which releases their leases. The reactor hands over lists, every
    HAND_OVER_SECONDS: each hand-over wakes the thread, and on a worker's one core one per
    item cost a switch to the thread and back per item (py-spy: 7% of the reactor's
    samples in the queue's put). `flush()` waits for the thread to commit what it was
    handed and releases at once (a crawl that ends by its time budget). An in-memory
    SQLite database (one connection, shared with the reactor) is written on the reactor
    thread, committed every TRAWL_FLUSH_INTERVAL."""

    def __init__(self, crawler: Crawler, stats: StatsCollector, flush_interval: float,
                 batch_size: int) -> None:
        self.crawler = crawler
        self.stats = stats
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.context = worker_context(crawler)
        self.writes: LeasedWrites | None = None
        self._timer: LoopingCall | None = None
        self._ops: list[tuple[Any, ...]] = []  # not handed over yet
        self._hand_over_call: Any = None

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

    @property
    def writers(self) -> dict[int, LeasedCrawlWriter]:
        """Every crawl's writer (the write thread's)."""
        return self.writes.writers if self.writes is not None else {}

    def open_spider(self) -> None:
        from sqlalchemy.pool import StaticPool

        threaded = not isinstance(store_for(self.crawler).engine.pool, StaticPool)
        self.writes = LeasedWrites(self, threaded=threaded)
        if not threaded:
            self._timer = LoopingCall(self.flush)
            self._timer.start(self.flush_interval, now=False)

    def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.writes is not None:
            self.hand_over()
            self.writes.close()
            self.release_committed()

    def item_finished(self, item: Any) -> None:
        self.context.tracker.item_finished(item)

    def _hand(self, *op: Any) -> None:
        """To the write thread, with the others of the next HAND_OVER_SECONDS (at once
        without the thread)."""
        assert self.writes is not None
        if not self.writes.threaded:
            self.writes.put([op])
            return
        self._ops.append(op)
        if self._hand_over_call is None or not self._hand_over_call.active():
            self._hand_over_call = cast(Any, reactor).callLater(HAND_OVER_SECONDS,
                                                                self.hand_over)

    def hand_over(self) -> None:
        ops, self._ops = self._ops, []
        if ops and self.writes is not None:
            self.writes.put(ops)

    def request_done(self, held: HeldRequest) -> None:
        self._hand("done", held.crawl_id, held.token, held.key, dict(held.deltas))

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, (ImageItem, ObservationItem)):
            return item
        held = self.context.tracker.of_item(item)
        if held is None:  # not from a leased request: nothing to attribute it to
            self.stats.inc_value("trawl/drop/item_without_lease")
            return item
        if isinstance(item, ObservationItem):
            self._hand("observation", held.crawl_id, item.media_url, item.page_url, held.token)
            return item
        record = media_record(
            item.url, item.digests, fetch_status=item.fetch_status, error=item.error,
            content_type=item.content_type, server_ip=item.server_ip, etag=item.etag,
            last_modified=item.last_modified,
        )
        pages = [item.page_url] if item.page_url else []
        self._hand("image", held.crawl_id, record, pages, [stored_match(m) for m in item.matches])
        held.count("images")
        held.count("hashed", int(item.digests is not None and item.fetch_status == "ok"))
        held.count("hits", int(bool(item.matches)))
        self.stats.inc_value("trawl/images")
        self.stats.inc_value(f"trawl/image_status/{record.fetch_status}")
        return item

    def flush(self) -> None:
        """Commit every crawl's batch now, then release the leases of what was committed
        (blocks until the write thread has done so)."""
        if self.writes is not None:
            self.hand_over()
            self.writes.flush()
            self.release_committed()

    # --- on the reactor thread --------------------------------------------------------
    def release_committed(self) -> None:
        """The committed requests: end their leases in Redis."""
        if self.writes is None:
            return
        tokens = self.writes.take_committed()
        if not tokens:
            return
        try:
            released = self.context.tracker.release(tokens)
        except Exception:  # Redis down: the leases expire and their requests count once
            logger.exception("Could not release %d leases; they will expire", len(tokens))
            return
        self.stats.inc_value("trawl/requests_released", released)
