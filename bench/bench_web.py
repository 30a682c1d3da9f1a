"""The web app at volume: review queue page, confirm, claim and dashboard under 10 analysts.

Bulk-generates N image items (hits with their media, pages, matches, and a takedown history
for 15% of them) in a fresh PostgreSQL database with INSERT ... SELECT generate_series,
starts `trawl serve`'s app under uvicorn in a separate process, and lets A analysts (threads,
each with their own account, session cookie and API token) work the queue at once: claim a
batch, load the review page, confirm or reject each image, load the page again and the
dashboard. Server time is the app's own (a Server-Timing header added around the app);
client time includes HTTP on loopback. Prints a Markdown table.

    python3 bench/bench_web.py --quick              # 20,000 items, a fast check
    python3 bench/bench_web.py                      # 1,000,000 items, 10 analysts
    python3 bench/bench_web.py --items 200000 --analysts 5 --rounds 5
    python3 bench/bench_web.py --db URL --think 1   # analysts pausing ~1 s after each request

The database is created on --pg (default: 127.0.0.1, the test server) and dropped
afterwards unless --keep. Hosts are *.example names: nothing is fetched, ever.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

PG_ADMIN = os.environ.get("TRAWL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
QUICK_ITEMS = 20_000
FULL_ITEMS = 1_000_000
KNOWN = 20_000  # known hashes the matches point at
PROVIDERS = 20  # 10.k.0.0/16 for k < 20; servers 10.20-24.x.x are unattributed
TARGETS = {"queue page": 0.100, "confirm": 0.100, "dashboard": 0.300}

# Status by g % 100: 60% pending (a quarter of them low tier), 5% confirmed, 20% rejected,
# 3% notified, 2% live (re-checked, still there), 10% removed.
GENERATE = [
    """INSERT INTO crawls (id, started_at, finished_at, outcome, start_urls, pages, images,
       hashed, hits, errors, stats)
       SELECT g, CAST(:now AS timestamp) - g * interval '4 hours',
              CAST(:now AS timestamp) - g * interval '4 hours' + interval '1 hour', 'finished',
              '[]', 1000, 5000, 5000, 50, 0, '{}' FROM generate_series(1, 60) g""",
    """INSERT INTO known_lists (id, name, format, imported_at, entry_count, duplicate_count)
       VALUES (1, 'bench-list-a', 'csv', :now, 10000, 0),
              (2, 'bench-list-b', 'csv', :now, 10000, 0)""",
    """INSERT INTO known_hashes (id, list_id, hash_type, value, label, category)
       SELECT g, 1 + g % 2, CASE WHEN g % 5 = 0 THEN 'pdq' ELSE 'sha256' END,
              md5('k' || g) || md5('v' || g), 'series-' || (g % 500), 'A' || (g % 3)
       FROM generate_series(1, :known) g""",
    """INSERT INTO media (id, url, url_key, host, content_type, format, size, width, height,
       sha256, md5, server_ip, fetch_status, first_seen, last_seen)
       SELECT g, 'http://img' || (g % 5000) || '.site' || (g % 800) || '.example/' || g
                 || '.jpg',
              md5('u' || g) || md5('w' || g), 'img' || (g % 5000) || '.site' || (g % 800)
                 || '.example',
              'image/jpeg', 'jpeg', 40000 + g % 9000, 640, 480,
              md5('s' || g) || md5('t' || g), md5('m' || g),
              '10.' || (g % 25) || '.' || (g % 250) || '.' || (g % 200), 'ok',
              CAST(:now AS timestamp) - (g % 90) * interval '1 day' - (g % 1440)
                 * interval '1 minute',
              CAST(:now AS timestamp) - (g % 7) * interval '1 day'
       FROM generate_series(1, :n) g""",
    """INSERT INTO observations (crawl_id, media_id, page_url, page_key, seen_at)
       SELECT 1 + g % 60, g, 'http://site' || (g % 800) || '.example/p' || (g / 3),
              md5('p' || (g / 3)) || md5('q' || (g % 800)),
              CAST(:now AS timestamp) - (g % 90) * interval '1 day'
       FROM generate_series(1, :n) g""",
    """INSERT INTO hits (id, media_id, crawl_id, confidence, tier, status, created_at,
       updated_at, notified_at, last_checked_at, renotice_due_at, removed_at, vote_floor)
       SELECT g, g, 1 + g % 60,
              CASE g % 3 WHEN 0 THEN 1.0 WHEN 1 THEN 0.9 ELSE 0.75 END,
              CASE WHEN g % 100 < 60 AND g % 4 = 0 THEN 'low' ELSE 'high' END,
              CASE WHEN g % 100 < 60 THEN 'pending' WHEN g % 100 < 65 THEN 'confirmed'
                   WHEN g % 100 < 85 THEN 'rejected' WHEN g % 100 < 88 THEN 'notified'
                   WHEN g % 100 < 90 THEN 'live' ELSE 'removed' END,
              CAST(:now AS timestamp) - (g % 90) * interval '1 day' - (g % 1440)
                 * interval '1 minute',
              CAST(:now AS timestamp) - (g % 90) * interval '1 day',
              CASE WHEN g % 100 >= 85 THEN CAST(:now AS timestamp) - (g % 90)
                   * interval '1 day' + interval '1 day' END,
              CASE WHEN g % 100 >= 88 THEN CAST(:now AS timestamp) - interval '1 day' END,
              CASE WHEN g % 100 BETWEEN 85 AND 89 THEN CAST(:now AS timestamp) - (g % 90)
                   * interval '1 day' + interval '2 days' END,
              CASE WHEN g % 100 >= 90 THEN CAST(:now AS timestamp) - (g % 90)
                   * interval '1 day' + interval '1 day' + (1 + g % 200) * interval '1 hour'
                   END,
              0
       FROM generate_series(1, :n) g""",
    """INSERT INTO hit_matches (hit_id, known_hash_id, hash_type, distance, threshold,
       confidence, tier, transform, found_at)
       SELECT g, 1 + (g * 5) % :known, 'sha256', 0, 0, 1.0,
              CASE WHEN g % 100 < 60 AND g % 4 = 0 THEN 'low' ELSE 'high' END, NULL,
              CAST(:now AS timestamp) - (g % 90) * interval '1 day'
       FROM generate_series(1, :n) g""",
    """INSERT INTO hit_matches (hit_id, known_hash_id, hash_type, distance, threshold,
       confidence, tier, transform, found_at)
       SELECT g, 5 * (1 + g % (:known / 5)), 'pdq', g % 20, 31, 0.8, 'high',
              CASE WHEN g % 3 = 0 THEN 'rotate_90' END,
              CAST(:now AS timestamp) - (g % 90) * interval '1 day'
       FROM generate_series(1, :n) g WHERE g % 5 = 0 AND (g * 5) % :known <> 0""",
    """INSERT INTO notices (id, reference, provider_key, created_at, created_by, sent_at,
       sent_by, kind)
       SELECT k + 1, 'BENCH-' || k,
              CASE WHEN k < 20 THEN 'Provider ' || k ELSE 'unattributed:site' || k
                   || '.example' END,
              CAST(:now AS timestamp) - interval '100 days', 'bench',
              CAST(:now AS timestamp) - interval '100 days', 'bench', 'initial'
       FROM generate_series(0, 24) k""",
    """INSERT INTO notice_items (notice_id, hit_id)
       SELECT 1 + g % 25, g FROM generate_series(1, :n) g WHERE g % 100 >= 85""",
]


def generate(url: str, items: int, now: datetime) -> float:
    """The schema (open_store), providers, then every row in bulk; returns seconds taken."""
    from storage.db import open_store
    from storage.providers import ProviderSpec, import_providers
    from storage.statstriggers import (
        POSTGRESQL_COUNTS_TRIGGER,
        POSTGRESQL_TAKEDOWN_HITS_TRIGGER,
        rebuild_counts,
    )

    started = time.perf_counter()
    store = open_store(url)
    import_providers(store, [
        ProviderSpec(f"Provider {k}", f"abuse@p{k}.example", "NL", (f"10.{k}.0.0/16",), ())
        for k in range(PROVIDERS)], actor="bench")
    with store.engine.begin() as conn:
        # Rows in bulk, then the per-state counts rebuilt once and one takedown change added
        # (not a trigger call per row).
        triggers = (POSTGRESQL_COUNTS_TRIGGER, POSTGRESQL_TAKEDOWN_HITS_TRIGGER)
        for trigger in triggers:
            conn.execute(sa.text(f"ALTER TABLE hits DISABLE TRIGGER {trigger}"))
        for sql in GENERATE:
            conn.execute(sa.text(sql), {"now": now, "n": items, "known": KNOWN})
        for trigger in triggers:
            conn.execute(sa.text(f"ALTER TABLE hits ENABLE TRIGGER {trigger}"))
        rebuild_counts(conn)
        for table in ("crawls", "hits", "media", "known_hashes", "notices"):
            conn.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"))
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    store.close()
    return time.perf_counter() - started


def accounts(url: str, analysts: int) -> list[dict[str, str]]:
    """One analyst account each: a session cookie (pages) and an API token (writes)."""
    from crawler.services import users
    from storage.db import open_store

    store = open_store(url)
    out = []
    run_id = uuid.uuid4().hex[:6]
    for k in range(analysts):
        name = f"analyst{k}-{run_id}"
        info = users.add_user(store, name, "analyst", "bench password 123", actor="bench")
        token = users.issue_token(store, name, "bench", actor="bench").token
        session = users.start_session(store, info)
        out.append({"name": name, "token": token, "cookie": session.cookie})
    store.close()
    return out


class ServerTiming:
    """ASGI wrapper: the app's own time to the response head, as a Server-Timing header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={took:.2f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


def timed_app() -> ServerTiming:
    """The app as `trawl serve` builds it in each server process (from TRAWL_DATABASE_URL).

    TRAWL_BENCH_SWITCH_INTERVAL (seconds) replaces the GIL switch interval the app sets
    while it serves (crawler.web.app.GIL_SWITCH_INTERVAL_SECONDS), to measure it."""
    from crawler.web import app as web_app

    interval = os.environ.get("TRAWL_BENCH_SWITCH_INTERVAL")
    if interval:
        web_app.GIL_SWITCH_INTERVAL_SECONDS = float(interval)
    return ServerTiming(web_app.app_from_environment())


def serve(url: str, port: int, workers: int = 1) -> None:
    """The app under uvicorn, as `trawl serve --workers N` runs it, timed per request."""
    import uvicorn

    os.environ["TRAWL_DATABASE_URL"] = url
    # "auto", as trawl serve: httptools and uvloop when installed (TRAWL_BENCH_HTTP=h11 and
    # TRAWL_BENCH_LOOP=asyncio measure without them).
    uvicorn.run("bench.bench_web:timed_app", factory=True, workers=workers, host="127.0.0.1",
                port=port, log_level="warning", access_log=False,
                http=os.environ.get("TRAWL_BENCH_HTTP", "auto"),
                loop=os.environ.get("TRAWL_BENCH_LOOP", "auto"))


def server_ms(response: Any) -> float:
    header = response.headers.get("server-timing", "")
    return float(header.split("dur=")[1]) / 1000 if "dur=" in header else float("nan")


def analyst(base: str, account: dict[str, str], rounds: int, batch: int,
            record: Callable[[str, float, float], None], errors: list[str],
            think: float = 0.0, seed: int = 0) -> None:
    """One analyst's rounds. `think` > 0: after each request the analyst pauses a random
    0.5-1.5 x think seconds (reading the evidence before pressing a key); 0 never pauses."""
    import random

    import httpx

    rng = random.Random(seed)

    api = {"Authorization": f"Bearer {account['token']}"}
    with httpx.Client(base_url=base, cookies={"trawl_session": account["cookie"]},
                      timeout=60) as http:

        def call(kind: str, method: str, path: str, **kwargs: Any) -> Any:
            started = time.perf_counter()
            response = http.request(method, path, **kwargs)
            record(kind, server_ms(response), time.perf_counter() - started)
            if response.status_code >= 400:
                errors.append(f"{kind} {path}: {response.status_code} {response.text[:200]}")
            if think > 0:
                time.sleep(rng.uniform(0.5, 1.5) * think)
            return response

        for n in range(rounds):
            claimed = call("claim", "POST", "/api/v1/review/claim", headers=api,
                           json={"limit": batch, "tier": "high"}).json()
            call("queue page", "GET", "/review")
            for k, item in enumerate(claimed):
                verb = "reject" if (n + k) % 4 == 0 else "confirm"
                call("confirm", "POST", f"/api/v1/hits/{item['id']}/{verb}", headers=api,
                     json={"note": "bench"})
            call("queue page", "GET", "/review")
            call("dashboard", "GET", "/")
            if claimed:
                call("image detail", "GET", f"/hits/{claimed[0]['id']}")
            call("hits list", "GET", "/hits?status=pending&tier=high")


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server process stopped while starting")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start in 60 s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q))]


def run(url: str, items: int, analysts: int, rounds: int, batch: int, *,
        generated: bool = False, server_workers: int = 1, think: float = 0.0) -> None:
    now = datetime.utcnow().replace(microsecond=0)
    if not generated:
        took = generate(url, items, now)
        print(f"generated {items:,} items in {took:.1f} s", file=sys.stderr)
    people = accounts(url, analysts)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, "--port", str(port),
                               "--server-workers", str(server_workers)],
                              env=env)
    try:
        wait_for(port, server)
        base = f"http://127.0.0.1:{port}"
        import httpx

        for account in people[:1]:  # warm up: first connections, caches
            httpx.get(f"{base}/", cookies={"trawl_session": account["cookie"]}, timeout=60)
        timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
        lock = threading.Lock()
        errors: list[str] = []

        def record(kind: str, server_s: float, client_s: float) -> None:
            with lock:
                timings[kind].append((server_s, client_s))

        started = time.perf_counter()
        threads = [threading.Thread(target=analyst, args=(base, a, rounds, batch, record,
                                                          errors, think, n))
                   for n, a in enumerate(people)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)
    requests = sum(len(v) for v in timings.values())
    pace = (f"each pausing 0.5-1.5 x {think:g} s after every request" if think > 0
            else "never pausing")
    print(f"\n{items:,} items, {analysts} analysts x {rounds} rounds (batches of {batch}), "
          f"{pace}: {requests} requests in {wall:.1f} s ({requests / wall:.1f}/s); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| request | n | server p50 ms | server p95 ms | server max ms | client p95 ms "
          "| target (server p95) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for kind in ("queue page", "confirm", "claim", "dashboard", "image detail", "hits list"):
        rows = timings.get(kind, [])
        if not rows:
            continue
        server_times = [s for s, _ in rows]
        client_times = [c for _, c in rows]
        target = TARGETS.get(kind)
        verdict = ("" if target is None else
                   f"< {target * 1000:.0f} ms: {'met' if pct(server_times, 0.95) < target else 'NOT met'}")
        print(f"| {kind} | {len(rows)} | {statistics.median(server_times) * 1000:.1f} | "
              f"{pct(server_times, 0.95) * 1000:.1f} | {max(server_times) * 1000:.1f} | "
              f"{pct(client_times, 0.95) * 1000:.1f} | {verdict} |")
    if errors:
        print(f"\n{len(errors)} errors, first: {errors[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=None,
                        help=f"image items to generate (default {FULL_ITEMS:,})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_ITEMS:,} items and 3 rounds: a fast check")
    parser.add_argument("--analysts", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=None, help="batches per analyst")
    parser.add_argument("--batch", type=int, default=10, help="images claimed per batch")
    parser.add_argument("--pg", default=PG_ADMIN, help="a PostgreSQL URL to create the "
                        "bench database next to")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--db", default=None, help="work on a database a previous --keep "
                        "run generated (its URL) instead of generating one")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds an analyst pauses after each request (random 0.5-1.5x;"
                             " default 0: ten analysts who never pause)")
    parser.add_argument("--server-workers", type=int, default=1,
                        help="server processes, as `trawl serve --workers N`")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.server_workers)
        return
    items = args.items or (QUICK_ITEMS if args.quick else FULL_ITEMS)
    rounds = args.rounds or (3 if args.quick else 8)
    if args.db:
        run(args.db, items, args.analysts, rounds, args.batch, generated=True,
            server_workers=args.server_workers, think=args.think)
        return
    name = f"trawl_bench_web_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        run(url, items, args.analysts, rounds, args.batch, server_workers=args.server_workers,
            think=args.think)
    finally:
        if args.keep:
            print(f"kept {url}", file=sys.stderr)
        else:
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :n"), {"n": name})
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
