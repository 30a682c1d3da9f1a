"""Record every image (digests or failure), the pages that showed it, and its hits."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from twisted.internet.task import LoopingCall

from crawler.adapter import media_record, stored_match
from crawler.engine.context import crawl_id_for, store_for
from crawler.engine.items import ImageItem, ObservationItem
from crawler.engine.keyset import KeySet
from storage.hits import Recorded
from storage.media import CrawlWriter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from storage.db import Store

logger = logging.getLogger(__name__)

# Seconds between hand-overs of what the reactor collected to the writer: a found hit is
# committed within about this (plus the write), whatever TRAWL_FLUSH_INTERVAL says.
HAND_OVER_INTERVAL = 0.1
# (image item, pages that showed it), (image URL, page URL): one observation, or
# {counter: delta}: the crawl row's pages and errors counted since the last hand-over.
Entry = tuple[ImageItem, list[str]] | tuple[str, str] | dict[str, int]


class _Flush:
    """An operation of FlushLoop.flush: commit now and say so."""

    def __init__(self) -> None:
        self.done = threading.Event()


_CLOSE = object()  # the operation that ends a FlushLoop's thread


class FlushLoop:
    """The loop a crawl's writers share: operations handed over through a queue to a
    thread of its own, which applies them and commits at least every `flush_interval`
    seconds, so database statements and commits never run on the reactor thread.

    Each turn takes what is queued (DRAIN operations at most), applies it (`_apply`, a
    hook: True asks for a commit now, as a hit does), commits if asked, if someone waits
    in `flush`, or if the interval has passed (`_flush`, a hook), then calls `_after`
    (a hook, on the thread: e.g. hand what was committed back to the reactor). `close`
    commits what was handed over and ends the thread (`_finish`, a hook: the last commit).

    With `idle_commit` (seconds, 0 = off), records still uncommitted (`_has_pending`, a
    hook) are committed once nothing has been handed over for that long, instead of at
    the interval: a worker's last records of a crawl, which hold the crawl's end, go to
    the database at once. If records are still uncommitted after such a commit (waiting
    for another writer's rows), the next one waits twice as long, up to the interval.

    threaded=False does the same on the caller's thread (an in-memory SQLite database has
    one connection, which the reactor thread uses too).
    """

    DRAIN = 1000  # operations applied per turn at most

    def __init__(self, flush_interval: float, *, threaded: bool = True,
                 name: str = "trawl-writer", idle_commit: float = 0.0) -> None:
        self.flush_interval = flush_interval
        self.idle_commit = idle_commit
        self._last_flush = self._last_op = time.monotonic()
        self._idle_wait = idle_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    @property
    def threaded(self) -> bool:
        return self._thread is not None

    def put(self, op: Any) -> None:
        """Hand an operation over (applied now, without the thread)."""
        if self._thread is not None:
            self._queue.put(op)
        elif self._apply(op) or self._due():
            self._flush_now()

    def flush(self) -> None:
        """Commit everything handed over so far (blocks until done)."""
        if self._thread is None:
            self._flush_now()
            return
        op = _Flush()
        self._queue.put(op)
        while not op.done.wait(1.0) and self._thread.is_alive():
            pass

    def close(self) -> None:
        """Apply and commit everything handed over, and stop (blocks until done)."""
        if self._thread is not None:
            self._queue.put(_CLOSE)
            self._thread.join()
            self._thread = None
        else:
            self._finish()

    # --- hooks, on the thread ----------------------------------------------------------
    def _apply(self, op: Any) -> bool:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        self._flush_now()

    def _after(self, flushed: bool, waited: bool) -> None:
        """After each turn; `waited`: someone waited in `flush` (and was told)."""

    def _failed(self) -> None:
        """The thread stopped on an error (logged)."""

    def _has_pending(self) -> bool:
        """Records applied and not committed yet (for `idle_commit`)."""
        return False

    # --- the loop ----------------------------------------------------------------------
    def _due(self) -> bool:
        return time.monotonic() - self._last_flush >= self.flush_interval

    def _flush_now(self) -> None:
        self._last_flush = time.monotonic()
        self._flush()

    def _run(self) -> None:
        try:
            while self._turn():
                pass
        except Exception:  # a bug here must show; flush() and close() stop waiting
            logger.exception("The write thread stopped")
            self._failed()

    def _idle_deadline(self) -> float | None:
        if self.idle_commit <= 0 or not self._has_pending():
            return None
        return self._last_op + self._idle_wait

    def _take(self) -> tuple[list[Any], bool]:
        """The next turn's operations (waiting until the interval, or the idle commit, is
        due) and whether the idle commit is due."""
        deadline = self._last_flush + self.flush_interval
        idle = self._idle_deadline()
        if idle is not None:
            deadline = min(deadline, idle)
        ops = []
        try:
            ops.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            while len(ops) < self.DRAIN:
                ops.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if ops:
            self._last_op, self._idle_wait = time.monotonic(), self.idle_commit
            return ops, False
        idle = self._idle_deadline()
        return ops, idle is not None and time.monotonic() >= idle

    def _turn(self) -> bool:
        ops, idle_due = self._take()
        now, waiting = False, list[_Flush]()
        for op in ops:
            if op is _CLOSE:
                self._finish()
                for waiter in waiting:
                    waiter.done.set()
                return False
            if isinstance(op, _Flush):
                waiting.append(op)
            elif self._apply(op):
                now = True
        flushed = now or bool(waiting) or self._due() or idle_due
        if flushed:
            self._flush_now()
        if idle_due and self._has_pending():  # waiting for others' rows: back off
            self._last_op = time.monotonic()
            self._idle_wait = min(2 * self._idle_wait, self.flush_interval)
        for waiter in waiting:
            waiter.done.set()
        self._after(flushed, bool(waiting))
        return True


class WriteThread(FlushLoop):
    """Owns the crawl's CrawlWriter on a FlushLoop: the reactor hands over lists of
    entries; the thread builds the rows and writes them through the writer, which
    batches. It commits at once when a list holds a hit (so a killed crawl keeps every
    hit it found up to about HAND_OVER_INTERVAL before the kill), and otherwise at least
    every `flush_interval` seconds or `batch_size` records. A failed write keeps its batch
    for the next attempt (CrawlWriter) and is counted in `errors`.
    """

    def __init__(self, store: Store, crawl_id: int, *, flush_interval: float,
                 batch_size: int, threaded: bool = True) -> None:
        self.writer = CrawlWriter(store, crawl_id, flush_interval=flush_interval,
                                  batch_size=batch_size)
        self.errors = 0  # failed flushes, so far
        self.recorded = Recorded()  # what the flushes changed in the review queue, so far
        self._lock = threading.Lock()
        super().__init__(flush_interval, threaded=threaded)

    def hand_over(self, entries: list[Entry]) -> None:
        if entries or not self.threaded:
            self.put(entries)

    def counts(self) -> tuple[Recorded, int]:
        with self._lock:
            totals = Recorded()
            totals += self.recorded
            return totals, self.errors

    def _finish(self) -> None:
        self._flush_now()
        try:
            self.writer.close()
        except Exception:  # the flush above logged why
            logger.error("The crawl ended with %d records of crawl %d not written to the "
                         "database", self.writer.pending, self.writer.crawl_id)

    def _apply(self, entries: list[Entry]) -> bool:
        hit = False
        for entry in entries:
            try:
                if isinstance(entry, dict):
                    self.writer.count(entry)
                elif isinstance(entry[0], ImageItem):
                    item, pages = entry
                    assert isinstance(pages, list)
                    # The crawl row's counters go with the rows they count (same commit).
                    hashed = item.digests is not None and item.fetch_status != "not_modified"
                    self.writer.count({"images": 1, "hashed": int(hashed),
                                       "hits": int(bool(item.matches))})
                    record = media_record(
                        item.url, item.digests, fetch_status=item.fetch_status,
                        error=item.error, content_type=item.content_type,
                        server_ip=item.server_ip, etag=item.etag,
                        last_modified=item.last_modified,
                    )
                    self.writer.add(record, pages, [stored_match(m) for m in item.matches])
                    hit = hit or bool(item.matches)
                else:
                    media_url, page_url = entry
                    assert isinstance(media_url, str)
                    assert isinstance(page_url, str)
                    self.writer.add_observation(media_url, page_url)
            except Exception:  # one bad record must not stop the writer
                logger.exception("Could not buffer a crawl record")
                with self._lock:
                    self.errors += 1
        return hit

    def _flush(self) -> None:
        try:
            self.writer.flush()
        except Exception:  # keep crawling; the writer keeps its batch for the next attempt
            logger.exception("Could not write to the database; will retry")
            with self._lock:
                self.errors += 1
        with self._lock:
            self.recorded = Recorded()
            self.recorded += self.writer.recorded


class StorePipeline:
    """Writes through a WriteThread (a CrawlWriter on its own thread, which batches): the
    reactor only collects entries and hands them over every HAND_OVER_INTERVAL seconds;
    hits are committed at once, everything else at least every TRAWL_FLUSH_INTERVAL, so a
    killed crawl keeps what it found. The crawl row's counters go with the rows they
    count: images, hashed and hits with each image's record, pages and errors (which leave
    no rows) as of each hand-over."""

    def __init__(
        self, crawler: Crawler, stats: StatsCollector, flush_interval: float, batch_size: int
    ) -> None:
        self.crawler = crawler
        self.stats = stats
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.writes: WriteThread | None = None
        self._timer: LoopingCall | None = None
        self._entries: list[Entry] = []
        # Pages seen showing an image whose fetch has not finished yet.
        self._pending_pages: dict[str, list[str]] = {}
        self._recorded = KeySet()  # hash() of image URLs with a media row
        self._counted = (Recorded(), 0)
        self._handed = {"pages": 0, "errors": 0}  # stats values handed to the writer so far

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        s = crawler.settings
        assert crawler.stats is not None
        flush_interval = s.getfloat("TRAWL_FLUSH_INTERVAL")
        return cls(crawler, crawler.stats, flush_interval, s.getint("TRAWL_WRITE_BATCH"))

    def open_spider(self) -> None:
        from sqlalchemy.pool import StaticPool

        store = store_for(self.crawler)
        self.writes = WriteThread(
            store, crawl_id_for(self.crawler), flush_interval=self.flush_interval,
            batch_size=self.batch_size, threaded=not isinstance(store.engine.pool, StaticPool),
        )
        self._timer = LoopingCall(self.hand_over)
        self._timer.start(HAND_OVER_INTERVAL, now=False)

    def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.writes is not None:
            self.hand_over()
            self.writes.close()
            self._count()

    def hand_over(self) -> None:
        assert self.writes is not None
        self._count()
        entries, self._entries = self._entries, []
        deltas = {}
        for name, handed in self._handed.items():
            now = int(self.stats.get_value(f"trawl/{name}", 0))
            if now > handed:
                deltas[name] = now - handed
                self._handed[name] = now
        if deltas:
            entries.append(deltas)
        self.writes.hand_over(entries)

    def _count(self) -> None:
        """Stats from what the writer did since the last call (its totals are cumulative)."""
        assert self.writes is not None
        (recorded, errors), (before, errors_before) = self.writes.counts(), self._counted
        self._counted = (recorded, errors)
        if errors > errors_before:
            self.stats.inc_value("trawl/errors", errors - errors_before)
            self.stats.inc_value("trawl/errors/database", errors - errors_before)
        for key, now, then in (
            ("new_hits", recorded.new_hits, before.new_hits),
            ("new_matches", recorded.new_matches, before.new_matches),
            ("reopened_hits", recorded.reopened_removed, before.reopened_removed),
            ("reopened_rejected", recorded.reopened_rejected, before.reopened_rejected),
        ):
            if now > then:
                self.stats.inc_value(f"trawl/{key}", now - then)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ObservationItem):
            if hash(item.media_url) in self._recorded:
                self._entries.append((item.media_url, item.page_url))
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
        self._entries.append((item, pages))
        if item.matches:  # a hit: to the writer now, committed at once
            self.hand_over()
        self._recorded.add(hash(item.url))
        self.stats.inc_value("trawl/images")
        status = item.fetch_status
        if status in ("ok", "not_modified"):  # as media_record decides it
            status = item.digests.status if item.digests is not None else "error"
        self.stats.inc_value(f"trawl/image_status/{status}")
        if item.fetch_status == "not_modified":
            self.stats.inc_value("trawl/not_modified")
        return item
