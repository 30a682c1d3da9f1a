"""A hash worker with two threads: replies out of order, each to its own image, and a
killed worker's images retried, as with one thread; how many threads a crawl gives it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from crawler.engine import hashpool
from tests.crawlhelpers import crawl_env

THREADED_SCRIPT = r"""
import io, json, os, signal, sys
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import defer, reactor, task
from PIL import Image
from crawler.engine.hashpool import HashPool
from crawler.sitegen.images import encode, textured
from matchers.hashing import hash_image

buf = io.BytesIO()
Image.effect_noise((2000, 2000), 60).convert("RGB").save(buf, "JPEG", quality=5)
# ~60 ms to hash where the small ones take a few; 0.4 MB, so that every image fits in the
# pipe at once (a pool writes no more than the pipe holds: 1 MiB at the least)
SLOW = buf.getvalue()
IMAGES = [SLOW] + [encode(textured(i, (160, 120)), "png", marker=b"t%d" % i) for i in range(8)]

@defer.inlineCallbacks
def main():
    pool = HashPool("process", 1, threads=2)
    pool.start()
    done = []
    pending = [pool.hash(data).addCallback(lambda d, n=n: done.append(n) or d)
               for n, data in enumerate(IMAGES)]
    if sys.argv[1] == "kill":  # kill the worker while it holds jobs: they are retried
        while len(done) < 2:
            yield task.deferLater(reactor, 0.005, lambda: None)
        os.kill(pool._procs[0].transport.pid, signal.SIGKILL)
    results = yield defer.gatherResults(pending)
    expected = [hash_image(data) for data in IMAGES]
    print(json.dumps({"same": results == expected, "order": done,
                      "restarts": pool.restarts, "threads": pool.config.threads}))
    pool.close()
    reactor.callLater(0.5, reactor.stop)

reactor.callWhenRunning(main)
reactor.run()
"""


def _run(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", THREADED_SCRIPT, mode], capture_output=True,
                          text=True, env=crawl_env(), timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_worker_with_two_threads_answers_each_image_as_it_is_done() -> None:
    result = _run("plain")
    assert result["threads"] == 2
    assert result["same"] is True  # every reply went to its own image
    order = result["order"]
    assert isinstance(order, list)
    assert sorted(order) == list(range(9))
    assert order[0] != 0  # small images hashed beside the slow one came back before it
    assert result["restarts"] == 0


@pytest.mark.hostile
def test_a_killed_worker_with_two_threads_has_its_images_hashed_again() -> None:
    result = _run("kill")
    assert result["same"] is True
    assert result["restarts"] == 1


@pytest.mark.parametrize(("cores", "workers", "threads"),
                         [(2, 1, 2), (1, 1, 1), (2, 2, 1), (8, 1, 2)])
def test_workers_get_a_second_thread_only_with_a_core_to_spare(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr(hashpool.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert hashpool.auto_threads(workers) == threads
