"""scrapy-redis's scheduler and priority queue, with leases and atomic admission.

Plain scrapy-redis pops a request and forgets it, and checks its dupefilter and pushes in
two steps. Here admission (seen, trap, page limit, push) is one Lua script and a pop is a
lease (crawler.engine.distributed.frontier), released by the store pipeline once the
request's results are committed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from scrapy.http import Request as ScrapyRequest
from scrapy.http.request import _find_method
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from crawler.engine.distributed.context import WorkerContext, wake_engine, worker_context
from crawler.engine.distributed.leases import LEASE_META, request_key
from crawler.engine.scope import ScopeError, canonicalize_url

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.engine.distributed.frontier import Lease

logger = logging.getLogger(__name__)

# Meta keys that describe one attempt in one worker, never stored in the frontier.
LOCAL_META = (LEASE_META, "download_slot", "download_latency")
# After an empty pop, the frontier is asked again no sooner than this (the engine asks
# after every response and item otherwise), and no later: the engine is woken then, so an
# idle worker notices new work (another worker's pushes, a new crawl) within it. It
# doubles while pops stay empty, up to EMPTY_POLL_MAX_SECONDS, and starts again at
# EMPTY_POLL_SECONDS after a pop that leased something or a push of this worker's that
# was queued (which also wakes the engine at once).
EMPTY_POLL_SECONDS = 0.05
EMPTY_POLL_MAX_SECONDS = 0.4


class LeasedPriorityQueue(PriorityQueue):
    """scrapy-redis's request encoding (pickled request dicts, callbacks by name), with the
    pushes and pops of the shared frontier."""

    def _encode_request(self, request: Request) -> bytes:
        # Request.to_dict(spider=...) finds a callback's name with inspect.getmembers over
        # the whole spider, for every request; a bound method of the spider names itself.
        # So this is Request.to_dict with that one change.
        data: dict[str, Any] = {"url": request.url, "callback": self._name(request.callback),
                                "errback": self._name(request.errback),
                                "headers": dict(request.headers)}
        for attr in request.attributes:
            data.setdefault(attr, getattr(request, attr))
        if type(request) is not ScrapyRequest:
            data["_class"] = f"{type(request).__module__}.{type(request).__name__}"
        data["meta"] = {k: v for k, v in data["meta"].items() if k not in LOCAL_META}
        encoded: bytes = self.serializer.dumps(data)
        return encoded

    def _name(self, method: Any) -> Any:
        if not callable(method):
            return method
        func = getattr(method, "__func__", None)
        name = getattr(func, "__name__", "")
        if getattr(method, "__self__", None) is self.spider and name and \
                getattr(getattr(self.spider, name, None), "__func__", None) is func:
            return name
        return _find_method(self.spider, method)

    def decode(self, data: bytes) -> Request:
        request: Request = self._decode_request(data)
        return request


class LeasedScheduler(Scheduler):
    """A worker's scheduler: admits requests into the crawl they belong to and leases the
    next request of any running crawl."""

    def __init__(self, context: WorkerContext, stats: StatsCollector | None, *,
                 lease_seconds: float, max_query_variants: int, lease_batch: int = 1,
                 empty_poll: float = EMPTY_POLL_SECONDS,
                 empty_poll_max: float = EMPTY_POLL_MAX_SECONDS) -> None:
        super().__init__(server=context.frontier.client, persist=True)
        self.context = context
        self.stats = stats
        self.lease_seconds = lease_seconds
        self.lease_batch = max(1, lease_batch)
        # Leased in one round trip, not handed to the engine yet (a stopping worker's
        # `release` puts them back with the others).
        self._leased: deque[Lease] = deque()
        self.max_query_variants = max_query_variants
        self.empty_poll = empty_poll
        self.empty_poll_max = max(empty_poll, empty_poll_max)
        self._empty_wait = empty_poll
        self._wake_call: Any = None
        self.lqueue: LeasedPriorityQueue | None = None
        self._empty_until = 0.0
        # A pop in flight on the frontier's round-trip thread: the next leases are asked
        # for while fewer than `lease_batch` wait here, so the engine seldom finds none.
        self._popping = False
        self._asking = False
        self._closed = False
        self.crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LeasedScheduler:
        s = crawler.settings
        scheduler = cls(worker_context(crawler), crawler.stats,
                        lease_seconds=s.getfloat("TRAWL_LEASE_SECONDS"),
                        lease_batch=s.getint("TRAWL_LEASE_BATCH", 1),
                        max_query_variants=s.getint("TRAWL_TRAP_MAX_QUERY_VARIANTS"))
        scheduler.crawler = crawler
        return scheduler

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.lqueue = LeasedPriorityQueue(self.server, spider, self.context.frontier.key("queue"))

    def close(self, reason: str) -> None:
        self._closed = True
        if self._wake_call is not None and self._wake_call.active():
            self._wake_call.cancel()
        self._leased.clear()
        # After every round trip asked for before (a pop in flight included): its leases
        # are put back too.
        moved = self.context.frontier.release(self.context.worker_id)
        if moved:
            logger.info("Put %d leased requests back in the frontier", moved)

    def __len__(self) -> int:
        return 0  # the frontier is shared: nothing waits in this process

    def has_pending_requests(self) -> bool:
        return False

    def _count(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(key)

    def enqueue_request(self, request: Request) -> bool:
        assert self.lqueue is not None
        crawl_id, seed = request.meta["trawl_seed"]
        data = self.lqueue._encode_request(request)
        frontier = self.context.frontier
        token = request.meta.get(LEASE_META)
        kind = request.meta.get("trawl_kind", "page")
        if token is not None:  # a redirect or retry of a leased request: the lease moves on
            return self._follow(request, token, kind, crawl_id, seed, data)

        max_pages, variant = None, ""
        if kind == "page":
            max_pages = self.context.crawl(crawl_id).plans[seed].max_pages
            parts = urlsplit(request.url)
            if parts.query:
                variant = f"{parts.netloc}{parts.path}"
        # Sent with the next round trip (at the latest FLUSH_SOON_SECONDS from now): a
        # page's requests go out together. Scrapy is told it was queued; what the
        # frontier answered is counted when the answer comes.
        frontier.defer_push(
            crawl_id, data, score=-request.priority, key=request_key(kind, request.url),
            seed=seed, max_pages=max_pages, variant=variant,
            max_variants=self.max_query_variants, then=self._admitted,
        )
        self.context.flush_soon()
        return True

    def _admitted(self, result: str) -> None:
        if result == "ok":
            self._count("scheduler/enqueued/redis")
            self._not_empty()
        elif result not in ("seen", "ended"):
            self._count(f"trawl/drop/{result}")

    def _follow(self, request: Request, token: str, kind: str, crawl_id: int, seed: int,
                data: bytes) -> bool:
        """Queue a retry or redirect of the leased request `token`, ending its lease in the
        same step. A page's redirect target is admitted like any page of the crawl, once
        (as the dupefilter of one process does): if the crawl has seen it, the target is
        not fetched again. A retry (same URL) and an image's redirect (the image is stored
        under the URL it was requested by, as in one process) skip the seen check."""
        frontier = self.context.frontier
        held = self.context.tracker.get(token)
        ending = (self.context.worker_id, held.lease.member) if held is not None else None
        key = ""
        if kind == "page" and (held is None or request_key(kind, request.url) != held.key):
            key = request_key(kind, _canonical(request.url))  # a redirect, not a retry
        def admitted(result: str) -> None:
            if result == "ok":
                self._not_empty()
            elif key and result == "seen":
                self._count("trawl/drop/redirect_seen")

        frontier.defer_push(crawl_id, data, score=-request.priority, key=key, seed=seed,
                            ending=ending, then=admitted)
        self.context.tracker.transferred(token)
        self.context.flush_soon()
        return True

    def next_request(self) -> Request | None:
        assert self.lqueue is not None
        # With a round-trip thread, the next leases are asked for ahead (the engine is not
        # kept waiting); without one, when none is left (the pop is made now).
        if len(self._leased) <= (self.lease_batch if self.context.frontier.threaded else 0):
            self._pop_ahead()
        if not self._leased:
            return None
        lease = self._leased.popleft()
        try:
            request = self.lqueue.decode(lease.data)
        except Exception:  # not ours to crawl: end the lease so it is not retried forever
            logger.exception("Dropping an undecodable request of crawl %d", lease.crawl_id)
            self.context.tracker.end_leases([lease.member])
            self._count("trawl/drop/undecodable")
            return None
        kind = str(request.meta.get("trawl_kind", "page"))
        # An image is stored, and its request committed, under the URL it was requested by
        # (two image URLs redirecting to one target are two images); a page under its own.
        redirects = request.meta.get("redirect_urls") if kind == "image" else None
        url = redirects[0] if redirects else request.url
        request.meta[LEASE_META] = self.context.tracker.hold(lease, kind, url)
        self._count("scheduler/dequeued/redis")
        return request


    def _pop_ahead(self) -> None:
        """Lease the next requests, unless a pop is in flight or the frontier was empty a
        moment ago (the engine asks after every response and item otherwise)."""
        if self._popping or self._closed or time.monotonic() < self._empty_until:
            return
        self._popping = True
        self._asking = True
        try:
            d = self.context.frontier.pop_many_async(
                self.context.worker_id, self.lease_seconds, self.lease_batch)
            d.addCallbacks(self._popped, self._pop_failed)
        finally:
            self._asking = False

    def _popped(self, leases: list[Lease]) -> None:
        self._popping = False
        if not leases:
            self._empty_for_now()
            return
        self._empty_wait = self.empty_poll
        self._leased.extend(leases)
        if self._closed or self._asking:
            return  # `close` put them back; or answered at once: the engine is asking now
        # The engine may have found none a moment ago and waits for a response to ask
        # again: have it ask now.
        self._wake()

    def _empty_for_now(self) -> None:
        """Ask the frontier again in `_empty_wait` seconds (not sooner), and wake the
        engine then; the next wait is twice as long, up to `empty_poll_max`."""
        wait = self._empty_wait
        self._empty_until = time.monotonic() + wait
        self._empty_wait = min(2 * wait, self.empty_poll_max)
        if self._closed or (self._wake_call is not None and self._wake_call.active()):
            return
        from twisted.internet import reactor

        self._wake_call = cast(Any, reactor).callLater(wait, self._poll_again)

    def _poll_again(self) -> None:
        # The wait is over (a timer may fire a hair early: the pop must not be skipped).
        self._empty_until = 0.0
        self._wake()

    def _not_empty(self) -> None:
        """A request was queued by this worker: ask the frontier at once if it was empty."""
        self._empty_wait = self.empty_poll
        if self._empty_until:
            self._empty_until = 0.0
            self._wake()

    def _wake(self) -> None:
        """Have the engine ask for a request now (idle, it asks only every 5 s)."""
        if not self._closed:
            wake_engine(self.crawler)

    def _pop_failed(self, failure: Any) -> None:
        self._popping = False
        self._empty_for_now()
        logger.error("Could not lease requests from the frontier; will retry: %s",
                     failure.getErrorMessage())


def _canonical(url: str) -> str:
    """The URL as the crawl's seen keys have it (links are canonicalised when found)."""
    try:
        return canonicalize_url(url)
    except ScopeError:
        return url


def encode_start_request(url: str, meta: dict[str, Any], *, priority: int = 0) -> bytes:
    """A seed's first request as the worker spider's parse_page/page_failed will decode it."""
    from scrapy import Request
    from scrapy_redis import picklecompat

    data = Request(url, meta=meta, priority=priority).to_dict()
    data["callback"], data["errback"] = "parse_page", "page_failed"
    encoded: bytes = picklecompat.dumps(data)
    return encoded
