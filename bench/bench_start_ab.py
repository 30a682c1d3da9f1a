"""A/B of a `trawl crawl` start: code trees x databases, alternated round by round.

Each run is `python3 -m crawler.cli.main --db URL crawl` of a one-page site on 127.0.0.1 in a
fresh process from the given tree; "to first request" is the wall time from starting the
process to the site's first request (robots.txt), "start CPU" the crawl process's CPU
seconds up to it. The databases must exist with their known hashes and a current matcher
file (one crawl of each builds it: bench_startup.py's fill, then any crawl). Each tree's
modules are byte-compiled first, as an installed package's are.

    git worktree add --detach /tmp/trawl-old <rev>
    python3 bench/bench_start_ab.py --rounds 5 --tree before=/tmp/trawl-old --tree now=. \\
        --db "sqlite 0=sqlite:////tmp/empty.db" --db "sqlite 10M=sqlite:////tmp/10m.db"
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import crawl_start


def run(root: str, url: str) -> tuple[float, float]:
    result = crawl_start(url, Path(root))
    return float(result["seconds"]), float(result["start_cpu_s"])  # type: ignore[arg-type]


def pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep:
            raise SystemExit(f"--{what} {value!r}: write it as NAME=VALUE")
        out[name] = target
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR (repeatable)")
    parser.add_argument("--db", action="append", default=[], help="NAME=URL (repeatable)")
    args = parser.parse_args()
    trees = pairs(args.tree or [f"this=.{os.sep}"], "tree")
    dbs = pairs(args.db, "db")
    if not dbs:
        raise SystemExit("give at least one --db NAME=URL")
    for root in trees.values():
        for package in ("crawler", "matchers", "storage", "spiders"):
            compileall.compile_dir(str(Path(root) / package), quiet=2)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    for round_no in range(args.rounds):
        order = [(t, d) for d in dbs for t in trees]
        for tree, db in order[::-1] if round_no % 2 else order:
            wall, cpu = run(trees[tree], dbs[db])
            results.setdefault((tree, db), []).append((wall, cpu))
            print(f"{round_no} {tree} {db}: wall {wall:.3f} s, start CPU {cpu:.3f} s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end\n")
    print("| db | code | to first request s (wall) min / median / max "
          "| start CPU s min / median / max |")
    print("|---|---|---|---|")
    for (tree, db), runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        print(f"| {db} | {tree} | {min(walls):.2f} / {statistics.median(walls):.2f} / "
              f"{max(walls):.2f} | {min(cpus):.2f} / {statistics.median(cpus):.2f} / "
              f"{max(cpus):.2f} |")


if __name__ == "__main__":
    main()
