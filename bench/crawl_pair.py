"""Paired A/B of `trawl crawl` CPU per image: two checkouts crawl the same site AT THE SAME TIME.

On a shared machine the CPU time of a process grows with the load (caches, SMT siblings),
so runs taken one after the other differ by more than a small change does. Here each round
starts a crawl from each checkout together, against one site server, so both meet the same
load; the per-round difference is the figure to read. Reported per round and as min / median
/ max: CPU ms per image of the crawl process and of its hash worker(s), sampled from /proc
every 0.05 s (the last < 0.05 s of each process is missed, alike for both).

    python3 bench/crawl_pair.py --base /tmp/trawl-old --sizes 400x5 --rounds 4
    python3 bench/crawl_pair.py --base /tmp/trawl-old --site http://127.0.0.1:PORT/ --rounds 2

Not a throughput bench: the two crawls share the cores (bench_crawl.py measures img/s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_crawl import ENV, TICK, _cpu_ticks, fresh_db, template_db  # noqa: E402

CONTENDERS = ("base", "trawl")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def run_pair(url: str, trees: dict[str, Path], work: Path, template: Path, n: int,
             order: list[str]) -> list[dict[str, Any]]:
    procs: dict[str, subprocess.Popen[str]] = {}
    for name in order:
        db_url = fresh_db(template, work, f"{name}-{n}")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl", url,
             "--depth", "3", "--no-progress", "--format", "json"],
            cwd=trees[name], env={**ENV, "PYTHONPATH": str(trees[name])},
            stdout=subprocess.PIPE, text=True)
    load = os.getloadavg()[0]
    cpu: dict[str, dict[int, int]] = {name: {} for name in procs}
    while any(p.poll() is None for p in procs.values()):
        for name, proc in procs.items():
            for pid in [proc.pid, *_children(proc.pid)]:
                cpu[name][pid] = max(cpu[name].get(pid, 0), _cpu_ticks(pid))
        time.sleep(0.05)
    rows = []
    for name, proc in procs.items():
        assert proc.stdout is not None
        out = json.loads(proc.stdout.read())
        images = out["images"]
        main = cpu[name].get(proc.pid, 0) / TICK
        workers = sum(t for pid, t in cpu[name].items() if pid != proc.pid) / TICK
        rows.append({"round": n, "contender": name, "images": images, "hits": out["hits"],
                     "crawl_ms": round(main / images * 1000, 2),
                     "worker_ms": round(workers / images * 1000, 2),
                     "total_ms": round((main + workers) / images * 1000, 2),
                     "load": round(load, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _spread(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other checkout (contender base)")
    parser.add_argument("--sizes", default="400x5", help="PAGESxIMAGES_PER_PAGE,...")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--site", help="the start URL of a bench site already serving")
    args = parser.parse_args()
    trees = {"base": Path(args.base).resolve(), "trawl": ROOT}
    print(f"# load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="trawl-pair-") as tmp:
        work = Path(tmp)
        template = template_db(work)
        for size in args.sizes.split(","):
            pages, per_page = (int(n) for n in size.split("x"))
            server = None
            if args.site:
                url = args.site
            else:
                server = subprocess.Popen(
                    [sys.executable, "-m", "crawler.sitegen", "bench", "--pages", str(pages),
                     "--images-per-page", str(per_page)],
                    cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
                assert server.stdout is not None
                url = json.loads(server.stdout.readline())["start_url"]
            rows: list[dict[str, Any]] = []
            try:
                for n in range(args.rounds):
                    order = list(CONTENDERS) if n % 2 == 0 else list(CONTENDERS)[::-1]
                    rows += run_pair(url, trees, work, template, n, order)
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(10)
            print(f"## {size}, {args.rounds} rounds, CPU ms/img min / median / max")
            for name in CONTENDERS:
                mine = [r for r in rows if r["contender"] == name]
                print(f"{name:6s} crawl process {_spread([r['crawl_ms'] for r in mine])} | "
                      f"hash worker {_spread([r['worker_ms'] for r in mine])} | "
                      f"total {_spread([r['total_ms'] for r in mine])}")
            for key in ("crawl_ms", "worker_ms", "total_ms"):
                base = [r[key] for r in rows if r["contender"] == "base"]
                new = [r[key] for r in rows if r["contender"] == "trawl"]
                print(f"trawl - base, {key}, same round: "
                      f"{_spread([b - a for a, b in zip(base, new, strict=True)])}")
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
