"""A/B the multi-index search: matchers/mih.py at a git revision against the working tree.

    python3 bench/ab_mih.py --old HEAD~1                       # pHash, 1M codes, radius 8
    python3 bench/ab_mih.py --old HEAD~1 --bits 256 --radius 31  # PDQ

This machine's speed drifts by up to ~20% within minutes, so two separate runs of
bench_matching.py cannot show a change of that size. Here both versions are imported into
one process, indexes are built over the same codes, their answers are checked equal, and
timed passes over the same 10,000 queries alternate between them (ABBA order). Prints the
best and median q/s of each, one query at a time and batched. One core (--core).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matchers import mih as current  # noqa: E402


def load_revision(rev: str, folder: Path) -> ModuleType:
    """matchers/mih.py as of `rev`, imported under another name beside the current one."""
    source = subprocess.run(
        ["git", "show", f"{rev}:matchers/mih.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = folder / "mih_old.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("matchers.mih_old", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="git revision to compare against")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds (2 passes each)")
    parser.add_argument("--core", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    rng = np.random.default_rng(1)
    width = args.bits // 8
    codes = rng.integers(0, 256, (args.size, width), dtype=np.uint8)
    queries = rng.integers(0, 256, (args.queries, width), dtype=np.uint8)
    for i in range(0, args.queries, 10):  # 10% near a known code, as in bench_matching
        near = codes[rng.integers(args.size)].copy()
        for bit in rng.choice(args.bits, args.radius // 2, replace=False):
            near[bit // 8] ^= 1 << (bit % 8)
        queries[i] = near
    as_bytes = [q.tobytes() for q in queries]
    with tempfile.TemporaryDirectory() as folder:
        old = load_revision(args.old, Path(folder))
    indexes = {}
    for name, module in (("old", old), ("new", current)):
        index = module.HammingIndex(args.bits)
        index.add(np.arange(args.size), codes)
        index.build()
        indexes[name] = index
    for q in as_bytes[:2000]:
        if indexes["old"].search(q, args.radius) != indexes["new"].search(q, args.radius):
            raise SystemExit("the two versions disagree: fix that before timing them")
    single: dict[str, list[float]] = {"old": [], "new": []}
    batch: dict[str, list[float]] = {"old": [], "new": []}
    for round_ in range(2 * args.rounds):
        for name in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
            index = indexes[name]
            start = time.perf_counter()
            for q in as_bytes:
                index.search(q, args.radius)
            single[name].append(len(as_bytes) / (time.perf_counter() - start))
            start = time.perf_counter()
            index.search_many(queries, args.radius)
            batch[name].append(len(as_bytes) / (time.perf_counter() - start))
    print(
        f"{args.bits}-bit codes, {args.size:,} known, radius {args.radius}, "
        f"{args.queries:,} queries, old = {args.old}, load average {os.getloadavg()[0]:.1f}"
    )
    for name in ("old", "new"):
        s, b = sorted(single[name]), sorted(batch[name])
        print(
            f"{name}: single best {s[-1]:,.0f} median {s[len(s) // 2]:,.0f} q/s; "
            f"batch best {b[-1]:,.0f} median {b[len(b) // 2]:,.0f} q/s"
        )


if __name__ == "__main__":
    main()
