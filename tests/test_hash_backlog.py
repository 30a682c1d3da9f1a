"""A lagging hash worker: jobs wait in the pool, not in Twisted's write buffer, and none is
lost, even when the worker dies with jobs written to it and jobs still waiting."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.crawlhelpers import crawl_env

# Runs a real process pool in its own reactor; the worker is stopped (SIGSTOP) while the
# images arrive, as a worker that lags behind the downloads would be.
LAGGING_WORKER = r"""
import json, os, signal, sys
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import defer, reactor, task
from crawler.engine.hashpool import HashPool
from crawler.engine.hashworker import FRAME
from crawler.sitegen.images import encode, textured
from matchers.hashing import hash_image

IMAGES = [encode(textured(i, (480, 360)), "png", marker=b"m%d" % i) for i in range(40)]

def buffered(worker):
    # What Twisted's writer holds for the pipe: bytes it could not write yet.
    writer = worker.transport.pipes[0]
    return len(writer.dataBuffer) - writer.offset + writer._tempDataLen

@defer.inlineCallbacks
def main():
    pool = HashPool("process", 1)
    pool.start()
    worker = pool._procs[0]
    while not worker.ready:
        yield task.deferLater(reactor, 0.05, lambda: None)
    os.kill(worker.transport.pid, signal.SIGSTOP)
    answers = [pool.analyse(data) for data in IMAGES]
    yield task.deferLater(reactor, 1.0, lambda: None)  # the reactor writes what it may
    held = {
        "total": sum(map(len, IMAGES)),
        "pipe": worker.pipe_bytes,
        "pending": worker.pending_bytes,
        "largest": max(map(len, IMAGES)) + FRAME.size,
        "written": len(worker.jobs),
        "waiting": len(worker.waiting),
        "buffered": buffered(worker),
        "backlog": pool.backlog.bytes,
    }
    # The lagging worker dies: the jobs written to it are retried, the waiting ones sent.
    os.kill(worker.transport.pid, signal.SIGKILL)
    results = yield defer.gatherResults(answers)
    print(json.dumps({
        "held": held,
        "same": [r.digests == hash_image(d) for r, d in zip(results, IMAGES)],
        "status": sorted({r.digests.status for r in results}),
        "restarts": pool.restarts,
        "backlog_after": pool.backlog.bytes,
        "peak": pool.backlog.peak,
    }))
    pool.close()
    reactor.callLater(0.2, reactor.stop)

reactor.callWhenRunning(main)
reactor.run()
"""


def test_a_lagging_worker_holds_back_writes_and_loses_no_image() -> None:
    done = subprocess.run([sys.executable, "-c", LAGGING_WORKER], capture_output=True,
                          text=True, env=crawl_env(), timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    held = result["held"]
    assert held["total"] > 2 * held["pipe"]  # more than the pipe can take
    # Written: only what fits in the pipe; the rest waits in the pool, held once.
    assert 0 < held["pending"] <= held["pipe"]
    assert held["written"] + held["waiting"] == 40
    assert held["waiting"] > 0
    assert held["buffered"] == 0  # nothing copied into Twisted's write buffer
    assert held["backlog"] == held["total"]
    # Every image answered, hashed in full, after one restart; the backlog is empty again.
    assert all(result["same"]), result["same"]
    assert result["status"] == ["ok"]
    assert result["restarts"] == 1
    assert result["backlog_after"] == 0
    assert result["peak"] == held["total"]
