"""Hash (and match) each image's bytes in memory, off the reactor, then drop the bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import maybe_deferred_to_future

from crawler.adapter import digests_of
from crawler.engine.context import hash_backlog_for, matcher_for, saved_matcher_for, store_for
from crawler.engine.hashpool import HashPool
from crawler.engine.items import ImageItem
from storage.media import get_media_by_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.index_cache import SavedMatcher
    from matchers.decision import Matcher


class HashPipeline:
    """Bytes -> Digests and, with TRAWL_MATCH_IN_HASH_POOL, the matches, computed where the
    bytes are hashed (a worker process matches with the saved matcher file it maps), so the
    reactor only routes bytes out and small results back. Identical bytes under different
    URLs are analysed once while in the pool's LRU (TRAWL_DIGEST_CACHE_BYTES, keyed by
    sha256, computed where the bytes are hashed)."""

    def __init__(self, crawler: Crawler, pool_args: tuple[str, int, int | None, float | None],
                 cache_bytes: int, stats: StatsCollector, match: bool = True,
                 threads: int = 1) -> None:
        self.crawler = crawler
        self.pool_args = pool_args
        self.cache_bytes = cache_bytes
        self.stats = stats
        self.match = match
        self.threads = threads
        self.pool: HashPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HashPipeline:
        s = crawler.settings
        max_pixels = s.getint("TRAWL_MAX_PIXELS") or None
        pool_args = (s.get("TRAWL_HASH_POOL"), s.getint("TRAWL_HASH_WORKERS"), max_pixels,
                     s.getfloat("TRAWL_HASH_TIMEOUT") or None)
        assert crawler.stats is not None
        return cls(crawler, pool_args, s.getint("TRAWL_DIGEST_CACHE_BYTES"), crawler.stats,
                   s.getbool("TRAWL_MATCH_IN_HASH_POOL", True), s.getint("TRAWL_HASH_THREADS"))

    def open_spider(self) -> None:
        matcher: Matcher | SavedMatcher | None = None
        if self.match:
            # Worker processes map the saved file themselves: this process need not.
            if self.pool_args[0] == "process":
                matcher = saved_matcher_for(self.crawler)
            if matcher is None:
                matcher = matcher_for(self.crawler)
        self.pool = HashPool(*self.pool_args, matcher=matcher, cache_bytes=self.cache_bytes,
                             backlog=hash_backlog_for(self.crawler), threads=self.threads)
        self.pool.start()

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.stats.set_value("trawl/hash_pool_restarts", self.pool.restarts)
            self.stats.set_value("trawl/hash_backlog_peak_bytes", self.pool.backlog.peak)
            if self.pool.timeouts:
                self.stats.set_value("trawl/hash_timeouts", self.pool.timeouts)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ImageItem):
            return item
        if item.fetch_status == "not_modified":
            info = get_media_by_url(store_for(self.crawler), item.url)
            item.digests = digests_of(info) if info is not None else None
            if info is not None:  # a 304 need not repeat the validators: keep the stored ones
                item.etag = item.etag or info.etag
                item.last_modified = item.last_modified or info.last_modified
                item.content_type = item.content_type or info.content_type
            if item.digests is None:
                item.fetch_status, item.error = "error", "304 Not Modified but no stored digests"
            return item
        body, item.body = item.body, None  # the item never holds bytes past this point
        if body is None:
            return item
        assert self.pool is not None
        deferred = self.pool.analyse(body)
        del body
        analysis = await maybe_deferred_to_future(deferred)
        item.digests = analysis.digests
        if analysis.matches is not None:
            item.matches, item.matched = analysis.matches, True
        if analysis.cached:
            self.stats.inc_value("trawl/digest_cache_hits")
        self.stats.inc_value("trawl/hashed")
        return item
