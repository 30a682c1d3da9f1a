"""Garbage-collector thresholds for a command's start and for its steady run.

A Trawl command's start allocates hundreds of thousands of long-lived objects (Scrapy,
Twisted, SQLAlchemy and the ORM models): with CPython's default thresholds (700, 10, 10)
the cyclic collector runs thousands of times over them while they are imported, ~12% of a
crawl's start CPU (bench/RESULTS.md, "Matcher start-up"). `fast_start()` raises the young
generation's threshold for the start; `steady()` puts back the thresholds found, once the
long-running part (the crawl's reactor, the web server) begins, so a crawl's memory is
collected as before. Objects are only collected later, never kept: no cycle is leaked.
A crawl runs between `for_crawl()` and `thaw()`: the start's survivors frozen out of the
collector's generations (a cycle among them that becomes garbage during the crawl is
collected after `thaw`, not during the crawl).
"""

from __future__ import annotations

import gc

START_THRESHOLDS = (100_000, 50, 100)
_found: tuple[int, int, int] | None = None


def fast_start() -> None:
    """Raise the thresholds for the start (idempotent; the first thresholds found are kept)."""
    global _found
    if _found is None:
        _found = gc.get_threshold()
        gc.set_threshold(*START_THRESHOLDS)


def steady() -> None:
    """Put back the thresholds `fast_start` found (nothing if it was not called)."""
    global _found
    if _found is not None:
        gc.set_threshold(*_found)
        _found = None


def for_crawl() -> None:
    """`steady`, then the collector set for a crawl's reactor until `thaw`.

    The objects the start built are collected once (`gc.collect()`: garbage cycles made so
    far are freed, not kept) and the survivors moved to the permanent generation
    (`gc.freeze()`): they stay freed by reference counting as ever, but the cyclic
    collector no longer traverses them on each full collection (a crawl's start leaves
    many long-lived objects: Scrapy, Twisted, SQLAlchemy, the ORM models; each full
    collection cost ~80 ms of CPU over them, ~10 ms without them). The thresholds stay
    CPython's: a larger young generation (5,000) cut the collector's CPU further but grew
    the crawl's RSS from 2k to 20k images by 13.6% against 8.9% (bench/RESULTS.md,
    crawlproc12)."""
    steady()
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """Undo `for_crawl`: the frozen objects are collected as usual again (a process that
    runs more than a crawl, e.g. a test session, leaks no cycle of them)."""
    gc.unfreeze()
