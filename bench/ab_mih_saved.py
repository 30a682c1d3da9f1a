"""A/B one-query search over saved tables: matchers/mih.py at a revision against the tree.

    python3 bench/ab_mih_saved.py --old af0f3fc --dir /tmp/pdq10m          # PDQ, 10M codes
    python3 bench/ab_mih_saved.py --old af0f3fc --dir /tmp/pdq10m --rounds 4 --core 1

The first run builds the index over bench_matching.py's uniform codes (same seed, same
10,000 queries) and saves its arrays (np.save, ~1.3 GB with the codes) in --dir; later
runs load them, so each A/B costs seconds instead of a 2-3 minute build. Both versions
search the very same arrays (the revision's HammingIndex.restore), their answers are
checked equal, and timed passes alternate (ABBA). Rates are queries per second of this
process's CPU time, pinned to --core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ab_mih import load_revision  # noqa: E402
from bench.bench_matching import make_list, make_queries  # noqa: E402
from matchers.mih import HammingIndex  # noqa: E402

ARRAYS = ("ids", "offsets", "postings", "words")


def saved(folder: Path, size: int, bits: int, radius: int) -> tuple[dict[str, object], dict[str, np.ndarray], np.ndarray]:
    if not (folder / "meta.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(1)
        codes, centres = make_list("uniform", size, bits, radius, rng)
        queries = make_queries(codes, centres, 10_000, radius, 0.1, rng)
        index = HammingIndex(bits, radius_hint=radius)
        index.add(np.arange(size, dtype=np.int64) + 1, codes)
        index.build()
        meta, arrays = index.export()
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array)
        np.save(folder / "queries.npy", queries)
        (folder / "meta.json").write_text(json.dumps(meta))
    meta = json.loads((folder / "meta.json").read_text())
    arrays = {name: np.load(folder / f"{name}.npy") for name in ARRAYS
              if (folder / f"{name}.npy").exists()}
    return meta, arrays, np.load(folder / "queries.npy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--bits", type=int, default=256)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--core", type=int, default=0)
    args = parser.parse_args()
    meta, arrays, queries = saved(args.dir, args.size, args.bits, args.radius)
    new = HammingIndex.restore(meta, arrays)
    old = load_revision(args.old, Path(tempfile.mkdtemp())).HammingIndex.restore(meta, arrays)
    raw = [q.tobytes() for q in queries]
    os.sched_setaffinity(0, {args.core})
    found = [old.search(q, args.radius) for q in raw]
    assert [new.search(q, args.radius) for q in raw] == found
    rates: dict[str, list[float]] = {args.old: [], "tree": []}
    for round_no in range(args.rounds):
        pair = [(args.old, old), ("tree", new)]
        for name, index in pair if round_no % 2 == 0 else pair[::-1]:
            start = time.process_time()
            assert [index.search(q, args.radius) for q in raw] == found
            rates[name].append(len(raw) / (time.process_time() - start))
        print(f"round {round_no}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items())
              + f" q/s (load {os.getloadavg()[0]:.1f})", flush=True)
    for name, values in rates.items():
        values.sort()
        print(f"{name}: {values[0]:,.0f} / {float(np.median(values)):,.0f} / {values[-1]:,.0f} "
              "q/s of CPU time (min / median / max)")


if __name__ == "__main__":
    main()
