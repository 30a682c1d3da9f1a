"""Run hash_image, and the match, away from Scrapy's reactor: worker processes on pipes
(default), threads, inline.

A worker process is `python3 -m crawler.engine.hashworker` (its protocol is described
there). The crawl process writes a job to a worker's pipe only while the jobs written and
not yet answered fit in the pipe (the rest wait in the pool, one reference to each body): a
worker that lags then never leaves megabytes of bodies in Twisted's write buffer, which
concatenates them into a second copy.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import ProcessProtocol

from crawler.engine.hashworker import (
    CONFIG_ENV,
    FRAME,
    READY_ID,
    Analyser,
    Analysis,
    WorkerConfig,
    crypto_only,
    decode_reply,
)

if TYPE_CHECKING:
    from crawler.index_cache import SavedMatcher
    from matchers.decision import Matcher
    from matchers.digests import Digests

logger = logging.getLogger(__name__)

POOL_KINDS = ("process", "thread", "inline")
MAX_RESTARTS = 20  # worker crashes tolerated per crawl before hashing gives up
PIPE_SIZE = 4 * 1024 * 1024  # bytes; capped by /proc/sys/fs/pipe-max-size
DEFAULT_PIPE_SIZE = 64 * 1024  # Linux's, where the pipe cannot be grown or measured
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
# Numeric libraries single-threaded: on 2 cores a multi-threaded BLAS in hash_image spins
# against the crawl itself (measured: 2.5 ms per photo single-threaded, 60 ms with 2 threads).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def auto_threads(workers: int) -> int:
    """Hashing threads per worker process when not set (TRAWL_HASH_THREADS 0): two while
    this process may run on more cores than there are workers, else one.

    Why two: on 2 cores the one worker is the crawl's limit while the crawl process leaves
    a quarter of a core idle; a second thread in the worker uses it (much of hash_image
    runs without the GIL). With no core to spare it would only add GIL hand-offs."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return 2 if cores > workers else 1


class HashBacklog:
    """Bytes of images given to a hash pool and not yet answered, their peak, and who to
    tell when an answer lowers them (the downloader, holding image downloads)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.peak = 0
        self.listeners: list[Callable[[], None]] = []

    def add(self, size: int) -> None:
        self.bytes += size
        self.peak = max(self.peak, self.bytes)

    def remove(self, size: int) -> None:
        self.bytes -= size
        for listener in self.listeners:
            listener()


class _Job:
    __slots__ = ("data", "deferred", "retried")

    def __init__(self, data: bytes, deferred: Deferred[Analysis]) -> None:
        self.data = data
        self.deferred = deferred
        self.retried = False


class _Worker(ProcessProtocol):
    """One hashing process; replies are matched to jobs by id. A worker hashes jobs in the
    order sent, one at a time per thread, so the oldest job not answered is being hashed
    and its time limit runs from the moment it became the oldest (with threads it may have
    started earlier: the limit then only errs on the late side). Jobs are
    written while those written and not answered fit in the pipe; the rest wait here."""

    def __init__(self, pool: HashPool) -> None:
        self.pool = pool
        self.jobs: dict[int, _Job] = {}  # written to the pipe, not answered yet
        self.waiting: deque[tuple[int, _Job]] = deque()  # not written yet
        self.pipe_bytes = DEFAULT_PIPE_SIZE  # what the pipe holds (set once it is grown)
        self.pending_bytes = 0  # frames written and not answered
        self._order: deque[int] = deque()  # job ids in the order sent (answered ones
        # are dropped once at the head)
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
            self.pipe_bytes = _grow_pipe(stdin.fileno())
        self._pump()

    def send(self, job_id: int, job: _Job) -> None:
        self.waiting.append((job_id, job))
        self._pump()

    def _pump(self) -> None:
        """Write waiting jobs while they fit in the pipe (one at a time when one does not)."""
        transport: Any = self.transport  # zope interfaces confuse mypy's method binding
        if transport is None or self.ended:
            return
        while self.waiting:
            job_id, job = self.waiting[0]
            size = FRAME.size + len(job.data)
            if self.pending_bytes and self.pending_bytes + size > self.pipe_bytes:
                return
            self.waiting.popleft()
            self.pending_bytes += size
            self.jobs[job_id] = job
            self._order.append(job_id)
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
                while self._order and self._order[0] not in self.jobs:  # answered already
                    self._order.popleft()
                self._arm()  # the next job's time starts now (the timer stays armed)
            if job is not None:
                self.pending_bytes -= FRAME.size + len(job.data)
                job.deferred.callback(decode_reply(payload))
                self._pump()

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
    bytes are analysed once while in the LRU of results, `cache_bytes` at most (per
    worker: an image goes to the worker chosen by its length, so identical bytes meet the
    same cache). `backlog` counts the bytes of images given and not yet answered.

    Why processes on pipes by default: pdqhash's compute() holds the GIL, so threads still
    stall the reactor during PDQ; and a concurrent.futures process pool costs the reactor
    thread ~1 ms per image in GIL hand-offs with its feeder threads (measured), where
    reactor-managed pipes cost nothing but the write. A worker exits when its stdin closes,
    so a killed crawl leaves no process behind. A worker that dies mid-image is replaced and
    the image retried once; if it kills a worker again it gets crypto digests only.
    """

    def __init__(self, kind: str = "process", workers: int = 1, max_pixels: int | None = None,
                 timeout: float | None = None, *, matcher: Matcher | SavedMatcher | None = None,
                 cache_bytes: int = 0, backlog: HashBacklog | None = None, threads: int = 1):
        if kind not in POOL_KINDS:
            raise ValueError(f"Unknown hash pool {kind!r}: use one of {', '.join(POOL_KINDS)}.")
        self.kind = kind
        self.workers = max(1, workers)
        self.max_pixels = max_pixels
        # Seconds one image may take in a worker process (None: no limit). Threads and
        # inline hashing cannot be stopped, so only the process pool enforces it.
        self.timeout = timeout if timeout and timeout > 0 else None
        self.config = WorkerConfig.for_matcher(
            matcher, cache_bytes, threads if threads > 0 else auto_threads(self.workers))
        local: Matcher | None = None  # thread/inline: analysed here, with the matcher itself
        if kind != "process" and matcher is not None:
            from crawler.index_cache import SavedMatcher

            local = matcher.load() if isinstance(matcher, SavedMatcher) else matcher
        self._local = Analyser(max_pixels, local, cache_bytes)
        self.restarts = 0
        self.timeouts = 0
        self.backlog = backlog if backlog is not None else HashBacklog()
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
        args = [sys.executable, "-m", "crawler.engine.hashworker"]
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
        self.backlog.add(len(data))
        deferred.addBoth(self._answered, len(data))
        if self.kind == "thread":
            assert self._threads is not None
            self._threads.submit(self._local.analyse, data).add_done_callback(
                lambda fut: _deliver_from_thread(fut, data, deferred)
            )
        else:
            self._dispatch(_Job(data, deferred))
        return deferred

    def _answered(self, result: Any, size: int) -> Any:
        self.backlog.remove(size)
        return result

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
        if self._closing and not worker.jobs and not worker.waiting:
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
        while worker.waiting:  # never written to it: not a try of theirs
            self._dispatch(worker.waiting.popleft()[1])

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


def _grow_pipe(fd: int) -> int:
    """Grow the pipe to PIPE_SIZE (or the system's limit); returns the bytes it holds."""
    try:
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        fcntl.fcntl(fd, F_SETPIPE_SZ, min(PIPE_SIZE, limit))
    except (OSError, ValueError):  # not Linux, or a lower limit: the default pipe works
        pass
    try:
        return int(fcntl.fcntl(fd, F_GETPIPE_SZ)) or DEFAULT_PIPE_SIZE
    except OSError:
        return DEFAULT_PIPE_SIZE


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[1])
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")
