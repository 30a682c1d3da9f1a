"""One database Store per crawler, shared by Trawl's pipelines, middlewares and extensions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

from storage.db import Store, open_store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_ATTR = "_trawl_store_holder"


class _StoreHolder:
    def __init__(self, store: Store) -> None:
        self.store = store

    def engine_stopped(self) -> None:
        self.store.close()


def store_for(crawler: Crawler) -> Store:
    """The crawler's Store, opened on first use from TRAWL_DB_URL, closed when the engine stops."""
    holder: _StoreHolder | None = getattr(crawler, _ATTR, None)
    if holder is None:
        url = crawler.settings.get("TRAWL_DB_URL")
        if not url:
            raise NotConfigured("TRAWL_DB_URL is not set: start crawls with `trawl crawl`.")
        holder = _StoreHolder(open_store(url, migrate=False))
        setattr(crawler, _ATTR, holder)  # also keeps the (weakly connected) receiver alive
        crawler.signals.connect(holder.engine_stopped, signal=signals.engine_stopped)
    return holder.store


def crawl_id_for(crawler: Crawler) -> int:
    crawl_id = crawler.settings.getint("TRAWL_CRAWL_ID", 0)
    if not crawl_id:
        raise NotConfigured("TRAWL_CRAWL_ID is not set: start crawls with `trawl crawl`.")
    return crawl_id
