"""Helpers for distributed-crawl tests: a unique Redis frontier, worker processes, crawls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import _missing, _port_open
from tests.crawlhelpers import REPO, crawl_env

# Not the conftest's database 15: other tests flush that one. Keys here carry a unique
# prefix per test and are deleted afterwards.
WORKERS_REDIS_URL = os.environ.get("TRAWL_TEST_WORKERS_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_frontier() -> Iterator[tuple[str, str]]:
    """For a fixture: (Redis URL, a key prefix of the test's own), its keys deleted after."""
    if not _port_open("127.0.0.1", 6379):
        _missing("Redis", "127.0.0.1:6379")
    import redis

    prefix = f"trawltest-{uuid.uuid4().hex[:10]}"
    yield WORKERS_REDIS_URL, prefix
    client = redis.Redis.from_url(WORKERS_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


class Workers:
    """`trawl worker` processes on one frontier; each logs to its own file in `log_dir`."""

    def __init__(self, db_url: str, redis_url: str, prefix: str, log_dir: Path) -> None:
        self.db_url = db_url
        self.redis_url = redis_url
        self.prefix = prefix
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *settings: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        """Start a worker with these -s NAME=VALUE settings (`env`: added to crawl_env)."""
        n = len(self.procs)
        args = [sys.executable, "-m", "crawler.cli.main", "--db", self.db_url, "worker",
                "--redis", self.redis_url, "--redis-prefix", self.prefix,
                "--log-file", str(self.log_dir / f"worker{n}.log")]
        for pair in ("TRAWL_WORKER_HEARTBEAT=0.5", "TRAWL_FLUSH_INTERVAL=0.5", *settings):
            args += ["-s", pair]
        with (self.log_dir / f"worker{n}.out").open("wb") as out:
            proc = subprocess.Popen(args, env=crawl_env(**(env or {})), cwd=REPO, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every started worker has opened its spider and beats in Redis."""
        import redis

        from crawler.engine.distributed.frontier import RedisFrontier

        frontier = RedisFrontier(redis.Redis.from_url(self.redis_url), self.prefix)
        deadline = time.monotonic() + timeout
        alive = sum(proc.poll() is None for proc in self.procs)
        while len(frontier.live_workers()) < alive:
            assert time.monotonic() < deadline, "workers never started" + self.logs()
            time.sleep(0.1)

    def crawl(self, *args: str, wait: bool = True, timeout: float = 240,
              env: dict[str, str] | None = None) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "crawler.cli.main", "--db", self.db_url, "crawl",
               "--distributed", "--redis", self.redis_url, "--redis-prefix", self.prefix,
               "--format", "json", *args]
        if wait:
            cmd.append("--wait")
        done = subprocess.run(cmd, env=crawl_env(**(env or {})), cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, done.stderr[-3000:] + self.logs()
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "crawler.cli.main", "--db", self.db_url, *args],
            env=crawl_env(), cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def logs(self) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("worker*.*")):
            text = path.read_text(errors="replace")
            parts.append(f"\n--- {path.name} ---\n{text[-4000:]}")
        return "".join(parts)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def running_workers(pg_url: str, frontier_url: tuple[str, str], tmp_path: Path
                    ) -> Iterator[Workers]:
    """For a fixture: a Workers group on a fresh PostgreSQL database; stopped after."""
    from storage.db import open_store

    open_store(pg_url, create=True).close()
    group = Workers(pg_url, *frontier_url, tmp_path)
    try:
        yield group
    finally:
        group.stop()
