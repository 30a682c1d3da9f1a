"""The crawl's context for Trawl's Scrapy components: its one Store and its crawl row.

Why not a Scrapy extension: it is shared state, not a component with a lifecycle of its
own. The process that starts a crawl (crawler.engine.process.run_spider) hands its open
Store to the crawler, so a crawl process opens one database engine, not one per component;
a crawl started some other way (`scrapy crawl seed`) opens one from TRAWL_DATABASE_URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from storage.db import Store

_ATTR = "_trawl_store"
_OWNED_ATTR = "_trawl_store_owned"


def attach_store(crawler: Crawler, store: Store) -> None:
    """Give the crawler an open Store (its owner closes it)."""
    setattr(crawler, _ATTR, store)


def store_for(crawler: Crawler) -> Store:
    """The crawler's Store: the one attached, else opened on first use from the setting
    TRAWL_DATABASE_URL and closed when the engine stops."""
    store: Store | None = getattr(crawler, _ATTR, None)
    if store is None:
        from storage.db import open_store

        url = crawler.settings.get("TRAWL_DATABASE_URL")
        if not url:
            raise NotConfigured("TRAWL_DATABASE_URL is not set: start crawls with `trawl crawl`.")
        store = open_store(url, migrate=False, create=False)
        setattr(crawler, _ATTR, store)
        setattr(crawler, _OWNED_ATTR, store)  # also keeps the weakly connected receiver alive
        crawler.signals.connect(store.close, signal=signals.engine_stopped)
    return store


def crawl_id_for(crawler: Crawler) -> int:
    crawl_id = crawler.settings.getint("TRAWL_CRAWL_ID", 0)
    if not crawl_id:
        raise NotConfigured("TRAWL_CRAWL_ID is not set: start crawls with `trawl crawl`.")
    return crawl_id
