"""The crawl's stats collector: Scrapy's in-memory one, without a hook on every attribute read."""

from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector


class DirectStatsCollector(MemoryStatsCollector):
    """Scrapy's MemoryStatsCollector, same methods and stats, read directly.

    Why: Scrapy 2.19's StatsCollector defines `__getattribute__` to wrap its methods in a
    check for a deprecated `spider` argument, and every attribute read goes through it,
    `self._stats` inside each method too (a failed lookup of `_cached__stats`, an
    AttributeError raised and caught): ~1.7 us an `inc_value` instead of ~0.1, and a crawl
    counts ~20 things per image (Scrapy's downloader and scheduler stats, Trawl's own). The
    methods still accept `spider`, which they ignore as Scrapy's do (without the warning).
    """

    __getattribute__ = object.__getattribute__
