"""Per-host concurrency and delay across every worker: a shared token bucket in Redis.

Scrapy's own per-domain slots only see one process; with N workers a host would get N
times the load. Before a request goes to the downloader, this middleware takes a slot
for its host in Redis: at most TRAWL_HOST_CONCURRENCY requests in flight for one host
across all workers, and TRAWL_HOST_DELAY seconds at least between two requests' starts.
A slot is given back when the response (or the error) comes back, and expires after the
download timeout if its worker died holding it.

Without a delay, a slot given back is kept by its worker for IDLE_SECONDS before it goes
back to Redis: the engine's next request for that host (it usually comes within the same
turn of the reactor) takes it without a round trip. The slot still counts in Redis all
the while, so the limit holds across workers; a slot is reused only while its deadline in
Redis leaves a whole download's time.

A worker takes no more slots of one host than it downloads from that host at once
(Scrapy's CONCURRENT_REQUESTS_PER_DOMAIN, its own per-host slot): this middleware runs
before Scrapy's slot queue, so without that cap one worker would hold every slot of a
busy host in Redis for requests merely queued in its own process, while the other workers
wait. And a request waiting for a slot is woken as soon as this worker gives one back for
its host, instead of at its next poll of Redis (a poll is still made at most every
POLL_CAP seconds, and at once when Redis says another worker's slot may be free).

Fair shares: while other workers want a host too (Redis refused them one of its slots in
the last WANT_SECONDS), a worker is given no more than ceil(limit / workers wanting it) of
its slots, and a slot is reused inside a worker for REUSE_SECONDS at most before it is
asked for again. Without that, the first worker to fill a host's slots kept them for as
long as it had requests for the host (its next request reused each slot given back), and
the others waited: with the default limit of 8 and two workers, one fetched ~75% of the
images (bench_workers --host-limit 8).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredLock

from crawler.engine.distributed.context import worker_context

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

    from crawler.engine.distributed.frontier import RedisFrontier

# Returns 0 when the slot is taken, else seconds to wait before trying again.
# ARGV: prefix, host, holder (worker/n), concurrency (0 = no limit), delay, hold seconds,
# want seconds
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local P, host = ARGV[1], ARGV[2]
local hk, nk = P..':host:'..host, P..':hostnext:'..host
local limit, delay, hold = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', hk, '-inf', now)
if limit > 0 then
  -- Workers refused a slot of this host in the last WANT_SECONDS want more of it: while
  -- others want it too, a worker takes no more than its fair share of the limit.
  local wk, me = P..':hostwant:'..host, string.match(ARGV[3], '^(.*)/')
  redis.call('ZREMRANGEBYSCORE', wk, '-inf', now - tonumber(ARGV[7]))
  local refuse = redis.call('ZCARD', hk) >= limit
  if not refuse then
    local others = redis.call('ZCARD', wk) - (redis.call('ZSCORE', wk, me) and 1 or 0)
    if others > 0 then
      local mine = 0
      for _, h in ipairs(redis.call('ZRANGE', hk, 0, -1)) do
        if string.sub(h, 1, #me + 1) == me..'/' then mine = mine + 1 end
      end
      refuse = mine >= math.ceil(limit / (others + 1))
    end
  end
  if refuse then
    redis.call('ZADD', wk, now, me)
    redis.call('EXPIRE', wk, math.ceil(tonumber(ARGV[7])) + 60)
    return '0.05'
  end
end
local nxt = tonumber(redis.call('GET', nk) or '0')
if nxt > now then return tostring(nxt - now) end
redis.call('ZADD', hk, now + hold, ARGV[3])
redis.call('EXPIRE', hk, math.ceil(hold) + 60)
if delay > 0 then
  redis.call('SET', nk, tostring(now + delay), 'PX', math.ceil(delay * 1000) + 1000)
end
return '0'
"""
POLL_CAP = 1.0  # seconds: longest single wait before asking again
IDLE_SECONDS = 0.1  # a slot given back waits this long for this worker's next request
# A slot taken from Redis is reused by its worker for this long at most, then given back
# and asked for again: so another worker that wants the host gets its share within ~1 s.
REUSE_SECONDS = 1.0
WANT_SECONDS = 1.0  # a worker refused a slot counts as wanting the host this long


class HostLimitMiddleware:
    """Downloader middleware (placed last, next to the downloader)."""

    def __init__(self, frontier: RedisFrontier, worker_id: str, stats: StatsCollector, *,
                 concurrency: int, delay: float, hold_seconds: float,
                 download_timeout: float = 30.0, local_limit: int = 0,
                 flush_soon: Callable[[], None] | None = None) -> None:
        self.frontier = frontier
        self.flush_soon = flush_soon or frontier.flush
        self.worker_id = worker_id
        self.stats = stats
        self.concurrency = concurrency
        self.delay = delay
        self.hold_seconds = hold_seconds
        self._acquire = frontier.client.register_script(_ACQUIRE)
        # id(request) -> (host, holder, when the slot was taken from Redis)
        self._held: dict[int, tuple[str, str, float]] = {}
        # host -> slots given back, kept for reuse: (holder, taken, given back)
        self._idle: dict[str, list[tuple[str, float, float]]] = {}
        self._sweep: Any = None
        self._ids = itertools.count(1)
        self._locks: dict[str, DeferredLock] = {}
        # Slots of each host this worker holds in Redis (downloading or idle), at most
        # local_limit (0: no cap), and the request waiting for one, woken by a give-back.
        self.local_limit = local_limit
        self._holding: dict[str, int] = {}
        self._waiter: dict[str, Deferred[None]] = {}
        # A slot is reused only while its Redis deadline is a whole download away, and
        # for REUSE_SECONDS at most (then the fair share across workers decides again).
        self.reuse_within = min(REUSE_SECONDS, max(0.0, hold_seconds - download_timeout))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostLimitMiddleware:
        s = crawler.settings
        context = worker_context(crawler)
        assert crawler.stats is not None
        return cls(context.frontier, context.worker_id, crawler.stats,
                   concurrency=s.getint("TRAWL_HOST_CONCURRENCY"),
                   delay=s.getfloat("TRAWL_HOST_DELAY"),
                   hold_seconds=s.getfloat("DOWNLOAD_TIMEOUT") + 30.0,
                   download_timeout=s.getfloat("DOWNLOAD_TIMEOUT"),
                   local_limit=s.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
                   flush_soon=context.flush_soon)

    async def process_request(self, request: Request) -> None:
        if self.concurrency <= 0 and self.delay <= 0:
            return
        host = (urlsplit(request.url).netloc or "").lower()
        if self._take_idle(host, request):
            return
        holder = f"{self.worker_id}/{next(self._ids)}"
        waited = 0.0
        # Requests for one host queue here, in this process: only the first asks Redis,
        # so a busy host costs one poll per interval per worker, not one per request.
        lock = self._locks.setdefault(host, DeferredLock())
        await maybe_deferred_to_future(lock.acquire())
        try:
            while True:
                if self._take_idle(host, request):
                    return
                if self.local_limit and self._holding.get(host, 0) >= self.local_limit:
                    wait = POLL_CAP  # this worker downloads all it may: wait for its own
                else:
                    # One round trip with whatever this worker deferred (slots given back,
                    # requests to queue), on the frontier's round-trip thread: the reactor
                    # goes on meanwhile.
                    (answer,) = await maybe_deferred_to_future(self.frontier.call_async((
                        self._acquire, (self.frontier.prefix, host, holder, self.concurrency,
                                        self.delay, self.hold_seconds, WANT_SECONDS))))
                    wait = float(answer)
                    if wait <= 0:
                        break
                wait = min(wait, POLL_CAP)
                waited += wait
                await maybe_deferred_to_future(self._sleep(host, wait))
        finally:
            lock.release()
            if not lock.locked and not lock.waiting:
                self._locks.pop(host, None)
        if waited:
            self.stats.inc_value("trawl/politeness/waits")
        self._held[id(request)] = (host, holder, time.monotonic())
        self._holding[host] = self._holding.get(host, 0) + 1

    def _sleep(self, host: str, seconds: float) -> Deferred[None]:
        """Wait `seconds`, or less if this worker gives back a slot of `host` meanwhile."""
        d: Deferred[None] = Deferred()
        call = cast(Any, reactor).callLater(seconds, self._wake, host, d)
        d.addBoth(lambda result: (call.cancel() if call.active() else None, result)[1])
        self._waiter[host] = d
        return d

    def _wake(self, host: str, d: Deferred[None] | None = None) -> None:
        """Wake the request waiting for a slot of `host` (only `d` when given)."""
        waiter = self._waiter.get(host)
        if waiter is not None and (d is None or waiter is d):
            del self._waiter[host]
            waiter.callback(None)

    def _take_idle(self, host: str, request: Request) -> bool:
        """Give the request a slot this worker just gave back: no round trip."""
        idle = self._idle.get(host)
        while idle:
            holder, taken, _given = idle.pop()
            if time.monotonic() - taken < self.reuse_within:
                self._held[id(request)] = (host, holder, taken)
                return True
            self._release(host, holder)
        return False

    def process_response(self, request: Request, response: Response) -> Response:
        self._give_back(request)
        return response

    def process_exception(self, request: Request, exception: BaseException) -> Any:
        self._give_back(request)
        return None

    def _give_back(self, request: Request) -> None:
        held = self._held.pop(id(request), None)
        if held is None:
            return
        host, holder, taken = held
        now = time.monotonic()
        if self.delay <= 0 and now - taken < self.reuse_within:
            self._idle.setdefault(host, []).append((holder, taken, now))
            if self._sweep is None or not self._sweep.active():
                self._sweep = cast(Any, reactor).callLater(IDLE_SECONDS, self.sweep)
        else:
            self._release(host, holder)
        self._wake(host)

    def _release(self, host: str, holder: str) -> None:
        """Give the slot back in Redis with the next round trip (within FLUSH_SOON_SECONDS)."""
        left = self._holding.get(host, 0) - 1
        if left > 0:
            self._holding[host] = left
        else:
            self._holding.pop(host, None)
        self.frontier.defer("ZREM", self.frontier.key("host", host), holder)
        self.flush_soon()

    def sweep(self) -> None:
        """Give back the slots idle for IDLE_SECONDS."""
        now = time.monotonic()
        for host, idle in list(self._idle.items()):
            keep = []
            for slot in idle:
                if now - slot[2] < IDLE_SECONDS:
                    keep.append(slot)
                else:
                    self._release(host, slot[0])
            if keep:
                self._idle[host] = keep
            else:
                del self._idle[host]
        if self._idle:
            self._sweep = cast(Any, reactor).callLater(IDLE_SECONDS, self.sweep)
