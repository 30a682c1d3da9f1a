"""Conditional image requests in a worker, which outlives crawls.

The crawl process's ConditionalImageMiddleware reads the hashed URLs once, when its spider
opens: right for one crawl, stale for a worker that runs for days. Here the set is read
again when the first image request of a crawl this worker has not worked on yet arrives,
so images stored by earlier crawls (by any worker) are re-fetched conditionally. The read
runs in a thread; image requests of that crawl wait for it (pages do not).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads
from twisted.internet.defer import Deferred

from crawler.engine.keyset import KeySet
from crawler.engine.middlewares.conditional import ConditionalImageMiddleware
from storage.media import iter_hashed_urls

if TYPE_CHECKING:
    from scrapy import Request
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


class PerCrawlConditionalMiddleware(ConditionalImageMiddleware):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.learned: set[int] = set()  # crawls whose start the hashed URLs were read at
        self._waiting: dict[int, list[Deferred[None]]] = {}  # crawl -> requests waiting

    def spider_opened(self) -> None:
        """Nothing to read yet: each crawl reads the set when its first image comes."""

    async def process_request(self, request: Request) -> None:  # type: ignore[override]
        meta = request.meta
        seed = meta.get("trawl_seed")
        if (meta.get("trawl_kind") == "image" and "trawl_conditional" not in meta
                and isinstance(seed, tuple) and seed[0] not in self.learned):
            await maybe_deferred_to_future(self._learn(int(seed[0])))
        super().process_request(request)

    def _learn(self, crawl_id: int) -> Deferred[None]:
        """Fires once the crawl's read of the hashed URLs is done (one read per crawl)."""
        waiter: Deferred[None] = Deferred()
        waiting = self._waiting.setdefault(crawl_id, [])
        waiting.append(waiter)
        if len(waiting) == 1:
            read = threads.deferToThread(
                lambda: KeySet(hash(url) for url in iter_hashed_urls(self.store)))
            read.addCallbacks(self._read, self._failed)
            read.addBoth(lambda _: self._wake(crawl_id))
        return waiter

    def _read(self, hashed: KeySet) -> None:
        self._hashed = hashed
        self.stats.set_value("trawl/stored_media", len(hashed))

    def _failed(self, failure: Failure) -> None:
        # The crawl's requests go out unconditionally rather than wait; the next crawl
        # reads again.
        logger.error("Could not read the hashed image URLs: %s", failure.getErrorMessage())

    def _wake(self, crawl_id: int) -> None:
        self.learned.add(crawl_id)
        for waiter in self._waiting.pop(crawl_id, []):
            waiter.callback(None)
