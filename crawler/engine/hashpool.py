"""Run hash_image, and the match, away from Scrapy's reactor: worker processes on pipes
(default), threads, inline.

Worker protocol (stdin/stdout of `python3 -m crawler.engine.hashpool`): request frames
`>QI` (job id, length) + image bytes; reply frames `>QI` (job id, length) + JSON
{"c": cache hit, "r": {"d": the Digests, "m": the matches or null}}, after one empty reply
with job id 0 that says the worker is ready. Nothing but these frames crosses the pipes and
nothing is written anywhere. What a worker does besides hashing comes from the environment
variable TRAWL_HASH_WORKER (JSON, see WorkerConfig): the path of the saved matcher file to
match with (memory-mapped read-only, so N workers share one copy through the page cache)
and the size of its LRU of results by sha256.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import struct
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import ProcessProtocol

from matchers.digests import Digests, DigestStatus

if TYPE_CHECKING:
    from crawler.index_cache import SavedMatcher
    from matchers.decision import Matcher
    from matchers.match import Match

logger = logging.getLogger(__name__)

POOL_KINDS = ("process", "thread", "inline")
FRAME = struct.Struct(">QI")
READY_ID = 0  # a worker's first reply, empty: imports done, ready to hash (jobs count from 1)
MAX_RESTARTS = 20  # worker crashes tolerated per crawl before hashing gives up
PIPE_SIZE = 4 * 1024 * 1024  # bytes; capped by /proc/sys/fs/pipe-max-size
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# Numeric libraries single-threaded: on 2 cores a multi-threaded BLAS in hash_image spins
# against the crawl itself (measured: 2.5 ms per photo single-threaded, 60 ms with 2 threads).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CONFIG_ENV = "TRAWL_HASH_WORKER"  # the WorkerConfig of a worker process, as JSON


class Analysis(NamedTuple):
    """What the pool found for one image: its digests, its matches (None when it was not
    matched: no matcher file, or a worker that could not use it; the caller matches then),
    and whether identical bytes had been analysed before (an LRU hit, nothing recomputed)."""

    digests: Digests
    matches: list[Match] | None
    cached: bool = False


@dataclass(frozen=True)
class WorkerConfig:
    """What hashing workers do besides hash_image: match against the saved matcher file at
    `matcher_path` (when its stamp is `stamp`) with these thresholds, and keep the last
    `cache_size` results by sha256 (identical bytes under many URLs are analysed once)."""

    matcher_path: str | None = None
    stamp: str | None = None
    thresholds: dict[str, int] = field(default_factory=dict)
    dihedral: bool = True
    cache_size: int = 0

    @classmethod
    def for_matcher(cls, matcher: Matcher | SavedMatcher | None,
                    cache_size: int = 0) -> WorkerConfig:
        path = getattr(matcher, "path", None) if matcher is not None else None
        if matcher is None or path is None:
            return cls(cache_size=cache_size)
        return cls(str(path), matcher.stamp, dict(matcher.thresholds), matcher.dihedral,
                   cache_size)




def crypto_only(data: bytes, error: str, status: DigestStatus = "undecodable") -> Digests:
    """Digests of bytes that could not be hashed perceptually (a worker crashed on them, or
    ran out of time: status 'timeout')."""
    return Digests(
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        status=status,
        error=error,
    )


def _hash(data: bytes, max_pixels: int | None, sha256: bytes | None = None) -> Digests:
    from matchers.hashing import hash_image

    if max_pixels is None:
        return hash_image(data, sha256=sha256)
    return hash_image(data, max_pixels=max_pixels, sha256=sha256)


def match_to_dict(match: Match) -> dict[str, Any]:
    return asdict(match)


def match_from_dict(values: Mapping[str, Any]) -> Match:
    from matchers.match import Match

    given = dict(values)
    given["corroborated_by"] = tuple(given.get("corroborated_by", ()))
    return Match(**given)


class _Analyser:
    """hash_image, then the match, with an LRU of results keyed by sha256: a worker's (or
    the thread/inline pools') work per image. Thread-safe (the thread pool shares one)."""

    def __init__(self, max_pixels: int | None, matcher: Matcher | None, cache_size: int) -> None:
        self.max_pixels = max_pixels
        self.matcher = matcher
        self.cache_size = max(0, cache_size)
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def _lookup(self, key: bytes | None) -> Any:
        if key is None:
            return None
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def _keep(self, key: bytes | None, value: Any) -> None:
        if key is None:
            return
        with self._lock:
            self._cache[key] = value
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _compute(self, data: bytes,
                 sha256: bytes | None = None) -> tuple[Digests, list[Match] | None]:
        try:
            digests = _hash(data, self.max_pixels, sha256)
        except Exception as exc:  # hash_image must not raise; record rather than die
            digests = crypto_only(data, f"hashing failed: {type(exc).__name__}")
        if self.matcher is None:
            return digests, None
        try:
            return digests, self.matcher.match(digests)
        except Exception as exc:  # left to the caller, whose match will say what is wrong
            logger.warning("Matching failed in the hash pool (%s); the caller matches",
                           type(exc).__name__)
            return digests, None

    def analyse(self, data: bytes) -> Analysis:
        key = hashlib.sha256(data).digest() if self.cache_size else None
        found = self._lookup(key)
        if found is not None:
            return Analysis(found[0], found[1], True)
        digests, matches = self._compute(data, key)
        self._keep(key, (digests, matches))
        return Analysis(digests, matches)

    def reply(self, data: bytes) -> bytes:
        """The encoded reply for a worker's frame (cached encoded: ~1 KB an entry)."""
        key = hashlib.sha256(data).digest() if self.cache_size else None
        found: bytes | None = self._lookup(key)
        if found is not None:
            return b'{"c":1,"r":' + found + b"}"
        digests, matches = self._compute(data, key)
        body = json.dumps({
            "d": digests.as_dict(dihedral=True),
            "m": None if matches is None else [match_to_dict(m) for m in matches],
        }, separators=(",", ":")).encode()
        self._keep(key, body)
        return b'{"c":0,"r":' + body + b"}"


def decode_reply(payload: bytes) -> Analysis:
    reply = json.loads(payload)
    body = reply["r"]
    found = body["m"]
    return Analysis(
        Digests.from_dict(body["d"]),
        None if found is None else [match_from_dict(m) for m in found],
        bool(reply["c"]),
    )


def _worker_matcher(config: WorkerConfig) -> Matcher | None:
    """The matcher a worker matches with, or None (then the crawl process matches)."""
    if config.matcher_path is None:
        return None
    from matchers.decision import Matcher

    try:
        matcher = Matcher.load(Path(config.matcher_path), thresholds=config.thresholds,
                               dihedral=config.dihedral)
    except (OSError, ValueError) as exc:
        logger.warning("A hashing worker cannot match (%s); the crawl process will", exc)
        return None
    if matcher.stamp != config.stamp:  # the lists changed since the crawl started
        return None
    return matcher


class _Job:
    __slots__ = ("data", "deferred", "retried")

    def __init__(self, data: bytes, deferred: Deferred[Analysis]) -> None:
        self.data = data
        self.deferred = deferred
        self.retried = False


class _Worker(ProcessProtocol):
    """One hashing process; replies are matched to jobs by id (they arrive in order, so the
    oldest job sent is the one being hashed, and its time limit runs from then)."""

    def __init__(self, pool: HashPool) -> None:
        self.pool = pool
        self.jobs: dict[int, _Job] = {}
        self._order: deque[int] = deque()  # job ids in the order sent (= hashed)
        self._limit: Any = None  # the IDelayedCall that checks the head job's time limit
        self._head_since = 0.0  # reactor time at which the head job started being hashed
        self.timed_out: int | None = None  # the job it was killed for
        self.ready = False  # its imports are done (start-up time is not an image's)
        self._buffer = bytearray()
        self.ended = False

    def connectionMade(self) -> None:
        # A 64 KiB pipe takes a photo in three reactor turns, and the worker waits between
        # them while the reactor is busy; a pipe that holds several images never stalls it.
        stdin = cast(Any, self.transport).pipes.get(0)
        if stdin is not None:
            _grow_pipe(stdin.fileno())

    def send(self, job_id: int, job: _Job) -> None:
        self.jobs[job_id] = job
        self._order.append(job_id)
        transport: Any = self.transport  # zope interfaces confuse mypy's method binding
        transport.write(FRAME.pack(job_id, len(job.data)))
        transport.write(job.data)
        if len(self._order) == 1:
            self._arm()

    def _arm(self) -> None:
        """Start the time limit of the job now at the head (the one being hashed).

        One timer per worker, not one per image: it fires at the earliest moment any job
        can have run out, and re-arms itself for the head job's remaining time (a
        callLater and a cancel per image cost the reactor ~8 us, and the cancelled timers
        stay in asyncio's heap until they are due)."""
        if self.pool.timeout is None or not self._order or self.ended or not self.ready:
            return
        from twisted.internet import reactor

        self._head_since = cast(Any, reactor).seconds()
        if self._limit is None:
            self._limit = cast(Any, reactor).callLater(self.pool.timeout, self._overrun)

    def _disarm(self) -> None:
        if self._limit is not None and self._limit.active():
            self._limit.cancel()
        self._limit = None

    def _overrun(self) -> None:
        """If the head job took too long, kill this worker (the pool replaces it); the job
        is recorded as a timeout and the others waiting here go to another worker.
        Otherwise check again when the head job's time runs out."""
        self._limit = None
        if self.ended or not self._order or not self.ready or self.pool.timeout is None:
            return
        from twisted.internet import reactor

        left = self._head_since + self.pool.timeout - cast(Any, reactor).seconds()
        if left > 0:
            self._limit = cast(Any, reactor).callLater(left, self._overrun)
            return
        self.timed_out = self._order[0]
        try:
            cast(Any, self.transport).signalProcess("KILL")
        except Exception:  # already gone: processEnded does the rest
            logger.debug("hash worker already gone at its time limit")

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= FRAME.size:
            job_id, size = FRAME.unpack_from(self._buffer)
            if len(self._buffer) < FRAME.size + size:
                return
            payload = bytes(self._buffer[FRAME.size : FRAME.size + size])
            del self._buffer[: FRAME.size + size]
            if job_id == READY_ID:
                self.ready = True
                self._arm()
                continue
            job = self.jobs.pop(job_id, None)
            if self._order and self._order[0] == job_id:
                self._order.popleft()
                self._arm()  # the next job's time starts now (the timer stays armed)
            if job is not None:
                job.deferred.callback(decode_reply(payload))

    def processEnded(self, reason: Any) -> None:
        self.ended = True
        self._disarm()
        self.pool._worker_ended(self)


class HashPool:
    """hash_image(bytes) -> Digests, and the match, without blocking the reactor.

    `hash` gives the Digests; `analyse` the Digests and, when the pool was given a matcher,
    its matches, computed where the image was hashed (a worker matches with the saved
    matcher file, memory-mapped; a matcher built in memory only is used by the thread and
    inline pools, and otherwise left to the caller: Analysis.matches is None). Identical
    bytes are analysed once while in the LRU of `cache_size` results (per worker: an image
    goes to the worker chosen by its length, so identical bytes meet the same cache).

    Why processes on pipes by default: pdqhash's compute() holds the GIL, so threads still
    stall the reactor during PDQ; and a concurrent.futures process pool costs the reactor
    thread ~1 ms per image in GIL hand-offs with its feeder threads (measured), where
    reactor-managed pipes cost nothing but the write. A worker exits when its stdin closes,
    so a killed crawl leaves no process behind. A worker that dies mid-image is replaced and
    the image retried once; if it kills a worker again it gets crypto digests only.
    """

    def __init__(self, kind: str = "process", workers: int = 1, max_pixels: int | None = None,
                 timeout: float | None = None, *, matcher: Matcher | SavedMatcher | None = None,
                 cache_size: int = 0):
        if kind not in POOL_KINDS:
            raise ValueError(f"Unknown hash pool {kind!r}: use one of {', '.join(POOL_KINDS)}.")
        self.kind = kind
        self.workers = max(1, workers)
        self.max_pixels = max_pixels
        # Seconds one image may take in a worker process (None: no limit). Threads and
        # inline hashing cannot be stopped, so only the process pool enforces it.
        self.timeout = timeout if timeout and timeout > 0 else None
        self.config = WorkerConfig.for_matcher(matcher, cache_size)
        local: Matcher | None = None  # thread/inline: analysed here, with the matcher itself
        if kind != "process" and matcher is not None:
            from crawler.index_cache import SavedMatcher

            local = matcher.load() if isinstance(matcher, SavedMatcher) else matcher
        self._local = _Analyser(max_pixels, local, cache_size)
        self.restarts = 0
        self.timeouts = 0
        self._procs: list[_Worker] = []
        self._threads: ThreadPoolExecutor | None = None
        self._next_id = 0
        self._closing = False

    def start(self) -> None:
        if self.kind == "thread" and self._threads is None:
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="trawl-hash")
        elif self.kind == "process":
            while len(self._procs) < self.workers:
                self._spawn()

    def _spawn(self) -> None:
        from twisted.internet import reactor  # the installed one (asyncio), not a default

        worker = _Worker(self)
        args = [sys.executable, "-m", "crawler.engine.hashpool"]
        if self.max_pixels is not None:
            args.append(str(self.max_pixels))
        env = {**os.environ, **WORKER_ENV, "PYTHONPATH": _package_root(),
               CONFIG_ENV: json.dumps(asdict(self.config))}
        cast(Any, reactor).spawnProcess(
            worker, sys.executable, args, env=env, childFDs={0: "w", 1: "r", 2: 2}
        )
        self._procs.append(worker)

    def hash(self, data: bytes) -> Deferred[Digests]:
        """Fire with the image's Digests; never errbacks for bad image content."""
        return self.analyse(data).addCallback(lambda analysis: analysis.digests)

    def analyse(self, data: bytes) -> Deferred[Analysis]:
        """Fire with the image's Analysis; never errbacks for bad image content."""
        if self.kind == "inline":
            return succeed(self._local.analyse(data))
        self.start()
        deferred: Deferred[Analysis] = Deferred()
        if self.kind == "thread":
            assert self._threads is not None
            self._threads.submit(self._local.analyse, data).add_done_callback(
                lambda fut: _deliver_from_thread(fut, data, deferred)
            )
        else:
            self._dispatch(_Job(data, deferred))
        return deferred

    def _dispatch(self, job: _Job) -> None:
        live = [w for w in self._procs if not w.ended]
        if not live:
            digests = crypto_only(job.data, "no hashing worker could be started")
            job.deferred.callback(Analysis(digests, None))
            return
        self._next_id += 1
        # By length, not by load: identical bytes (same length) go to the same worker's LRU.
        live[len(job.data) % len(live)].send(self._next_id, job)

    def _worker_ended(self, worker: _Worker) -> None:
        self._procs.remove(worker)
        if self._closing and not worker.jobs:
            return
        overrun = worker.jobs.pop(worker.timed_out, None) if worker.timed_out else None
        if overrun is not None:
            # Killed on purpose: always replaced, never counted as a crash (a site serving
            # slow images must not use up the restarts and leave hashing to crypto only).
            self.timeouts += 1
            logger.warning("An image took more than %gs to hash; its worker was replaced",
                           self.timeout)
            if not self._closing:
                self._spawn()
            overrun.deferred.callback(Analysis(crypto_only(
                overrun.data, f"hashing took longer than {self.timeout:g}s (TRAWL_HASH_TIMEOUT)",
                status="timeout"), None))
        else:
            self.restarts += 1
            logger.warning("A hashing worker exited with %d images pending", len(worker.jobs))
            if self.restarts <= MAX_RESTARTS and not self._closing:
                self._spawn()
        for job in worker.jobs.values():  # waiting behind the one that ended the worker
            if overrun is None and (job.retried or self.restarts > MAX_RESTARTS):
                digests = crypto_only(job.data, "the hashing worker crashed on it")
                job.deferred.callback(Analysis(digests, None))
            else:
                job.retried = job.retried or overrun is None
                self._dispatch(job)
        worker.jobs.clear()

    def close(self) -> None:
        """Let workers finish and exit (their stdin closes); stop the thread pool."""
        self._closing = True
        for worker in self._procs:
            if worker.transport is not None and not worker.ended:
                cast(Any, worker.transport).closeStdin()
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None


def _deliver_from_thread(
    fut: Future[Analysis], data: bytes, deferred: Deferred[Analysis]
) -> None:
    from twisted.internet import reactor

    try:
        result = fut.result()
    except Exception as exc:  # hash_image must not raise; record rather than crash
        result = Analysis(crypto_only(data, f"hashing failed: {type(exc).__name__}"), None)
    reactor.callFromThread(deferred.callback, result)  # type: ignore[attr-defined]


def _grow_pipe(fd: int) -> None:
    try:
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        fcntl.fcntl(fd, F_SETPIPE_SZ, min(PIPE_SIZE, limit))
    except (OSError, ValueError):  # not Linux, or a lower limit: the default pipe works
        pass


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[1])
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def worker_main(argv: list[str]) -> int:
    """The worker process: frames in on stdin, frames out on stdout, until stdin closes."""
    max_pixels = int(argv[0]) if argv else None
    # A stop signal to the crawl's process group is for the crawl: it closes gracefully and
    # closes our stdin once the images in flight are hashed. Dying here would only make the
    # crawl re-hash them on a new worker while it is trying to stop. (SIGKILL still works.)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the reply stream
    import matchers.hashing  # noqa: F401  (the slow imports, before saying ready)

    config = WorkerConfig(**json.loads(os.environ.get(CONFIG_ENV) or "{}"))
    analyser = _Analyser(max_pixels, _worker_matcher(config), config.cache_size)
    try:
        replies.write(FRAME.pack(READY_ID, 0))
        replies.flush()
        while (header := _read_exact(requests, FRAME.size)) is not None:
            job_id, size = FRAME.unpack(header)
            data = _read_exact(requests, size)
            if data is None:
                break
            payload = analyser.reply(data)
            del data
            replies.write(FRAME.pack(job_id, len(payload)) + payload)
            replies.flush()
    except BrokenPipeError:
        # The crawl closed our pipes first (a crawl that ended before this worker was
        # ready): nothing is waiting for a reply. Not a traceback on the user's terminal.
        os.dup2(os.open(os.devnull, os.O_WRONLY), replies.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
