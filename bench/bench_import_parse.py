"""Benchmark the parse side of importing a 1M-line known-hash list: time and peak memory.

Run from the repository root:

    python3 bench/bench_import_parse.py                 # 1M lines, every format
    python3 bench/bench_import_parse.py --lines 200000 --formats csv

Each format's file is generated in a temporary directory (random hashes, 1% repeated so
duplicates are counted) and parsed in a fresh child process pinned to one core, so that
the peak RSS (VmHWM) belongs to that parse alone; the RSS after imports is subtracted. tracemalloc's peak is measured in a second child (it slows parsing ~4x, so
its run is not the timed one). Storage insertion is a separate benchmark (H3's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import gc, json, os, sys, time, tracemalloc
sys.path.insert(0, {root!r})
os.sched_setaffinity(0, {{{core}}})
from matchers.lists import parse_known_list
from pathlib import Path
def status(field):
    # VmHWM is this process's own peak; ru_maxrss would include the parent's before exec.
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
gc.collect()
base = status("VmRSS")
if {trace}:
    tracemalloc.start()
start = time.perf_counter()
parsed = parse_known_list(Path({path!r}), hash_type={hash_type!r})
seconds = time.perf_counter() - start
peak_traced = tracemalloc.get_traced_memory()[1] if {trace} else 0
peak = status("VmHWM")
print(json.dumps(dict(seconds=seconds, base=base, peak=peak, traced=peak_traced,
                      entries=len(parsed.entries), duplicates=parsed.duplicates,
                      lines=parsed.lines, format=parsed.format)))
"""


def write_list(fmt: str, path: Path, lines: int, rng: np.random.Generator) -> str | None:
    """Write a `lines`-line list of format `fmt`; returns the hash type a plain list needs."""
    unique = int(lines * 0.99)
    pdq = [os.urandom(32).hex() for _ in range(unique)]
    picks = np.concatenate([np.arange(unique), rng.integers(0, unique, lines - unique)])
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            out.write("hash_type,hash,label,source,category,case_ref\r\n")
            for i, k in enumerate(picks):
                kind, value = ("pdq", pdq[k]) if k % 2 else ("md5", pdq[k][:32])
                out.write(f"{kind},{value},image {k}.jpg,hotline-a,A{k % 3},C-{i}\r\n")
        elif fmt == "te":
            for k in picks:
                out.write(f"pdq {pdq[k]}\n")
        elif fmt == "pdq-hasher":
            for k in picks:
                out.write(f"{pdq[k]},{k % 101},photos/{k}.jpg\n")
        else:
            for k in picks:
                out.write(f"{pdq[k][:32]}\n")
            return "md5"
    return None


def run_child(path: Path, hash_type: str | None, core: int, trace: bool) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), core=core, path=str(path), hash_type=hash_type, trace=trace)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    data: dict[str, float] = json.loads(result.stdout)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,te,pdq-hasher,plain")
    parser.add_argument("--core", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(
        f"{args.lines:,} lines per file, parsed on core {args.core}; "
        f"load average {os.getloadavg()[0]:.1f} at start\n"
    )
    print(
        "| format | file MB | entries | duplicates | parse s | lines/s "
        "| peak RSS over baseline MB | tracemalloc peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="trawl-bench-") as tmp:
        for fmt in args.formats.split(","):
            path = Path(tmp) / f"list-{fmt}.txt"
            hash_type = write_list(fmt, path, args.lines, rng)
            timed = run_child(path, hash_type, args.core, trace=False)
            traced = run_child(path, hash_type, args.core, trace=True)
            print(
                f"| {timed['format']} | {path.stat().st_size / 1e6:,.0f} "
                f"| {int(timed['entries']):,} | {int(timed['duplicates']):,} "
                f"| {timed['seconds']:.2f} | {args.lines / timed['seconds']:,.0f} "
                f"| {(timed['peak'] - timed['base']) / 1e6:,.0f} "
                f"| {traced['traced'] / 1e6:,.0f} |",
                flush=True,
            )
            path.unlink()
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
