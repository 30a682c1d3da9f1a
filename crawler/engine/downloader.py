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
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from scrapy.core.downloader import Downloader
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot


class PoliteDownloader(Downloader):
    def _process_queue(self, slot: Slot) -> None:
        # Scrapy 2.19's method, with one line added (marked).
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # added: the slot is taken now, not when it runs
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
