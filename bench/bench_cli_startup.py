"""How long `trawl` commands take to start and answer: --help and the listing commands.

Each command runs as its own process (`python3 -m crawler.cli.main ...`, as the console script
does), against a SQLite database made by `trawl init` with a few rows in it. The commands are
alternated round by round, so a slow moment of the machine hits all of them alike. Prints a
Markdown table of wall time per command (min / median / max over the rounds) and the load.

    python3 bench/bench_cli_startup.py             # 15 rounds
    python3 bench/bench_cli_startup.py --rounds 5  # quicker
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "seeds list": ["seeds", "list"],
    "hits list": ["hits", "list"],
    "hashes lists": ["hashes", "lists"],
    "crawls list": ["crawls", "list"],
    "schedule list": ["schedule", "list"],
    "stats": ["stats"],
}


def trawl(db: str, *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "crawler.cli.main", "--db", db, *args], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/trawl.db"
        trawl(db, "init")
        trawl(db, "seeds", "add", "http://127.0.0.1:9/", "http://127.0.0.2:9/", "--tag", "t")
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.rounds):
            for name, command in COMMANDS.items():
                wall, used = trawl(db, *command)
                times[name].append(wall)
                cpu[name].append(used)
    load = os.getloadavg()
    print(f"CLI start-up, {args.rounds} rounds alternated; load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs\n")
    print("| command | wall min s | wall median s | wall max s | CPU median s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, values in times.items():
        print(f"| `trawl {name}` | {min(values):.3f} | {statistics.median(values):.3f} | "
              f"{max(values):.3f} | {statistics.median(cpu[name]):.3f} |")


if __name__ == "__main__":
    main()
