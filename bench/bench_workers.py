"""Distributed crawl throughput: 1, 2, ... `trawl worker` processes on one Redis frontier and
one PostgreSQL, crawling the generated benchmark site (~130 KB JPEGs, distinct bytes per URL).
The shared per-host limit (TRAWL_HOST_CONCURRENCY) is set to 8 per worker (what one process
allows per domain), so the figures measure the workers, not politeness; --host-limit N sets
it to N for all workers (8: the default a hotline runs with). --hosts H splits the site over
H loopback hosts (127.0.0.1 ... 127.0.0.H, one site and one seed each, every seed's host
allowed to its own seed by the address policy), as a hotline's crawl spans many hosts;
several counts (--hosts 1,4) serve one site per count and alternate them round by round.

For each worker count: a fresh PostgreSQL database, the site served by its own process, the
workers started and ready, then `trawl crawl --distributed --wait`. The table shows images/s
(crawl row: finished_at - started_at), Redis commands per image (the server's
total_commands_processed delta, which counts the commands inside Lua scripts) and the Redis
server's CPU time per image (used_cpu_user + used_cpu_sys delta; both are server-wide, so
other clients of the same server count too), and PostgreSQL rows written per image
(rows in the fresh database). From those it projects where one Redis and one PostgreSQL
saturate: Redis at 1 s of Redis CPU per second; PostgreSQL at the row-write rate of its
batched upserts measured here on the same server (--pg-rows rows in batches of 500).

Where the CPU goes: for every round, the CPU time (user + system, from /proc) per image of
the workers' reactor processes, of their hashing processes, of the site server, of Redis
and of every PostgreSQL process alive at the round's start and end (server-wide: other
databases' work counts too, and a backend that ends mid-round drops out: indicative only),
and how many cores the round kept busy in all (total CPU / wall time).

Steady rate: images/s is the crawl row's (finished_at - started_at), start and end
included; "steady images/s" counts the images the site served between the 20% and the 80%
one (their serve times, from the site process), and "first image, after last" gives the
fixed costs around them (the crawl command's start to the first image served; the last
image served to the command's return: last commit, end detection, the --wait poll).

Scale-out per core (--pin): worker i and its hashing process are pinned to core i mod
ncpu (os.sched_setaffinity before exec: the hashing process inherits it); the site
server, Redis and PostgreSQL stay unpinned. So 1 worker gets one core, 2 workers two:
the pinned speed-up is what one more core of workers adds, the figure a fleet projection
needs. Unpinned, one worker already spreads over both cores of a 2-core machine (reactor
and hashing process in parallel), so the unpinned speed-up of 2 workers is what a second
worker adds on the *same* cores. `--pin` alone runs every round both ways (unpinned
first), `--pin only` pinned rounds only.

    python3 bench/bench_workers.py                          # 20000 images, 1 and 2 workers
    python3 bench/bench_workers.py --workers 1,2,1,2 --hosts 4 --pin \
        --redis redis://127.0.0.1:6379/13                  # the quiet-machine figures
    python3 bench/bench_workers.py --pages 400 --workers 1,2 --hosts 1,4 --pin only
    python3 bench/bench_workers.py --workers 1,2,1,2 --pin  # both ways, rounds alternated
    python3 bench/bench_workers.py --pages 400 --images-per-page 5 --workers 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
PG_ADMIN = os.environ.get("TRAWL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TRAWL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The rounds' databases are named <prefix>_<random> (dropped after each round).
DB_PREFIX = os.environ.get("TRAWL_BENCH_DB_PREFIX", "trawl_bench")
TABLES = ("media", "observations", "hits", "hit_matches", "crawl_requests_done",
          "crawl_workers", "crawls", "workers")


def _env(code: Path | None) -> dict[str, str]:
    """The environment of the workers and the crawl: this checkout's code, or `code`'s."""
    return ENV if code is None else {**ENV, "PYTHONPATH": str(code)}


def _cli(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli.main", "--db", db, *args]


def _redis_stats(client: Any) -> tuple[int, float]:
    """(commands processed, the server's CPU seconds in microseconds): server-wide figures."""
    commands = int(client.info("stats")["total_commands_processed"])
    cpu = client.info("cpu")
    return commands, (float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])) * 1e6


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds user + system) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _cpu_by_role(workers: list[int], site: int) -> dict[str, float]:
    """CPU seconds so far of the worker processes, their children (hashing processes),
    the site server and every postgres process on the machine."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _proc_stat(int(entry))) is not None:
            stats[int(entry)] = st
    cpu = {"worker": 0.0, "hashing": 0.0, "site": 0.0, "postgres": 0.0}
    for pid, (name, ppid, seconds) in stats.items():
        if pid in workers:
            cpu["worker"] += seconds
        elif ppid in workers:
            cpu["hashing"] += seconds
        elif pid == site:
            cpu["site"] += seconds
        elif name.startswith("postgres"):
            cpu["postgres"] += seconds
    return cpu


def _sched(workers: list[int]) -> dict[str, list[float]]:
    """Per role (worker reactors, their hashing processes): seconds their main threads ran
    and seconds they waited, runnable, for a core (/proc/<pid>/task/<pid>/schedstat), and
    how many threads. What is left of the wall time they spent asleep, waiting for
    something else than a core: a figure the machine's load does not inflate."""
    out = {"worker": [0.0, 0.0, 0], "hashing": [0.0, 0.0, 0]}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (st := _proc_stat(int(entry))) is None:
            continue
        pid, ppid = int(entry), st[1]
        role = "worker" if pid in workers else "hashing" if ppid in workers else None
        if role is None:
            continue
        try:
            run, wait, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        out[role][0] += int(run) / 1e9
        out[role][1] += int(wait) / 1e9
        out[role][2] += 1
    return out


def _pin(core: int | None) -> Any:
    """A preexec_fn pinning the child (and what it starts) to one core, or None."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def _pg_rows_per_second(url: str, rows: int) -> float:
    """Batched upserts (500 rows, ON CONFLICT DO UPDATE) into a scratch table, as the
    writers' flushes do: the row rate one PostgreSQL sustains for one writer."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bench_rows (k varchar(64) PRIMARY KEY, v text, "
                             "n integer)"))
    started = time.perf_counter()
    for start in range(0, rows, 500):
        batch = [{"k": uuid.uuid4().hex, "v": "x" * 80, "n": i} for i in range(start, start + 500)]
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO bench_rows (k, v, n) VALUES (:k, :v, :n) "
                                 "ON CONFLICT (k) DO UPDATE SET n = bench_rows.n + 1"), batch)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return rows / elapsed


def start_site(pages: int, per_page: int, hosts: list[int],
               pool_size: int = 200) -> tuple[subprocess.Popen[str], dict[int, dict[str, Any]]]:
    """The benchmark site in its own process (generated once: every round crawls it), once
    per count in `hosts`, each on that many loopback addresses (127.0.0.1, 127.0.0.2, ...),
    one site and seed per address; the sites share their pictures."""
    server = subprocess.Popen(
        [sys.executable, "-m", "crawler.sitegen", "bench", "--pages", str(pages),
         "--images-per-page", str(per_page), "--pool-size", str(pool_size),
         "--hosts", ",".join(map(str, hosts))], env=ENV, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    info = json.loads(server.stdout.readline())
    return server, {site["hosts"]: {**info, **site} for site in info["sites"]}


STEADY = (0.2, 0.8)  # the steady middle: from the 20% to the 80% image served


def _served(site: dict[str, Any], since: float) -> list[float]:
    """time.monotonic() times (system-wide) at which the site served images since `since`."""
    from urllib.request import urlopen

    with urlopen(f"{site['start_url']}_bench/served?since={since}", timeout=30) as reply:
        return sorted(json.loads(reply.read()))


def _steady(times: list[float], started: float, ended: float) -> dict[str, float]:
    """Images/s between the STEADY shares of the images served, and the fixed costs around
    them: from the crawl command's start to the first image served, and from the last
    image served to the crawl command's return (the end detection and last commit)."""
    n = len(times)
    if n < 10:
        return {}
    lo, hi = int(STEADY[0] * n), int(STEADY[1] * n) - 1
    span = times[hi] - times[lo]
    return {"steady_images_per_s": round((hi - lo) / span, 1) if span > 0 else 0.0,
            "first_image_s": round(times[0] - started, 1),
            "after_last_image_s": round(ended - times[-1], 1)}


def _stored_by_worker(engine: Any, pids: list[int]) -> list[int]:
    """Images committed so far by each worker (crawl_workers rows), in start order."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT worker_id, images FROM crawl_workers")).all()
    by_pid = {int(worker.split(":")[-2]): int(images) for worker, images in rows}
    return [by_pid.get(pid, 0) for pid in pids]


def _timeline(samples: list[tuple[float, list[int]]], served: list[float], wall0: float,
              marks: dict[str, float]) -> list[dict[str, Any]]:
    """Per second from the crawl command's start: images the site served, images each
    worker committed (the last sample in that second), and what happened in it (first /
    last image served, the crawl row's finish, the command's return)."""
    end = max([*marks.values(), samples[-1][0] if samples else 0.0])
    rows = []
    for second in range(int(end) + 1):
        in_second = [s for t, s in samples if second <= t < second + 1]
        before = [s for t, s in samples if t < second + 1]
        rows.append({
            "t": second,
            "served": sum(1 for t in served if second <= t - wall0 < second + 1),
            "stored": in_second[-1] if in_second else (before[-1] if before else []),
            "events": [name for name, t in marks.items() if second <= t < second + 1],
        })
    return rows


def _epoch(moment: Any) -> float:
    """A database timestamp (naive ones are UTC) in seconds since the epoch."""
    from datetime import UTC

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return float(moment.timestamp())


def _print_timeline(result: dict[str, Any], edge: int = 6) -> None:
    """The ramp (first `edge` seconds) and the tail (from `edge` seconds before the last
    image served), the middle in one line."""
    rows = result["timeline"]
    last = next((r["t"] for r in rows if "last image served" in r["events"]), len(rows))
    print(f"timeline: {Path(result['code']).name}, {result['workers']} worker(s) "
          f"(images served in the second; images committed by each worker at its end)")
    skipped = []
    for r in rows:
        if edge <= r["t"] < last - edge:
            skipped.append(r)
            continue
        if skipped:
            print(f"  {skipped[0]['t']:>4}-{skipped[-1]['t']:<4} served {sum(x['served'] for x in skipped):>6}")
            skipped = []
        stored = " / ".join(map(str, r["stored"])) or "-"
        print(f"  {r['t']:>9} served {r['served']:>6}  committed {stored:<15} "
              f"{', '.join(r['events'])}")


def run(server: subprocess.Popen[str], site: dict[str, Any], workers: int, work: Path,
        pg_rows: int, *, pin: bool = False, code: Path | None = None,
        host_limit: int = 0, settings: list[str] | None = None,
        timeline: bool = False) -> dict[str, Any]:
    """One round. host_limit: TRAWL_HOST_CONCURRENCY across the workers (0: 8 per worker,
    what one process allows a host, so that one host does not bound the workers)."""
    import redis
    import sqlalchemy as sa

    name = f"{DB_PREFIX}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = _env(code)
        subprocess.run(_cli(db, "init"), env=env, check=True, capture_output=True)
        cores = sorted(os.sched_getaffinity(0))
        extra = [arg for setting in settings or [] for arg in ("-s", setting)]
        for n in range(workers):
            log = work / f"{name}-w{n}.log"
            procs.append(subprocess.Popen(
                _cli(db, "worker", "--redis", REDIS_URL, "--redis-prefix", prefix,
                     "--log-file", str(log), "-s",
                     f"TRAWL_HOST_CONCURRENCY={host_limit or 8 * workers}", *extra),
                env=env, cwd=code or ROOT, preexec_fn=_pin(cores[n % len(cores)] if pin else None),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        while len([k for k in client.scan_iter(f"{prefix}:alive:*")]) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.2)
        pids = [proc.pid for proc in procs]
        commands0, usec0 = _redis_stats(client)
        sched0 = _sched(pids)
        cpu0, wall0, epoch0 = _cpu_by_role(pids, server.pid), time.monotonic(), time.time()
        crawl = subprocess.Popen(
            _cli(db, "crawl", "--distributed", "--wait", "--redis", REDIS_URL,
                 "--redis-prefix", prefix, "--format", "json", "--depth", "3",
                 *site.get("start_urls", [site["start_url"]])),
            env=env, cwd=code or ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        samples: list[tuple[float, list[int]]] = []
        if timeline:  # what each worker has committed, every 0.25 s
            watch = sa.create_engine(db)
            while crawl.poll() is None:
                try:
                    samples.append((time.monotonic() - wall0, _stored_by_worker(watch, pids)))
                except sa.exc.DBAPIError:
                    pass  # the tables are not there yet
                time.sleep(0.25)
            samples.append((time.monotonic() - wall0, _stored_by_worker(watch, pids)))
            watch.dispose()
        _out, err = crawl.communicate()
        if crawl.returncode != 0:
            raise RuntimeError(err[-2000:])
        commands1, usec1 = _redis_stats(client)
        ended = time.monotonic()
        cpu1, wall = _cpu_by_role(pids, server.pid), ended - wall0
        sched1 = _sched(pids)
        engine = sa.create_engine(db)
        with engine.connect() as conn:
            started, finished = conn.execute(
                sa.text("SELECT started_at, finished_at FROM crawls")).one()
            images = int(conn.execute(sa.text("SELECT images FROM crawls")).scalar_one())
            rows = {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in TABLES}
            # each worker's share of the images: a worker starved by another shows here
            shares = sorted(int(n) for (n,) in conn.execute(
                sa.text("SELECT images FROM crawl_workers")))
        engine.dispose()
        seconds = (finished - started).total_seconds()
        served = _served(site, wall0)
        pg_rate = _pg_rows_per_second(db, pg_rows) if pg_rows else 0.0
        cpu = {role: cpu1[role] - cpu0[role] for role in cpu0}
        cpu["redis"] = (usec1 - usec0) / 1e6
        result = {
            "code": str(code or ROOT), "workers": workers, "pinned": pin,
            "hosts": site.get("hosts", 1), "host_limit": host_limit or 8 * workers,
            "settings": settings or [], "images": images, "expected": site["images"],
            "seconds": round(seconds, 1), "images_per_s": round(images / seconds, 1),
            **_steady(served, wall0, ended),
            "redis_commands_per_image": round((commands1 - commands0) / max(1, images), 1),
            "redis_cpu_us_per_image": round((usec1 - usec0) / max(1, images), 1),
            "pg_rows_per_image": round(sum(rows.values()) / max(1, images), 2),
            "pg_rows_per_s_one_writer": round(pg_rate),
            "cpu_ms_per_image": {role: round(1000 * v / max(1, images), 2)
                                 for role, v in cpu.items()},
            "cores_busy": round(sum(cpu.values()) / wall, 2),
            "images_by_worker": shares,
            # share of the wall time the main threads ran / waited for a core / slept
            "run_queue_sleep": {
                role: [round((sched1[role][i] - sched0[role][i]) / (wall * sched1[role][2]), 2)
                       for i in (0, 1)] + [round(1 - (sched1[role][0] - sched0[role][0]
                                                      + sched1[role][1] - sched0[role][1])
                                                 / (wall * sched1[role][2]), 2)]
                for role in sched1 if sched1[role][2] and sched0[role][2] == sched1[role][2]},
            "load": os.getloadavg()[0],
        }
        if timeline and served:
            marks = {"first image served": served[0] - wall0,
                     "last image served": served[-1] - wall0,
                     "crawl row finished": _epoch(finished) - epoch0,
                     "command returned": ended - wall0}
            result["timeline"] = _timeline(samples, served, wall0, marks)
            result["tail_s"] = {
                "last image -> crawl row finished": round(marks["crawl row finished"]
                                                          - marks["last image served"], 2),
                "crawl row finished -> command returned": round(
                    marks["command returned"] - marks["crawl row finished"], 2)}
        return result
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :n"), {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _shares(result: dict[str, Any]) -> str:
    shares = result.get("run_queue_sleep", {})
    return " / ".join(", ".join(f"{100 * v:.0f}%" for v in shares[role])
                      for role in ("worker", "hashing") if role in shares) or "-"


def _speedup(results: list[dict[str, Any]], r: dict[str, Any], key: str) -> str:
    """r[key] against the mean of the 1-worker rounds run the same way (pinned or not,
    same code, same hosts and settings)."""
    same = ("pinned", "code", "hosts", "settings")
    ones = [o[key] for o in results
            if o["workers"] == 1 and key in o and all(o[k] == r[k] for k in same)]
    base = sum(ones) / len(ones) if ones else 0.0
    return f"{r[key] / base:.2f}x" if base and key in r else "-"


def _tail(rounds: list[dict[str, Any]], key: str) -> str:
    values = [r["tail_s"][key] for r in rounds if "tail_s" in r]
    return _spread(values) if values else "-"


def _spread(values: list[float]) -> str:
    values = sorted(values)
    return f"{values[0]} / {values[len(values) // 2]} / {values[-1]}"


def main() -> None:
    global REDIS_URL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=4000)
    parser.add_argument("--images-per-page", type=int, default=5)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--pool-size", type=int, default=200,
                        help="distinct pictures of the site (each image URL serves one with "
                             "its own JPEG comment); generating them is the site's start")
    parser.add_argument("--hosts", default="1",
                        help="loopback hosts the site is split over, comma-separated (one "
                             "site per count, started once; every round runs once per count)")
    parser.add_argument("--host-limit", type=int, default=0,
                        help="TRAWL_HOST_CONCURRENCY, shared by the workers (default 0: 8 "
                             "per worker, so that politeness does not bound the workers)")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every worker (trawl worker -s)")
    parser.add_argument("--redis", default=REDIS_URL,
                        help="Redis URL (its own db number, e.g. redis://127.0.0.1:6379/13; "
                             "default TRAWL_BENCH_REDIS_URL or db 0)")
    parser.add_argument("--pin", nargs="?", const="both", default="no",
                        choices=("no", "both", "only"),
                        help="pin worker i (and its hashing process) to core i mod ncpu: "
                             "--pin runs every round unpinned and pinned, --pin only pinned")
    parser.add_argument("--pg-rows", type=int, default=20000,
                        help="rows of the PostgreSQL write-rate probe, run once after the "
                             "last round (0: skip)")
    parser.add_argument("--timeline", action="store_true",
                        help="per round, per second: images served and each worker's "
                             "committed images, for the ramp and the tail")
    parser.add_argument("--code", default="",
                        help="source trees to compare, comma-separated (e.g. an exported "
                             "older commit): every round runs once per tree, alternated; "
                             "default: this checkout")
    args = parser.parse_args()
    REDIS_URL = args.redis
    codes: list[Path | None] = [Path(c).resolve() for c in args.code.split(",") if c] or [None]
    counts = [int(n) for n in args.workers.split(",")]
    host_counts = [int(n) for n in args.hosts.split(",")]
    modes = {"no": [False], "both": [False, True], "only": [True]}[args.pin]
    # Alternated: each worker count in turn runs on every site, both ways, every tree.
    rounds = [(workers, hosts, pin, code) for workers in counts for hosts in host_counts
              for pin in modes for code in codes]
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}; "
          f"{len(rounds)} rounds", flush=True)
    results = []
    started = time.monotonic()
    server, sites = start_site(args.pages, args.images_per_page, list(dict.fromkeys(host_counts)),
                               args.pool_size)
    print(f"site of {args.pages * args.images_per_page} images on "
          f"{', '.join(map(str, sites))} host(s) up in {time.monotonic() - started:.0f} s",
          flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, (workers, hosts, pin, code) in enumerate(rounds):
                probe = args.pg_rows if i == len(rounds) - 1 else 0
                site = sites[hosts]
                result = run(server, site, workers, Path(tmp), probe, pin=pin, code=code,
                             host_limit=args.host_limit, settings=args.set,
                             timeline=args.timeline)
                results.append(result)
                if result["images"] != result["expected"]:
                    print(f"WARNING: {result['images']} images of {result['expected']}",
                          flush=True)
                if "timeline" in result:
                    _print_timeline(result)
                print(json.dumps({k: v for k, v in result.items() if k != "timeline"}),
                      flush=True)
    finally:
        server.terminate()
        server.wait(10)
    print(f"all rounds: {time.monotonic() - started:.0f} s")
    print()
    print("| code | hosts | workers | pinned | images | s | images/s | speed-up | steady "
          "images/s | speed-up | first image, after last (s) | Redis cmds/image | "
          "Redis CPU us/image | PG rows/image | CPU ms/image: worker / hashing / site / "
          "Redis / PostgreSQL | cores busy | reactor / hashing: ran, waited for a core, asleep | "
          "images by worker | load |")
    print("|---" * 19 + "|")
    for r in results:
        c = r["cpu_ms_per_image"]
        print(f"| {Path(r['code']).name} | {r['hosts']} | {r['workers']} | "
              f"{'yes' if r['pinned'] else 'no'} | {r['images']} | "
              f"{r['seconds']} | {r['images_per_s']} | {_speedup(results, r, 'images_per_s')} | "
              f"{r.get('steady_images_per_s', '-')} | "
              f"{_speedup(results, r, 'steady_images_per_s')} | "
              f"{r.get('first_image_s', '-')}, {r.get('after_last_image_s', '-')} | "
              f"{r['redis_commands_per_image']} | {r['redis_cpu_us_per_image']} | "
              f"{r['pg_rows_per_image']} | {c['worker']} / {c['hashing']} / {c['site']} / "
              f"{c['redis']} / {c['postgres']} | {r['cores_busy']} | {_shares(r)} | "
              f"{' / '.join(map(str, r['images_by_worker']))} | {r['load']:.1f} |")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((Path(r["code"]).name, r["hosts"], r["workers"], r["pinned"]),
                          []).append(r)
    print()
    print("| code | hosts | workers | pinned | rounds | images/s min / median / max | "
          "steady images/s min / median / max | reactor asleep | hashing asleep | "
          "last image -> crawl row finished (s) | -> command returned (s) |")
    print("|---" * 11 + "|")
    for (name, hosts, workers, pin), rs in groups.items():
        asleep = {role: _spread([x["run_queue_sleep"][role][2] for x in rs
                                 if role in x.get("run_queue_sleep", {})] or [0])
                  for role in ("worker", "hashing")}
        print(f"| {name} | {hosts} | {workers} | {'yes' if pin else 'no'} | {len(rs)} | "
              f"{_spread([x['images_per_s'] for x in rs])} | "
              f"{_spread([x.get('steady_images_per_s', 0) for x in rs])} | "
              f"{asleep['worker']} | {asleep['hashing']} | "
              f"{_tail(rs, 'last image -> crawl row finished')} | "
              f"{_tail(rs, 'crawl row finished -> command returned')} |")
    last = results[-1]
    redis_cap = 1e6 / max(0.1, last["redis_cpu_us_per_image"])
    per_worker = last["images_per_s"] / last["workers"]
    print()
    print(f"Projection: one Redis saturates near {redis_cap:,.0f} images/s "
          f"(~{redis_cap / per_worker:,.0f} workers at {per_worker:.0f} images/s each)", end="")
    if last["pg_rows_per_s_one_writer"]:
        pg_cap = last["pg_rows_per_s_one_writer"] / max(0.01, last["pg_rows_per_image"])
        print(f"; one PostgreSQL writer path near {pg_cap:,.0f} images/s "
              f"(~{pg_cap / per_worker:,.0f} workers), before indexes and disk limits", end="")
    print(".")


if __name__ == "__main__":
    main()
