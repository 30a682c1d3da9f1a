"""The worker's life: heartbeats, re-queueing dead workers' leases, ending crawls.

Every TRAWL_WORKER_HEARTBEAT seconds a worker renews its alive key in Redis (it expires
after TRAWL_WORKER_TTL seconds: a killed worker's leases are then re-queued by the next
reap of any worker), reaps, and ends the crawls that are done (frontier empty, no lease
held anywhere) or out of time, writing their outcome on the crawl row; exactly one worker
ends each crawl (the frontier's scripts are atomic). A crawl usually ends sooner: the ack
that releases its last lease, with nothing queued, ends it, and that worker records the
end at once (`crawl_ended`). It also keeps the heartbeat of the
crawl rows it works on and its own `workers` row current, and stops working on a crawl
whose row was marked failed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

from crawler.engine.context import store_for
from crawler.engine.distributed.context import wake_engine, worker_context
from crawler.engine.distributed.frontier import redis_display_url
from storage.crawls import COUNTER_KEYS, finish_crawl, get_crawl, heartbeat
from storage.workers import (
    crawl_worker_counts,
    register_worker,
    stop_worker,
    worker_heartbeat,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

ROW_BEAT_SECONDS = 10.0  # crawl rows' and the worker row's heartbeat (storage.crawls)


class WorkerExtension:
    def __init__(self, crawler: Crawler, stats: StatsCollector, *, beat: float,
                 ttl: float) -> None:
        self.crawler = crawler
        self.stats = stats
        self.beat = beat
        self.ttl = ttl
        self.context = worker_context(crawler)
        self._loop: LoopingCall | None = None
        self._last_rows = 0.0
        self._last_rate = (time.monotonic(), 0)
        self._latest_crawl: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerExtension:
        s = crawler.settings
        assert crawler.stats is not None
        ext = cls(crawler, crawler.stats, beat=s.getfloat("TRAWL_WORKER_HEARTBEAT"),
                  ttl=s.getfloat("TRAWL_WORKER_TTL"))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        ext.context.tracker.on_crawl_ended = ext.crawl_ended
        return ext

    @property
    def worker_id(self) -> str:
        return self.context.worker_id

    def spider_opened(self) -> None:
        self.context.frontier.beat(self.worker_id, self.ttl)
        register_worker(store_for(self.crawler), self.worker_id, host=socket.gethostname(),
                        pid=os.getpid(), frontier=redis_display_url(self.context.redis_url))
        logger.info("Worker %s started on %s", self.worker_id,
                    redis_display_url(self.context.redis_url))
        self._loop = LoopingCall(self.tick)
        self._loop.start(self.beat, now=True)

    def spider_closed(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        try:
            stop_worker(store_for(self.crawler), self.worker_id)
        except Exception:
            logger.exception("Could not record that worker %s stopped", self.worker_id)
        self.context.frontier.stop_thread()

    def tick(self) -> Deferred[None]:
        """The Redis part runs on the frontier's round-trip thread (the reactor goes on
        meanwhile), after the deferred commands; the rest back on the reactor thread.
        LoopingCall waits for it before the next tick."""
        frontier = self.context.frontier
        d: Deferred[Any] = frontier.flush_async()
        d.addCallback(lambda _: frontier.run_async(self._redis_housekeeping))
        d.addCallback(self._tick)
        d.addErrback(self._failed)
        return d

    def _failed(self, failure: Any) -> None:  # a database or Redis hiccup must not stop it
        logger.error("Worker housekeeping failed; will retry: %s", failure.getTraceback())
        self.stats.inc_value("trawl/errors/housekeeping")

    def _redis_housekeeping(self) -> tuple[int, list[tuple[int, str]]]:
        """Heartbeat, reap, and end the crawls that are done or out of time: (requests
        re-queued, [(crawl, 'timeout' or 'finished')] this worker ended)."""
        frontier = self.context.frontier
        frontier.beat(self.worker_id, self.ttl)
        moved = frontier.reap()
        ended = []
        for crawl_id in frontier.running_crawls():
            if frontier.expire(crawl_id):
                ended.append((crawl_id, "timeout"))
            elif frontier.finish_if_done(crawl_id):
                ended.append((crawl_id, "finished"))
        return moved, ended

    def _tick(self, result: tuple[int, list[tuple[int, str]]]) -> None:
        moved, ended = result
        if moved:
            logger.warning("Re-queued %d requests leased by stopped workers or past their "
                           "lease", moved)
            self.stats.inc_value("trawl/requeued", moved)
        for crawl_id, outcome in ended:
            self._record_end(crawl_id, outcome)
        wake_engine(self.crawler)
        now = time.monotonic()
        if now - self._last_rows >= ROW_BEAT_SECONDS:
            self._last_rows = now
            self._beat_rows(now)

    def crawl_ended(self, crawl_id: int) -> None:
        """This worker's ack released the crawl's last lease with nothing queued, and so
        ended it in Redis: record its end now, not at the next tick."""
        self.stats.inc_value("trawl/crawls_ended_by_ack")
        self._record_end(crawl_id, "finished")

    def _record_end(self, crawl_id: int, outcome: str) -> None:
        try:
            if outcome == "timeout":
                self._end(crawl_id, "timeout", "stopped: time budget spent")
            else:
                self._end(crawl_id, "finished", None)
        except Exception:
            logger.exception("Could not record the end of crawl %d", crawl_id)
            self.stats.inc_value("trawl/errors/housekeeping")

    def _beat_rows(self, now: float) -> None:
        store = store_for(self.crawler)
        crawls = self.context.tracker.crawl_ids()
        for crawl_id in crawls:
            self._latest_crawl = crawl_id
            # Its row was marked failed or ended by someone else: stop working on it.
            if not heartbeat(store, crawl_id) and self.context.frontier.cancel(crawl_id):
                    logger.warning("Crawl %d is no longer running in the database: "
                                   "stopped working on it", crawl_id)
        released = self.context.tracker.released
        last_time, last_released = self._last_rate
        rate = (released - last_released) / (now - last_time) if now > last_time else 0.0
        self._last_rate = (now, released)
        worker_heartbeat(store, self.worker_id, crawl_id=self._latest_crawl,
                         requests=released, rate=rate)

    def _end(self, crawl_id: int, outcome: str, reason: str | None) -> None:
        store = store_for(self.crawler)
        if outcome == "timeout":
            self._flush_pipelines()
        crawl = get_crawl(store, crawl_id)
        if crawl.outcome != "running":
            return  # marked failed meanwhile: keep the operator's word
        if outcome == "finished" and crawl.pages == 0:  # as a crawl of one process says
            outcome = "failed"
            reason = "nothing crawled: every start URL failed (see the workers' logs)"
        workers = crawl_worker_counts(store, crawl_id)
        stats: dict[str, Any] = {key: getattr(crawl, name) for name, key in COUNTER_KEYS.items()}
        stats["trawl/workers"] = len(workers)
        stats["finish_reason"] = outcome
        finish_crawl(store, crawl_id, outcome=outcome, stats=stats, reason=reason)
        logger.info("Crawl %d %s", crawl_id, outcome)

    def _flush_pipelines(self) -> None:
        """A timed-out crawl ends now: what this worker holds for it is committed first."""
        scraper = getattr(self.crawler.engine, "scraper", None)
        itemproc = getattr(scraper, "itemproc", None)
        for pipeline in getattr(itemproc, "middlewares", ()):
            flush = getattr(pipeline, "flush", None)
            if callable(flush) and hasattr(pipeline, "writers"):
                flush()
