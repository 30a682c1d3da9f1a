"""The crawl's context for Trawl's Scrapy components: its one Store, its matcher, its row.

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

    from crawler.engine.hashpool import HashBacklog
    from crawler.index_cache import SavedMatcher
    from matchers.decision import Matcher
    from storage.db import Store

_ATTR = "_trawl_store"
_OWNED_ATTR = "_trawl_store_owned"
_MATCHER_ATTR = "_trawl_matcher"
_SAVED_ATTR = "_trawl_saved_matcher"
_GAUGE_ATTR = "_trawl_hash_backlog"


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


def attach_matcher(crawler: Crawler, matcher: Matcher) -> None:
    """Give the crawler the matcher its pipelines decide with (a re-check builds one for
    the known hashes it checks); no saved file is looked for then."""
    setattr(crawler, _MATCHER_ATTR, matcher)
    setattr(crawler, _SAVED_ATTR, None)


def saved_matcher_for(crawler: Crawler) -> SavedMatcher | None:
    """The saved matcher file over every known hash in the database (rebuilt first if the
    lists changed), not mapped: what hash workers match with. None when a matcher was
    attached or the database has no place for the file (then use `matcher_for`)."""
    if not hasattr(crawler, _SAVED_ATTR):
        from crawler.index_cache import current_matcher_file, index_dir_for

        store = store_for(crawler)
        cache_dir = index_dir_for(store)
        saved = None
        if cache_dir is not None:
            saved = current_matcher_file(store, cache_dir, _thresholds(crawler))
        setattr(crawler, _SAVED_ATTR, saved)
    found: SavedMatcher | None = getattr(crawler, _SAVED_ATTR)
    return found


def matcher_for(crawler: Crawler) -> Matcher:
    """The crawler's matcher: the one attached, else one over every known hash in the
    database, with the thresholds of the setting TRAWL_MATCH_THRESHOLDS (the saved file
    mapped, or built in memory where it cannot be saved)."""
    matcher: Matcher | None = getattr(crawler, _MATCHER_ATTR, None)
    if matcher is None:
        saved = saved_matcher_for(crawler)
        if saved is not None:
            matcher = saved.load()
        else:
            from crawler.index_cache import load_or_build_matcher

            matcher = load_or_build_matcher(store_for(crawler), None, _thresholds(crawler))
        setattr(crawler, _MATCHER_ATTR, matcher)
    return matcher


def _thresholds(crawler: Crawler) -> dict[str, int] | None:
    thresholds = crawler.settings.getdict("TRAWL_MATCH_THRESHOLDS") or None
    return {k: int(v) for k, v in thresholds.items()} if thresholds else None


def hash_backlog_for(crawler: Crawler) -> HashBacklog:
    """The crawl's gauge of image bytes waiting to be hashed: the hash pool counts into it,
    the downloader holds image downloads while it is over TRAWL_HASH_BACKLOG_BYTES."""
    gauge: HashBacklog | None = getattr(crawler, _GAUGE_ATTR, None)
    if gauge is None:
        from crawler.engine.hashpool import HashBacklog

        gauge = HashBacklog()
        setattr(crawler, _GAUGE_ATTR, gauge)
    return gauge


def crawl_id_for(crawler: Crawler) -> int:
    crawl_id = crawler.settings.getint("TRAWL_CRAWL_ID", 0)
    if not crawl_id:
        raise NotConfigured("TRAWL_CRAWL_ID is not set: start crawls with `trawl crawl`.")
    return crawl_id
