"""Scrapy's downloader with its per-host concurrency limit enforced.

Scrapy 2.19's `Downloader._process_queue` starts each queued request as a coroutine
(`_schedule_coro`), and the coroutine adds the request to its slot's `transferring` set only
when it first runs, on a later turn of the event loop. The loop that starts them tests
`slot.free_transfer_slots()` against that set, so it sees every slot still free and starts
every request queued for the host at once: with CONCURRENT_REQUESTS_PER_DOMAIN = 8 and
CONCURRENT_REQUESTS = 32, a crawl of one site had up to 32 requests in flight to it. That is
four times the politeness limit a hotline promises the sites it crawls, and it churns TCP
connections (Twisted's pool keeps only CONCURRENT_REQUESTS_PER_DOMAIN idle connections per
host and closes the rest: 909 connections opened and closed for 2,405 responses).

This subclass marks the request as transferring before it schedules the coroutine (the
coroutine's own `add` is then a no-op on the set, and its `finally` removes it as before).
tests/test_downloader_limit.py pins the limit on a real server, so a Scrapy upgrade that
changes the method fails there rather than silently.

With TRAWL_HASH_BACKLOG_BYTES > 0 it also holds a host's queue while its next request is an
image and more than that many bytes of images wait to be hashed (the hash workers lag): an
image's body then waits on the server rather than in the crawl's memory. The queue resumes
when the hash pool's answers bring the backlog under the limit.
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from scrapy.core.downloader import Downloader
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro

from crawler.engine.context import hash_backlog_for

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler


class PoliteDownloader(Downloader):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.backlog_limit = max(0, crawler.settings.getint("TRAWL_HASH_BACKLOG_BYTES"))
        self.backlog = hash_backlog_for(crawler) if self.backlog_limit else None
        self._held: set[Slot] = set()  # slots whose next request is an image held back
        if self.backlog is not None:
            self.backlog.listeners.append(self._resume)

    def _holds(self, request: Request) -> bool:
        return (self.backlog is not None and self.backlog.bytes > self.backlog_limit
                and request.meta.get("trawl_kind") == "image")

    def _resume(self) -> None:
        """An answer from the hash pool: restart the held queues once under the limit."""
        if self._held and self.backlog is not None and self.backlog.bytes <= self.backlog_limit:
            held, self._held = self._held, set()
            for slot in held:
                self._process_queue(slot)

    def _process_queue(self, slot: Slot) -> None:
        # Scrapy 2.19's method, with one line added (marked).
        if slot.latercall:
            return
        now = monotonic()
        # changed: no random.uniform(0, 0) per call when there is no delay (Trawl's default)
        delay = slot.download_delay() if slot.delay else 0.0
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            if self._holds(slot.queue[0][0]):  # added: until the hash backlog falls
                self._held.add(slot)
                self.crawler.stats.inc_value("trawl/hash_backlog_holds")  # type: ignore[union-attr]
                break
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # added: the slot is taken now, not when it runs
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
