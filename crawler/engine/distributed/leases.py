"""Which requests this worker holds, and when each one is done.

A leased request is done when its callback (or errback) has produced all its output and
every item of that output has passed the item pipelines. Done is not yet released: the
store pipeline commits the request with its batch (storage.workers.LeasedCrawlWriter) and
only then releases the lease in Redis, so a worker killed at any moment loses nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy.http import Request

if TYPE_CHECKING:
    from crawler.engine.distributed.frontier import Acked, Lease, RedisFrontier

logger = logging.getLogger(__name__)

LEASE_META = "trawl_lease"  # request.meta key of the lease token (this worker's memory only)


def request_key(kind: str, url: str) -> str:
    """The key a crawl's request is deduplicated and committed under."""
    return hashlib.sha256(f"{kind} {url}".encode()).hexdigest()


@dataclass
class HeldRequest:
    token: str
    lease: Lease
    key: str
    deltas: dict[str, int] = field(default_factory=dict)
    items: int = 0  # items produced and not yet through the pipelines
    output_done: bool = False
    completed: bool = False

    @property
    def crawl_id(self) -> int:
        return self.lease.crawl_id

    def count(self, name: str, n: int = 1) -> None:
        if n:
            self.deltas[name] = self.deltas.get(name, 0) + n


class LeaseTracker:
    """The worker's leases: token -> HeldRequest, and which lease each item came from."""

    def __init__(self, frontier: RedisFrontier, worker_id: str) -> None:
        self.frontier = frontier
        self.worker_id = worker_id
        self.on_complete: Callable[[HeldRequest], None] | None = None
        self.on_crawl_ended: Callable[[int], None] | None = None
        self.released = 0  # leases released after their results were committed
        self._held: dict[str, HeldRequest] = {}
        self._items: dict[int, str] = {}  # id(item) -> token, while the item is in flight
        self._tokens = itertools.count(1)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, lease: Lease, kind: str, url: str) -> str:
        token = f"{self.worker_id}/{next(self._tokens)}"
        self._held[token] = HeldRequest(token, lease, request_key(kind, url))
        return token

    def of_meta(self, meta: dict[str, Any]) -> HeldRequest | None:
        token = meta.get(LEASE_META)
        return self._held.get(token) if token else None

    def of_item(self, item: Any) -> HeldRequest | None:
        token = self._items.get(id(item))
        return self._held.get(token) if token else None

    def crawl_ids(self) -> set[int]:
        return {held.crawl_id for held in self._held.values()}

    def track(self, held: HeldRequest | None, output: Iterable[Any]) -> Iterator[Any]:
        """Pass a callback's output on, noting its items; the request is done once the
        output is exhausted and its items have left the pipelines."""
        try:
            for value in output:
                if held is not None and value is not None and not isinstance(value, Request):
                    self._items[id(value)] = held.token
                    held.items += 1
                yield value
        finally:
            if held is not None:
                held.output_done = True
                self._maybe_complete(held)

    def item_finished(self, item: Any) -> None:
        """Connected to item_scraped, item_dropped and item_error."""
        token = self._items.pop(id(item), None)
        held = self._held.get(token) if token else None
        if held is not None:
            held.items -= 1
            self._maybe_complete(held)

    def get(self, token: str) -> HeldRequest | None:
        return self._held.get(token)

    def transferred(self, token: str) -> None:
        """A redirect or retry of the leased request was queued, and its lease ended in
        the same step (RedisFrontier.push with `ending`): forget it here."""
        self._held.pop(token, None)

    def release(self, tokens: Iterable[str]) -> int:
        """The requests' results are committed: end their leases in Redis (with the
        frontier's round-trip thread, the reactor does not wait: a failure is logged, and
        the leases then expire; their requests count once)."""
        members = [held.lease.member for t in tokens if (held := self._held.pop(t, None))]
        if not members:
            return 0
        self.end_leases(members)
        self.released += len(members)
        return len(members)

    def end_leases(self, members: list[bytes]) -> None:
        """Ack the leases in Redis without waiting; a crawl the ack ended (its last lease,
        nothing queued) goes to `on_crawl_ended`, which records its end at once."""

        def acked(result: Acked) -> None:
            for crawl_id in result.ended:
                if self.on_crawl_ended is not None:
                    self.on_crawl_ended(crawl_id)

        def failed(failure: Any) -> None:
            logger.error("Could not release %d leases; they will expire: %s",
                         len(members), failure.getErrorMessage())

        self.frontier.ack_async(self.worker_id, members).addCallbacks(acked, failed)

    def drop(self, token: str) -> None:
        """Forget a lease without ending it (it expires and is crawled again)."""
        self._held.pop(token, None)

    def _maybe_complete(self, held: HeldRequest) -> None:
        if held.completed or not held.output_done or held.items > 0:
            return
        held.completed = True
        if self.on_complete is not None:
            self.on_complete(held)
