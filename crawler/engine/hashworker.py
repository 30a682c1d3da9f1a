"""The hash worker process: hash_image, then the match, for the bytes the crawl sends.

Protocol (stdin/stdout of `python3 -m crawler.engine.hashworker`): request frames `>QI`
(job id, length) + image bytes; reply frames `>QI` (job id, length) + JSON {"c": cache hit,
"r": {"d": the Digests, "m": the matches or null}}, after one empty reply with job id 0
that says the worker is ready. Nothing but these frames crosses the pipes and nothing is
written anywhere. What a worker does besides hashing comes from the environment variable
TRAWL_HASH_WORKER (JSON, see WorkerConfig): the path of the saved matcher file to match
with (memory-mapped read-only, so N workers share one copy through the page cache) and the
bytes its LRU of results by sha256 may hold.

Apart from crawler.engine.hashpool (the crawl's side, on Twisted) so that a worker imports
nothing it does not run: Twisted and asyncio cost a worker ~0.15 s of CPU at every start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import signal
import struct
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from matchers.digests import Digests, DigestStatus

if TYPE_CHECKING:
    from crawler.index_cache import SavedMatcher
    from matchers.decision import Matcher
    from matchers.match import Match

logger = logging.getLogger(__name__)

FRAME = struct.Struct(">QI")
READY_ID = 0  # a worker's first reply, empty: imports done, ready to hash (jobs count from 1)
# What one cached result costs besides its encoded reply: the 32-byte key and the LRU's
# entry (a worker's cache); a result kept as Python objects (thread and inline pools) is
# estimated at ANALYSIS_BYTES in all (Digests' strings, the match list).
ENTRY_OVERHEAD = 200
ANALYSIS_BYTES = 2000
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
    `matcher_path` (when its stamp is `stamp`) with these thresholds, keep the latest
    results by sha256 in at most `cache_bytes` (identical bytes under many URLs are
    analysed once), and hash `threads` images at a time (see worker_main)."""

    matcher_path: str | None = None
    stamp: str | None = None
    thresholds: dict[str, int] = field(default_factory=dict)
    dihedral: bool = True
    cache_bytes: int = 0
    threads: int = 1

    @classmethod
    def for_matcher(cls, matcher: Matcher | SavedMatcher | None,
                    cache_bytes: int = 0, threads: int = 1) -> WorkerConfig:
        path = getattr(matcher, "path", None) if matcher is not None else None
        if matcher is None or path is None:
            return cls(cache_bytes=cache_bytes, threads=threads)
        return cls(str(path), matcher.stamp, dict(matcher.thresholds), matcher.dihedral,
                   cache_bytes, threads)


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


class Analyser:
    """hash_image, then the match, with an LRU of results keyed by sha256 holding at most
    `cache_bytes`: a worker's (or the thread/inline pools') work per image. Bounded in
    bytes, not entries, so its memory is known whatever a result weighs. Thread-safe (the
    thread pool shares one)."""

    def __init__(self, max_pixels: int | None, matcher: Matcher | None,
                 cache_bytes: int) -> None:
        self.max_pixels = max_pixels
        self.matcher = matcher
        self.cache_bytes = max(0, cache_bytes)
        self.cached_bytes = 0
        self._cache: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def _lookup(self, key: bytes | None) -> Any:
        if key is None:
            return None
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                return None
            self._cache.move_to_end(key)
            return found[0]

    def _keep(self, key: bytes | None, value: Any, cost: int) -> None:
        if key is None or cost > self.cache_bytes:
            return
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self.cached_bytes -= old[1]
            self._cache[key] = (value, cost)
            self.cached_bytes += cost
            while self.cached_bytes > self.cache_bytes:
                self.cached_bytes -= self._cache.popitem(last=False)[1][1]

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
        key = hashlib.sha256(data).digest() if self.cache_bytes else None
        found = self._lookup(key)
        if found is not None:
            return Analysis(found[0], found[1], True)
        digests, matches = self._compute(data, key)
        self._keep(key, (digests, matches), ANALYSIS_BYTES)
        return Analysis(digests, matches)

    def reply(self, data: bytes) -> bytes:
        """The encoded reply for a worker's frame (cached encoded: ~1.2 KB an entry)."""
        key = hashlib.sha256(data).digest() if self.cache_bytes else None
        found: bytes | None = self._lookup(key)
        if found is not None:
            return b'{"c":1,"r":' + found + b"}"
        digests, matches = self._compute(data, key)
        body = json.dumps({
            "d": digests.as_dict(dihedral=True),
            "m": None if matches is None else [match_to_dict(m) for m in matches],
        }, separators=(",", ":")).encode()
        self._keep(key, body, len(body) + ENTRY_OVERHEAD)
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
    analyser = Analyser(max_pixels, _worker_matcher(config), config.cache_bytes)
    try:
        replies.write(FRAME.pack(READY_ID, 0))
        replies.flush()
        if config.threads > 1:
            _serve_threaded(analyser, requests, replies, config.threads)
            return 0
        while (job := _read_job(requests)) is not None:
            _answer(analyser, replies, *job)
    except BrokenPipeError:
        _quiet(replies)
    return 0


def _read_job(requests: BinaryIO) -> tuple[int, bytes] | None:
    """The next frame's job id and image bytes; None once stdin closes."""
    header = _read_exact(requests, FRAME.size)
    if header is None:
        return None
    job_id, size = FRAME.unpack(header)
    data = _read_exact(requests, size)
    return None if data is None else (job_id, data)


def _answer(analyser: Analyser, replies: BinaryIO, job_id: int, data: bytes) -> None:
    payload = analyser.reply(data)
    del data
    replies.write(FRAME.pack(job_id, len(payload)) + payload)
    replies.flush()


def _quiet(replies: BinaryIO) -> None:
    """The crawl closed our pipes first (a crawl that ended before this worker was ready):
    nothing is waiting for a reply. Not a traceback on the user's terminal."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), replies.fileno())


def _serve_threaded(analyser: Analyser, requests: BinaryIO, replies: BinaryIO,
                    threads: int) -> None:
    """Hash `threads` images at a time; replies go out as each is done (not in order).

    Why threads in one worker, not more workers: much of hash_image runs without the GIL
    (Pillow's JPEG decode, hashlib, numpy's larger operations), so a second thread uses a
    core the crawl leaves idle without a second process's imports and ~90 MB. Bodies held
    here stay bounded: one per thread, one handed over, one being read.
    """
    jobs: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=1)
    writing = threading.Lock()
    broken = threading.Event()
    args = (analyser, jobs, replies, writing, broken)
    pool = [threading.Thread(target=_hash_jobs, args=args, name=f"trawl-hash-{n}", daemon=True)
            for n in range(threads)]
    for thread in pool:
        thread.start()
    while not broken.is_set() and (job := _read_job(requests)) is not None:
        jobs.put(job)
        del job
    for _ in pool:
        jobs.put(None)
    for thread in pool:
        thread.join()
    if broken.is_set():
        _quiet(replies)


def _hash_jobs(analyser: Analyser, jobs: queue.Queue[tuple[int, bytes] | None],
               replies: BinaryIO, writing: threading.Lock, broken: threading.Event) -> None:
    """One hashing thread of _serve_threaded, until it takes None (once the pipe to the
    crawl is broken, it only drains the queue, so the reader is never left waiting)."""
    try:
        while (job := jobs.get()) is not None:
            job_id, data = job
            del job
            if broken.is_set():
                continue
            payload = analyser.reply(data)
            del data
            try:
                with writing:
                    replies.write(FRAME.pack(job_id, len(payload)) + payload)
                    replies.flush()
            except BrokenPipeError:
                broken.set()
    except BaseException:  # as a single-threaded worker would: die, and be replaced
        logger.exception("A hashing thread failed")
        os._exit(70)

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
