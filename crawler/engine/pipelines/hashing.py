"""Hash each image's bytes in memory (off the reactor), then drop the bytes."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from crawler.adapter import digests_of
from crawler.engine.context import store_for
from crawler.engine.hashpool import HashPool
from crawler.engine.items import ImageItem
from matchers.digests import Digests
from storage.media import get_media_by_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector


class HashPipeline:
    """Bytes -> Digests. Identical bytes under different URLs are hashed once per crawl
    (an LRU keyed by sha256, which is computed here: cheap next to decoding)."""

    def __init__(
        self, crawler: Crawler, pool: HashPool, cache_size: int, stats: StatsCollector
    ) -> None:
        self.crawler = crawler
        self.pool = pool
        self.cache_size = cache_size
        self.stats = stats
        self._cache: OrderedDict[bytes, Digests] = OrderedDict()
        self._inflight: dict[bytes, list[Deferred[Digests]]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HashPipeline:
        s = crawler.settings
        max_pixels = s.getint("TRAWL_MAX_PIXELS") or None
        pool = HashPool(s.get("TRAWL_HASH_POOL"), s.getint("TRAWL_HASH_WORKERS"), max_pixels,
                        timeout=s.getfloat("TRAWL_HASH_TIMEOUT") or None)
        assert crawler.stats is not None
        return cls(crawler, pool, s.getint("TRAWL_DIGEST_CACHE_SIZE"), crawler.stats)

    def open_spider(self) -> None:
        self.pool.start()

    def close_spider(self) -> None:
        self.pool.close()
        self.stats.set_value("trawl/hash_pool_restarts", self.pool.restarts)
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
        item.digests = await self._digests(body)
        del body
        self.stats.inc_value("trawl/hashed")
        return item

    async def _digests(self, body: bytes) -> Digests:
        key = hashlib.sha256(body).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.stats.inc_value("trawl/digest_cache_hits")
            return cached
        waiters = self._inflight.get(key)
        if waiters is not None:  # same bytes already being hashed: wait for that result
            self.stats.inc_value("trawl/digest_cache_hits")
            waiter: Deferred[Digests] = Deferred()
            waiters.append(waiter)
            return await maybe_deferred_to_future(waiter)
        self._inflight[key] = []
        try:
            digests = await maybe_deferred_to_future(self.pool.hash(body))
        except BaseException:
            for waiter in self._inflight.pop(key, []):
                waiter.errback()
            raise
        for waiter in self._inflight.pop(key, []):
            waiter.callback(digests)
        self._cache[key] = digests
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return digests
