"""The shared crawl frontier in Redis: per-crawl queues, admission, leases and crawl ends.

Every change is one Lua script, so it is atomic however many workers run:

- admission (`push`): a request of a crawl still running is queued unless its crawl has
  seen it (pages and images by kind and URL), it falls in a trap (too many query variants
  of one path) or its seed's page limit is reached; checking and queueing are one step,
  so a worker dying between them loses nothing;
- `pop` takes the best request of the next running crawl (round robin over crawls) and
  leases it: it moves into the worker's lease set with a deadline and the crawl's
  in-flight count goes up;
- `ack` ends a lease once the request's results are committed to the database, and the
  crawl with it if that was its last lease and nothing is queued;
- `reap` puts back the leases of workers whose heartbeat key expired, and leases past
  their deadline;
- `finish_if_done` ends a crawl whose queue is empty and which no worker holds a lease
  of; `expire` ends one whose time budget is spent.

Times come from the Redis server's clock (TIME), so workers' clocks need not agree.
Keys (prefix P): P:crawls (running crawl ids), P:crawl:<id> (its plans, budget, state),
P:queue:<id>, P:seen:<id>, P:pages:<id>, P:variants:<id>, P:inflight:<id>, P:workers,
P:alive:<worker>, P:leases:<worker>.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred, fail, succeed

from crawler.engine.scope import SeedPlan

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

DEFAULT_PREFIX = "trawl"
RUNNING, FINISHED, TIMEOUT, CANCELLED = "running", "finished", "timeout", "cancelled"
ENDED_KEY_TTL = 24 * 3600  # seconds the seen-sets etc. of an ended crawl are kept

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# ARGV: prefix, crawl, key ('' = no dedupe), score, data, seed, max_pages, variant,
# max_variants, worker, lease member ('' = none): the lease (of a request this one
# redirects or retries) ends in the same step, whatever the admission says.
_PUSH = """
local P, c = ARGV[1], ARGV[2]
if ARGV[11] ~= '' and redis.call('ZREM', P..':leases:'..ARGV[10], ARGV[11]) == 1 then
  redis.call('DECR', P..':inflight:'..string.match(ARGV[11], '^(%d+)|'))
end
if redis.call('SISMEMBER', P..':crawls', c) == 0 then return 'ended' end
local key = ARGV[3]
if key ~= '' then
  if redis.call('SISMEMBER', P..':seen:'..c, key) == 1 then return 'seen' end
  local variant = ARGV[8]
  if variant ~= '' then
    local n = tonumber(redis.call('HGET', P..':variants:'..c, variant) or '0')
    if n >= tonumber(ARGV[9]) then return 'trap' end
    redis.call('HINCRBY', P..':variants:'..c, variant, 1)
  end
  if ARGV[7] ~= '' then
    local n = tonumber(redis.call('HGET', P..':pages:'..c, ARGV[6]) or '0')
    if n >= tonumber(ARGV[7]) then return 'page_limit' end
    redis.call('HINCRBY', P..':pages:'..c, ARGV[6], 1)
  end
  redis.call('SADD', P..':seen:'..c, key)
end
redis.call('ZADD', P..':queue:'..c, ARGV[4], ARGV[5])
return 'ok'
"""

# ARGV: prefix, worker, lease seconds, most requests to lease; returns the leased members
# (round robin over the running crawls, one request per crawl per turn)
_POP = _NOW + """
local P, w = ARGV[1], ARGV[2]
local crawls = redis.call('SMEMBERS', P..':crawls')
local n = #crawls
local out = {}
if n == 0 then return out end
table.sort(crawls)
local deadline = now + tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local start = redis.call('INCR', P..':rr') % n
local empty = 0
local i = 0
while #out < want and empty < n do
  local c = crawls[((start + i) % n) + 1]
  i = i + 1
  local got = redis.call('ZPOPMIN', P..':queue:'..c)
  if #got > 0 then
    local member = c..'|'..got[2]..'|'..got[1]
    redis.call('ZADD', P..':leases:'..w, deadline, member)
    redis.call('INCR', P..':inflight:'..c)
    out[#out + 1] = member
    empty = 0
  else
    empty = empty + 1
  end
end
return out
"""

# ARGV: prefix, crawl, state, ttl: ends the crawl (if running) when `state` is 'finished'
# and nothing is queued or leased, when 'timeout' and its deadline passed, or always for
# 'cancelled'. Returns 1 to the one caller that ended it.
_END_CRAWL = """
local function end_crawl(P, c, state, ttl)
  if redis.call('SISMEMBER', P..':crawls', c) == 0 then return 0 end
  local ck = P..':crawl:'..c
  if state == 'finished' then
    if redis.call('ZCARD', P..':queue:'..c) > 0 then return 0 end
    if tonumber(redis.call('GET', P..':inflight:'..c) or '0') > 0 then return 0 end
  elseif state == 'timeout' then
    local deadline = tonumber(redis.call('HGET', ck, 'deadline') or '')
    if deadline == nil or now < deadline then return 0 end
  end
  redis.call('SREM', P..':crawls', c)
  redis.call('HSET', ck, 'state', state, 'ended', tostring(now))
  redis.call('DEL', P..':queue:'..c)
  for _, k in ipairs({'seen', 'pages', 'variants', 'inflight'}) do
    redis.call('EXPIRE', P..':'..k..':'..c, ttl)
  end
  redis.call('EXPIRE', ck, ttl)
  return 1
end
"""

# ARGV: prefix, worker, ttl, member...; returns {leases ended, crawls ended...}: a crawl
# whose last lease this was, with nothing queued, ends in the same step (the caller
# records its end), not at the next housekeeping tick.
_ACK = _NOW + _END_CRAWL + """
local P, w = ARGV[1], ARGV[2]
local done = 0
local touched = {}
for i = 4, #ARGV do
  if redis.call('ZREM', P..':leases:'..w, ARGV[i]) == 1 then
    local c = string.match(ARGV[i], '^(%d+)|')
    redis.call('DECR', P..':inflight:'..c)
    touched[c] = true
    done = done + 1
  end
end
local out = {done}
for c, _ in pairs(touched) do
  if end_crawl(P, c, 'finished', tonumber(ARGV[3])) == 1 then out[#out + 1] = tonumber(c) end
end
return out
"""

# ARGV: prefix, only_worker ('' = every worker)
_REAP = _NOW + """
local P = ARGV[1]
local workers = redis.call('SMEMBERS', P..':workers')
if ARGV[2] ~= '' then workers = {ARGV[2]} end
local moved = 0
for _, w in ipairs(workers) do
  local lk = P..':leases:'..w
  local dead = ARGV[2] ~= '' or redis.call('EXISTS', P..':alive:'..w) == 0
  local members
  if dead then members = redis.call('ZRANGE', lk, 0, -1)
  else members = redis.call('ZRANGEBYSCORE', lk, '-inf', now) end
  for _, m in ipairs(members) do
    local c, score, data = string.match(m, '^(%d+)|([^|]*)|(.*)$')
    redis.call('ZREM', lk, m)
    redis.call('DECR', P..':inflight:'..c)
    if redis.call('SISMEMBER', P..':crawls', c) == 1 then
      redis.call('ZADD', P..':queue:'..c, score, data)
    end
    moved = moved + 1
  end
  if dead then
    redis.call('SREM', P..':workers', w)
    redis.call('DEL', lk)
  end
end
return moved
"""

# ARGV: prefix, crawl, state, ttl (see end_crawl)
_END = _NOW + _END_CRAWL + """
return end_crawl(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
"""

# ARGV: prefix, crawl, plans json, deadline seconds from now ('' = none), max image size,
# allowed addresses json
_START = _NOW + """
local P, c = ARGV[1], ARGV[2]
local deadline = ''
if ARGV[4] ~= '' then deadline = tostring(now + tonumber(ARGV[4])) end
redis.call('HSET', P..':crawl:'..c, 'plans', ARGV[3], 'deadline', deadline,
           'max_image_size', ARGV[5], 'allow_addresses', ARGV[6], 'state', 'running',
           'started', tostring(now))
redis.call('INCR', P..':inflight:'..c)  -- held until its seeds are queued (`seeded`)
redis.call('SADD', P..':crawls', c)
return 1
"""


_Deferred = tuple["Script | None", tuple[Any, ...], Callable[[Any], None] | None]
# Work for the round-trip thread: what to run (a round trip), and what to do with its
# result or error.
_Job = tuple[Callable[[], Any], Callable[[Any, "BaseException | None"], None]]


@dataclass(frozen=True)
class Lease:
    """A request a worker holds: `member` identifies it in Redis; `data` is the encoded
    request; `score` its queue score (minus its priority)."""

    crawl_id: int
    score: str
    data: bytes
    member: bytes

    @classmethod
    def parse(cls, member: bytes) -> Lease:
        crawl, score, data = member.split(b"|", 2)
        return cls(int(crawl), score.decode(), data, member)


@dataclass(frozen=True)
class Acked:
    """What an ack did: leases it ended, and the crawls it ended (their last lease)."""

    released: int
    ended: tuple[int, ...]

    @classmethod
    def parse(cls, answer: Sequence[Any]) -> Acked:
        released, *ended = answer
        return cls(int(released), tuple(int(c) for c in ended))


@dataclass(frozen=True)
class CrawlConfig:
    """What a worker needs to know about a crawl: its seeds' plans, image size cap, and
    the internal addresses its operator allowed it to reach (--allow-address, as CIDR)."""

    crawl_id: int
    plans: tuple[SeedPlan, ...]
    max_image_size: int | None
    state: str
    allow_addresses: tuple[str, ...] = ()


class RedisFrontier:
    """The frontier's operations for one Redis server and key prefix.

    A worker sends most of its commands in few round trips: pushes and other commands
    whose answer it need not wait for are deferred (`defer_push`, `defer`) and go out
    with the next round trip it makes anyway (a pop, an ack, a host slot: `call`), or
    with `flush`. Deferred commands always reach Redis before the commands of the round
    trip that carries them, so a lease is never acked before the requests its response
    led to are queued.

    A worker's reactor does not wait for those round trips: `start_thread` gives the
    frontier a round-trip thread with a connection of its own, and `call_async` hands a
    round trip to it and returns a Deferred fired on the reactor thread with the answers
    (the deferred commands' callbacks run there too). Every round trip, `call` as well
    (which then waits for it), goes through that one thread in the order it was asked
    for, so the order above holds across both; deferred commands whose round trip
    failed go first in the thread's next one. Without the thread (tests, `trawl crawl
    --distributed`), `call_async` makes the round trip at once and returns a fired
    Deferred."""

    def __init__(self, client: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        # (script or None for a plain command, arguments, callback for the answer)
        self._pending: list[_Deferred] = []
        # Deferred commands of a round trip that failed: they go first in the next one
        # (only the round-trip thread touches this while it runs).
        self._carry: list[_Deferred] = []
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._push = client.register_script(_PUSH)
        self._pop = client.register_script(_POP)
        self._ack = client.register_script(_ACK)
        self._reap = client.register_script(_REAP)
        self._end = client.register_script(_END)
        self._start = client.register_script(_START)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisFrontier:
        import redis

        return cls(redis.Redis.from_url(url), prefix)

    def key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    # --- crawls ---------------------------------------------------------------------
    def start_crawl(
        self, crawl_id: int, plans: Sequence[SeedPlan], *, time_budget: float | None,
        max_image_size: int | None, allow_addresses: Sequence[str] = (),
    ) -> None:
        """Make the crawl's plans known and its queue open for admission; it cannot end
        before `seeded` is called. `allow_addresses` travel with the crawl: every worker
        lets this crawl's requests reach them (as `trawl crawl --allow-address` does)."""
        self._start(args=[
            self.prefix, crawl_id, json.dumps([asdict(p) for p in plans]),
            "" if time_budget is None else repr(float(time_budget)),
            "" if max_image_size is None else int(max_image_size),
            json.dumps([str(a) for a in allow_addresses]),
        ])

    def seeded(self, crawl_id: int) -> None:
        """The crawl's seeds are queued: it may now end when its frontier runs dry."""
        self.client.decr(self.key("inflight", crawl_id))

    def crawl_config(self, crawl_id: int) -> CrawlConfig | None:
        raw = self.client.hgetall(self.key("crawl", crawl_id))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        plans = tuple(SeedPlan(**p) for p in json.loads(fields.get("plans", "[]")))
        size = fields.get("max_image_size") or None
        allowed = tuple(str(a) for a in json.loads(fields.get("allow_addresses") or "[]"))
        return CrawlConfig(crawl_id, plans, int(size) if size else None,
                           fields.get("state", RUNNING), allowed)

    def running_crawls(self) -> list[int]:
        return sorted(int(c) for c in self.client.smembers(self.key("crawls")))

    def state(self, crawl_id: int) -> str | None:
        value = self.client.hget(self.key("crawl", crawl_id), "state")
        return _text(value) if value is not None else None

    def finish_if_done(self, crawl_id: int) -> bool:
        """End the crawl if nothing is queued or leased; True for the caller that ended it."""
        return bool(self._end(args=[self.prefix, crawl_id, FINISHED, ENDED_KEY_TTL]))

    def expire(self, crawl_id: int) -> bool:
        """End the crawl if its time budget is spent; True for the caller that ended it."""
        return bool(self._end(args=[self.prefix, crawl_id, TIMEOUT, ENDED_KEY_TTL]))

    def cancel(self, crawl_id: int) -> bool:
        """End the crawl now (its row was marked failed); True if it was running."""
        return bool(self._end(args=[self.prefix, crawl_id, CANCELLED, ENDED_KEY_TTL]))

    def counts(self, crawl_id: int) -> tuple[int, int]:
        """(requests queued, requests leased) of a crawl."""
        queued = int(self.client.zcard(self.key("queue", crawl_id)))
        inflight = int(self.client.get(self.key("inflight", crawl_id)) or 0)
        return queued, inflight

    # --- requests -------------------------------------------------------------------
    def push(
        self, crawl_id: int, data: bytes, *, score: float | str, key: str = "",
        seed: int = 0, max_pages: int | None = None, variant: str = "",
        max_variants: int = 0, ending: tuple[str, bytes] | None = None,
    ) -> str:
        """Admit one encoded request; returns 'ok' or why not: seen, trap, page_limit,
        ended (its crawl is no longer running). An empty `key` skips the seen check
        (a retry of a leased request, or an image's redirect). `ending` (worker, lease
        member): the lease of the request this one follows from ends in the same atomic
        step, so a worker dying in between neither loses the request nor fetches it
        twice."""
        worker, member = ending or ("", b"")
        result = self._push(args=[
            self.prefix, crawl_id, key, score, data, seed,
            "" if max_pages is None else max_pages, variant, max_variants, worker, member,
        ])
        return result.decode() if isinstance(result, bytes) else str(result)

    def defer_push(self, crawl_id: int, data: bytes, *, score: float | str, key: str = "",
                   seed: int = 0, max_pages: int | None = None, variant: str = "",
                   max_variants: int = 0, ending: tuple[str, bytes] | None = None,
                   then: Callable[[str], None] | None = None) -> None:
        """`push`, sent with the next round trip; `then` gets its answer."""
        worker, member = ending or ("", b"")
        args = (self.prefix, crawl_id, key, score, data, seed,
                "" if max_pages is None else max_pages, variant, max_variants, worker, member)
        self._pending.append((self._push, args,
                              None if then is None else lambda r: then(_text(r))))

    def defer(self, *command: Any) -> None:
        """A command whose answer nobody waits for, sent with the next round trip."""
        self._pending.append((None, command, None))

    @property
    def deferred(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Send the deferred commands now."""
        self.call()

    def flush_async(self) -> Deferred[list[Any]]:
        """Send the deferred commands with a round trip of their own, without waiting."""
        return self.call_async()

    def call(self, *calls: tuple[Script, Sequence[Any]]) -> list[Any]:
        """The deferred commands, then these script calls, in one round trip; returns the
        calls' answers (waits for the round-trip thread, with one). If the round trip
        fails, the deferred commands go with the next one."""
        batch = self._take(calls)
        if batch is None:
            return []
        if self._thread is None:
            return self._answers(*self._run(*batch))
        done: Future[tuple[list[_Deferred], list[Any], int]] = Future()

        def finished(result: Any, error: BaseException | None) -> None:
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)

        self._jobs.put((lambda: self._run(*batch), finished))
        return self._answers(*done.result())

    def call_async(self, *calls: tuple[Script, Sequence[Any]]) -> Deferred[list[Any]]:
        """`call` on the round-trip thread: the Deferred fires on the reactor thread with
        the calls' answers (or the round trip's failure). At once without the thread."""
        if self._thread is None:
            try:
                return succeed(self.call(*calls))
            except Exception:
                return fail()
        batch = self._take(calls)
        if batch is None:
            return succeed([])
        d: Deferred[list[Any]] = Deferred()
        from twisted.internet import reactor

        def answer(result: Any, error: BaseException | None) -> None:
            if error is not None:
                d.errback(error)
                return
            try:
                answers = self._answers(*result)
            except Exception:
                d.errback()
            else:
                d.callback(answers)

        def finished(result: Any, error: BaseException | None) -> None:
            cast(Any, reactor).callFromThread(answer, result, error)

        self._jobs.put((lambda: self._run(*batch), finished))
        return d

    def run_async(self, f: Callable[[], Any]) -> Deferred[Any]:
        """Run `f` (round trips of its own, on the frontier's client) on the round-trip
        thread, after the round trips asked for before; the Deferred fires on the reactor
        thread with its result. At once without the thread."""
        if self._thread is None:
            try:
                return succeed(f())
            except Exception:
                return fail()
        d: Deferred[Any] = Deferred()
        from twisted.internet import reactor

        def finished(result: Any, error: BaseException | None) -> None:
            if error is None:
                cast(Any, reactor).callFromThread(d.callback, result)
            else:
                cast(Any, reactor).callFromThread(d.errback, error)

        self._jobs.put((f, finished))
        return d

    def _take(self, calls: Sequence[tuple[Script, Sequence[Any]]]
              ) -> tuple[list[_Deferred], list[_Deferred]] | None:
        """The deferred commands (now out of `_pending`) and the calls of a round trip;
        None when there is nothing to send."""
        deferred, self._pending = self._pending, []
        batch: list[_Deferred] = [(script, tuple(args), None) for script, args in calls]
        if not deferred and not batch and not self._carry:
            return None
        return deferred, batch

    def _run(self, deferred: list[_Deferred], calls: list[_Deferred]
             ) -> tuple[list[_Deferred], list[Any], int]:
        """One round trip (on the round-trip thread, with one): the commands carried over
        from a failed round trip, the deferred commands, the calls."""
        batch = [*self._carry, *deferred, *calls]
        self._carry = []
        try:
            results = self._send(batch)
        except Exception:
            self._carry = batch[:len(batch) - len(calls)]
            raise
        return batch, results, len(calls)

    @staticmethod
    def _answers(batch: list[_Deferred], results: list[Any], ncalls: int) -> list[Any]:
        """Run the deferred commands' callbacks; the calls' answers, or raise."""
        failure: Exception | None = None
        for (_script, _args, then), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                failure = failure or result
            elif then is not None:
                then(result)
        answers = results[len(results) - ncalls:] if ncalls else []
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        if failure is not None:
            raise failure  # a deferred command failed: say so (the caller logs it)
        return answers

    # --- the round-trip thread ------------------------------------------------------
    def start_thread(self) -> None:
        """Make round trips on a thread of their own from now on (see the class)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="trawl-redis",
                                            daemon=True)
            self._thread.start()

    @property
    def threaded(self) -> bool:
        return self._thread is not None

    def stop_thread(self, timeout: float = 10.0) -> None:
        """The round trips asked for so far are made; later ones are made by the caller."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join(timeout)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            f, finished = job
            try:
                result = f()
            except BaseException as error:  # handed to the caller
                finished(None, error)
            else:
                finished(result, None)

    def _send(self, batch: Sequence[_Deferred]) -> list[Any]:
        from redis.exceptions import NoScriptError

        def run(items: Sequence[_Deferred]) -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for script, args, _then in items:
                if script is None:
                    pipe.execute_command(*args)
                else:
                    pipe.execute_command("EVALSHA", script.sha, 0, *args)
            return list(pipe.execute(raise_on_error=False))

        results = run(batch)
        # Scripts the server does not know (it restarted): load them, run those again.
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            for script in {batch[i][0] for i in missing}:
                assert script is not None
                script.sha = self.client.script_load(script.script)
            for i, result in zip(missing, run([batch[i] for i in missing]), strict=True):
                results[i] = result
        return results

    def pop(self, worker: str, lease_seconds: float) -> Lease | None:
        leases = self.pop_many(worker, lease_seconds, 1)
        return leases[0] if leases else None

    def pop_many(self, worker: str, lease_seconds: float, most: int) -> list[Lease]:
        """Lease up to `most` requests (the deferred commands go first)."""
        (members,) = self.call((self._pop, (self.prefix, worker, lease_seconds, most)))
        return [Lease.parse(member) for member in members or ()]

    def pop_many_async(self, worker: str, lease_seconds: float, most: int
                       ) -> Deferred[list[Lease]]:
        """`pop_many` on the round-trip thread."""
        d = self.call_async((self._pop, (self.prefix, worker, lease_seconds, most)))
        return d.addCallback(lambda answers: [Lease.parse(m) for m in answers[0] or ()])

    def ack(self, worker: str, members: Iterable[bytes]) -> Acked:
        """End leases whose results are committed (the deferred commands go first: the
        requests their responses led to are queued before). `released` counts the leases
        still held (a lease reaped meanwhile counts 0: its request is being crawled
        again); `ended`: the crawls this ack ended (nothing queued, no lease left), whose
        end the caller records (WorkerExtension.record_end)."""
        batch = list(members)
        if not batch:
            self.flush()
            return Acked(0, ())
        (answer,) = self.call((self._ack, (self.prefix, worker, ENDED_KEY_TTL, *batch)))
        return Acked.parse(answer)

    def ack_async(self, worker: str, members: Iterable[bytes]) -> Deferred[Acked]:
        """`ack` on the round-trip thread."""
        batch = list(members)
        if not batch:
            return self.flush_async().addCallback(lambda _: Acked(0, ()))
        d = self.call_async((self._ack, (self.prefix, worker, ENDED_KEY_TTL, *batch)))
        return d.addCallback(lambda answers: Acked.parse(answers[0]))

    # --- workers --------------------------------------------------------------------
    def beat(self, worker: str, ttl: float) -> None:
        """The worker is alive for `ttl` more seconds."""
        pipe = self.client.pipeline()
        pipe.sadd(self.key("workers"), worker)
        pipe.set(self.key("alive", worker), "1", px=max(1, int(ttl * 1000)))
        pipe.execute()

    def reap(self) -> int:
        """Re-queue the leases of dead workers and leases past their deadline."""
        return int(self._reap(args=[self.prefix, ""]))

    def release(self, worker: str) -> int:
        """Re-queue every lease of `worker` (it is stopping) and forget it."""
        (moved,) = self.call((self._reap, (self.prefix, worker)))
        moved = int(moved)
        self.client.delete(self.key("alive", worker))
        return moved

    def leases_of(self, worker: str) -> int:
        return int(self.client.zcard(self.key("leases", worker)))

    def live_workers(self) -> list[str]:
        workers = sorted(_text(w) for w in self.client.smembers(self.key("workers")))
        return [w for w in workers if self.client.exists(self.key("alive", w))]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_display_url(url: str) -> str:
    """The Redis URL without its password, as crawl and worker rows show it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
