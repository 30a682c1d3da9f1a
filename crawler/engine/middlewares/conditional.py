"""Re-fetch already-hashed image URLs conditionally (If-None-Match / If-Modified-Since)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.engine.context import store_for
from crawler.engine.keyset import KeySet
from storage.media import get_media_by_url, iter_hashed_urls

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from storage.db import Store


class ConditionalImageMiddleware:
    """An image URL Trawl hashed before, whose server gave an ETag or Last-Modified, is
    requested conditionally; a 304 then reuses the stored digests (matched against the
    current lists). Only a flag goes into request meta: never digests or bytes."""

    def __init__(self, store: Store, stats: StatsCollector) -> None:
        self.store = store
        self.stats = stats
        self._hashed = KeySet()  # hash() of every stored URL that has digests

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalImageMiddleware:
        if not crawler.settings.getbool("TRAWL_CONDITIONAL_REQUESTS"):
            raise NotConfigured
        assert crawler.stats is not None
        middleware = cls(store_for(crawler), crawler.stats)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self) -> None:
        """One pass over the stored digests, so a URL never hashed costs no query."""
        self._hashed = KeySet(hash(url) for url in iter_hashed_urls(self.store))
        self.stats.set_value("trawl/stored_media", len(self._hashed))

    def process_request(self, request: Request) -> None:
        meta = request.meta
        if meta.get("trawl_kind") != "image" or "trawl_conditional" in meta:
            return  # not an image, or already looked up (retries and redirects come back)
        meta["trawl_conditional"] = False
        if hash(request.url) not in self._hashed:
            return
        info = get_media_by_url(self.store, request.url)
        if info is None or not info.sha256 or not (info.etag or info.last_modified):
            return
        if info.etag:
            request.headers[b"If-None-Match"] = info.etag
        if info.last_modified:
            request.headers[b"If-Modified-Since"] = info.last_modified
        meta["trawl_conditional"] = True
        meta["handle_httpstatus_list"] = [304]
        self.stats.inc_value("trawl/conditional_requests")
