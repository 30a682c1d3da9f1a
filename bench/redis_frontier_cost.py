"""Redis cost of one image's frontier operations, alone: admit, lease, per-host slot, release.

Replays, N times, what a worker does in Redis for one image request (push with the seen
check, pop into a lease, take and give back the host slot, ack) on a throw-away key prefix
and prints the Redis server's CPU time, commands and client wall time per image. The CPU
figure is server-wide: run it when nothing else uses the server.

    python3 bench/redis_frontier_cost.py [N]
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import redis

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from crawler.engine.distributed.frontier import RedisFrontier
from crawler.engine.distributed.politeness import _ACQUIRE
from crawler.engine.scope import SeedPlan

REDIS_URL = os.environ.get("TRAWL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    client = redis.Redis.from_url(REDIS_URL)
    frontier = RedisFrontier(client, f"cost-{uuid.uuid4().hex[:8]}")
    acquire = client.register_script(_ACQUIRE)
    frontier.start_crawl(1, [SeedPlan(url="http://x.test/")], time_budget=None,
                         max_image_size=None)
    frontier.seeded(1)
    frontier.beat("w", 600)
    data = b"x" * 450  # an encoded image request is ~450 bytes
    cpu0, wall0 = _cpu(client), time.perf_counter()
    commands0 = int(client.info("stats")["total_commands_processed"])
    try:
        for i in range(n):
            frontier.push(1, data + str(i).encode(), score=-10, key=f"image {i}")
            lease = frontier.pop("w", 300)
            assert lease is not None
            acquire(args=[frontier.prefix, "x.test", f"w/{i}", 8, 0, 60])
            client.zrem(frontier.key("host", "x.test"), f"w/{i}")
            frontier.ack("w", [lease.member])
        cpu1, wall1 = _cpu(client), time.perf_counter()
        commands1 = int(client.info("stats")["total_commands_processed"])
    finally:
        keys = list(client.scan_iter(f"{frontier.prefix}:*"))
        if keys:
            client.delete(*keys)
    print(f"per image: {(cpu1 - cpu0) / n * 1e6:.0f} us Redis CPU (server-wide), "
          f"{(commands1 - commands0) / n:.1f} commands, {(wall1 - wall0) / n * 1e3:.2f} ms "
          f"client wall; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
