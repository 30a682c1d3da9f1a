"""CPU per request of the web app: what each kind of request costs the server process and
PostgreSQL, one request at a time, on a database bench_web.py generated and kept.

    python3 bench/web_cpu.py --db URL [--rounds 8]

Starts the app under uvicorn in its own process (one server process, as bench_web.py's
`--server-workers 1`), then one analyst (a fresh account) works the queue as bench_web.py's
analysts do (claim, queue page, confirm or reject each image, queue page, dashboard, image
detail, hits list), one request at a time. Per kind of request it prints the server
process's CPU and the CPU of the PostgreSQL backends serving the bench database (both
from /proc's schedstat: time on a CPU, in ns), summed over the requests and divided by
their number, and the median server time (its Server-Timing header). With no other request in flight this is
what a request costs, whatever else the machine runs (contention shows in wall time,
not in CPU time). Linux only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from bench_web import accounts, free_port, server_ms, wait_for  # noqa: E402

KINDS = ("queue page", "confirm", "claim", "dashboard", "image detail", "hits list",
         "me (API)", "static file")


def cpu_of(pids: list[int]) -> float:
    """Seconds these processes (all their threads) ran on a CPU: the kernel's schedstat,
    in nanoseconds (/proc/PID/stat's user + system ticks are 10 ms apart, too coarse for
    requests of a few milliseconds). A thread that ended in between is not counted."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total / 1e9


def server_stack(env: dict[str, str]) -> str:
    """The HTTP parser and event loop uvicorn runs the server with ("auto" picks httptools
    and uvloop when the server's environment has them; TRAWL_BENCH_HTTP/_LOOP force)."""
    found = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; print("
         "'httptools' if u.find_spec('httptools') else 'h11', "
         "'uvloop' if u.find_spec('uvloop') else 'asyncio')"],
        env=env, capture_output=True, text=True, check=False).stdout.split()
    http = os.environ.get("TRAWL_BENCH_HTTP", "auto")
    loop = os.environ.get("TRAWL_BENCH_LOOP", "auto")
    http = found[0] if http == "auto" and found else http
    loop = found[1] if loop == "auto" and len(found) > 1 else loop
    return f"http {http}, loop {loop}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    import httpx

    (account,) = accounts(args.db, 1)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bench_web.py"),
                               "--serve", args.db, "--port", str(port),
                               "--server-workers", "1"], env=env)
    monitor = sa.create_engine(args.db, isolation_level="AUTOCOMMIT")
    name = sa.engine.make_url(args.db).database
    cpu: dict[str, float] = defaultdict(float)
    pg: dict[str, float] = defaultdict(float)
    took: dict[str, list[float]] = defaultdict(list)
    try:
        wait_for(port, server)
        api = {"Authorization": f"Bearer {account['token']}"}
        with monitor.connect() as conn, httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                cookies={"trawl_session": account["cookie"]}, timeout=60) as http:

            def backends() -> list[int]:
                return [int(p) for p in conn.execute(sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :n "
                    "AND pid <> pg_backend_pid()"), {"n": name}).scalars()]

            for _ in range(2):  # the first requests compile statements and templates
                http.get("/review")
                http.get("/")
            pids = backends()

            def call(kind: str, method: str, path: str, **kwargs: Any) -> Any:
                s0, p0 = cpu_of([server.pid]), cpu_of(pids)
                response = http.request(method, path, **kwargs)
                cpu[kind] += cpu_of([server.pid]) - s0
                pg[kind] += cpu_of(pids) - p0
                took[kind].append(server_ms(response))
                if response.status_code >= 400:
                    print(f"{kind} {path}: {response.status_code} {response.text[:200]}",
                          file=sys.stderr)
                return response

            for n in range(args.rounds):
                pids = backends()  # the pool may have opened another connection
                claimed = call("claim", "POST", "/api/v1/review/claim", headers=api,
                               json={"limit": args.batch, "tier": "high"}).json()
                call("queue page", "GET", "/review")
                for k, item in enumerate(claimed):
                    verb = "reject" if (n + k) % 4 == 0 else "confirm"
                    call("confirm", "POST", f"/api/v1/hits/{item['id']}/{verb}",
                         headers=api, json={"note": "bench"})
                call("queue page", "GET", "/review")
                call("dashboard", "GET", "/")
                if claimed:
                    call("image detail", "GET", f"/hits/{claimed[0]['id']}")
                call("hits list", "GET", "/hits?status=pending&tier=high")
                for _ in range(5):  # what any request costs: who am I, a static file
                    call("me (API)", "GET", "/api/v1/me", headers=api)
                    call("static file", "GET", "/static/app.css")
    finally:
        server.terminate()
        server.wait(30)
        monitor.dispose()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; server: "
          f"{server_stack(env)}\n")
    print("| request | n | server CPU ms / request | PostgreSQL CPU ms / request "
          "| server time p50 ms |")
    print("|---|---:|---:|---:|---:|")
    for kind in KINDS:
        n = len(took[kind])
        if n:
            print(f"| {kind} | {n} | {cpu[kind] / n * 1000:.1f} | {pg[kind] / n * 1000:.1f} "
                  f"| {statistics.median(took[kind]) * 1000:.1f} |")


if __name__ == "__main__":
    main()
