"""Benchmark the parse side of importing a known-hash list: time and peak memory.

Run from the repository root:

    python3 bench/bench_import_parse.py                 # 1M lines, every format
    python3 bench/bench_import_parse.py --lines 10000000 --formats te --modes stream
    python3 bench/bench_import_parse.py --quick         # 100k lines, csv and te

Each format's file is generated in a temporary directory (random hashes, 1% repeated so
duplicates are counted) and parsed in a fresh child process pinned to one core, so that
the peak RSS (VmHWM) belongs to that parse alone; the RSS after imports is subtracted.
Contenders, alternated round by round: `whole` = parse_known_list (the whole list in
memory, repeats removed in a set: what the CLI did before streaming) and `stream` =
iterating open_known_list's KnownListStream (what a streaming import reads). Times are
the child's CPU time. --trace adds tracemalloc's peak from a further child (it slows
parsing ~4x). Storage insertion is bench_import_store.py's.
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
from matchers.lists import open_known_list, parse_known_list
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
start = time.process_time()
if {mode!r} == "whole":
    parsed = parse_known_list(Path({path!r}), hash_type={hash_type!r})
    entries, duplicates, lines, fmt = (len(parsed.entries), parsed.duplicates, parsed.lines,
                                       parsed.format)
else:
    with open_known_list(Path({path!r}), hash_type={hash_type!r}) as stream:
        entries = sum(1 for _ in stream)
    duplicates, lines, fmt = None, stream.lines, stream.format
seconds = time.process_time() - start
peak_traced = tracemalloc.get_traced_memory()[1] if {trace} else 0
peak = status("VmHWM")
print(json.dumps(dict(seconds=seconds, base=base, peak=peak, traced=peak_traced,
                      entries=entries, duplicates=duplicates, lines=lines, format=fmt)))
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


def run_child(
    path: Path, hash_type: str | None, core: int, trace: bool, mode: str
) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), core=core, path=str(path), hash_type=hash_type,
                        trace=trace, mode=mode)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    data: dict[str, float] = json.loads(result.stdout)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,te,pdq-hasher,plain")
    parser.add_argument("--modes", default="whole,stream")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--trace", action="store_true", help="also measure tracemalloc's peak")
    parser.add_argument("--quick", action="store_true", help="100k lines, csv and te, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.formats, args.rounds = 100_000, "csv,te", 2
    modes = args.modes.split(",")
    rng = np.random.default_rng(1)
    print(
        f"{args.lines:,} lines per file, parsed on core {args.core}; "
        f"load average {os.getloadavg()[0]:.1f} at start\n"
    )
    print(
        "| format | mode | file MB | entries | duplicates | CPU s (min / median / max) "
        "| lines/s (median) | peak RSS over baseline MB | tracemalloc peak MB | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="trawl-bench-") as tmp:
        for fmt in args.formats.split(","):
            path = Path(tmp) / f"list-{fmt}.txt"
            hash_type = write_list(fmt, path, args.lines, rng)
            runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
            loads = []
            for round_no in range(args.rounds):
                for mode in modes if round_no % 2 == 0 else modes[::-1]:
                    loads.append(os.getloadavg()[0])
                    runs[mode].append(run_child(path, hash_type, args.core, False, mode))
            for mode, results in runs.items():
                seconds = sorted(r["seconds"] for r in results)
                median = float(np.median(seconds))
                peak = max(r["peak"] - r["base"] for r in results)
                traced = (
                    f"{run_child(path, hash_type, args.core, True, mode)['traced'] / 1e6:,.0f}"
                    if args.trace else "-"
                )
                last = results[-1]
                duplicates = "-" if last["duplicates"] is None else f"{int(last['duplicates']):,}"
                print(
                    f"| {last['format']} | {mode} | {path.stat().st_size / 1e6:,.0f} "
                    f"| {int(last['entries']):,} | {duplicates} "
                    f"| {seconds[0]:.2f} / {median:.2f} / {seconds[-1]:.2f} "
                    f"| {args.lines / median:,.0f} | {peak / 1e6:,.0f} | {traced} "
                    f"| {min(loads):.1f}-{max(loads):.1f} |",
                    flush=True,
                )
            path.unlink()
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
