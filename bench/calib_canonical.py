"""Calibration of CANON_THRESHOLD: how far apart the canonical hashes of unrelated graphics lie,
and how far a graphic's served copies move from its own.

    python3 bench/calib_canonical.py [--per-kind 120] [--seed 9000]

`--per-kind` generated graphics of each of seven kinds (chart, diagram, screenshot, text card,
line art, pie chart, banner; seeds not used by bench_variants), each hashed as a crop-augmented
list stores it (the canonical forms of the whole image, its trim and the LIST_CROPS:
matchers.variants.list_canonical_hashes) and served three ways as a crawl meets
it (JPEG q80, a third resized to 75% first: as is, framed 10%, captioned 15%), each hashed by
hash_image, whose canonical variants are the queries. Reported: for each distance, the
(query form, stored form) pairs of *different* graphics within it, and the distinct graphic
pairs they join (the false-hit side); and each served copy's nearest own stored form (the
recall side).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_variants import _caption, _frame, served  # noqa: E402
from crawler.sitegen import images as gen  # noqa: E402
from matchers.digests import is_canonical  # noqa: E402
from matchers.hashing import hash_image  # noqa: E402
from matchers.variants import list_canonical_hashes  # noqa: E402

KINDS = ("chart", "diagram", "screenshot", "text_card", "line_art", "pie_chart", "banner")
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def codes(values: list[str]) -> np.ndarray:
    return np.array([np.frombuffer(bytes.fromhex(v), np.uint8) for v in values], np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=120)
    parser.add_argument("--seed", type=int, default=9000)
    parser.add_argument("--show", type=int, default=28, help="list unrelated pairs this near")
    args = parser.parse_args()
    started = time.monotonic()
    rng = np.random.default_rng(args.seed)
    kinds: list[str] = []
    stored: list[tuple[int, str, str]] = []  # (image, form, pdq)
    queries: list[tuple[int, str, str]] = []  # (image, how served + form, pdq)
    wraps = {"as served": lambda i, r: i, "framed": _frame(0.1), "captioned": _caption(0.15)}
    image_no = 0
    for kind in KINDS:
        for k in range(args.per_kind):
            img = gen.sample(kind, args.seed + k, k).convert("RGB")
            grey = img.convert("L")
            kinds.append(kind)
            for v in list_canonical_hashes(grey):
                if v.pdq_quality >= 50:
                    stored.append((image_no, v.name, v.pdq))
            for how, wrap in wraps.items():
                d = hash_image(served(wrap(img, rng), rng))
                for v in d.variants:
                    if is_canonical(v.name) and v.pdq_quality >= 50:
                        queries.append((image_no, f"{how}: {v.name}", v.pdq))
            image_no += 1
    print(f"{image_no} graphics; {len(stored)} stored canonical forms, {len(queries)} query "
          f"forms; hashed in {time.monotonic() - started:.0f} s\n")
    s_img = np.array([s[0] for s in stored])
    q_img = np.array([q[0] for q in queries])
    s_codes, q_codes = codes([s[2] for s in stored]), codes([q[2] for q in queries])
    limits = (16, 20, 24, 28, 32, 36, 40)
    pairs = dict.fromkeys(limits, 0)
    joined: dict[int, set[tuple[int, int]]] = {t: set() for t in limits}
    close: list[str] = []
    nearest_own = np.full(len(queries), 256)
    nearest_other = np.full(len(queries), 256)
    for i in range(len(queries)):
        dist = _POPCOUNT[np.bitwise_xor(s_codes, q_codes[i])].sum(axis=1, dtype=np.int32)
        own = s_img == q_img[i]
        nearest_own[i] = dist[own].min() if own.any() else 256
        other = dist[~own]
        nearest_other[i] = other.min()
        for t in limits:
            hit = np.flatnonzero(~own)[other <= t]
            pairs[t] += len(hit)
            joined[t].update((int(q_img[i]), int(s_img[j])) for j in hit)
        for j in np.flatnonzero(~own)[other <= args.show]:
            close.append(f"{int(dist[j])}: {kinds[q_img[i]]} {q_img[i]} {queries[i][1]} -> "
                         f"{kinds[s_img[j]]} {s_img[j]} {stored[j][1]}")
    total = int((~(s_img[None, :] == q_img[:, None])).sum())
    print(f"Unrelated (query form, stored form) pairs: {total:,}; nearest unrelated per query "
          f"form: min {nearest_other.min()}, 1st percentile {np.percentile(nearest_other, 1):.0f}\n")
    print("| distance <= | unrelated form pairs | distinct graphic pairs |")
    print("|---:|---:|---:|")
    for t in limits:
        print(f"| {t} | {pairs[t]} | {len(joined[t])} |")
    print()
    print("Each served copy's nearest own stored canonical form (query forms whose image has "
          "one), by how it was served:\n")
    print("| served | query forms | median | 90th pct | max | share <= 24 |")
    print("|---|---:|---:|---:|---:|---:|")
    for how in wraps:
        sel = np.array([q[1].startswith(how) for q in queries])
        # per served copy: the best of its query forms
        best: dict[int, int] = {}
        for k in np.flatnonzero(sel).tolist():
            best[int(q_img[k])] = min(best.get(int(q_img[k]), 256), int(nearest_own[k]))
        own_best = np.array(list(best.values()))
        print(f"| {how} | {int(sel.sum())} | {np.median(own_best):.0f} | "
              f"{np.percentile(own_best, 90):.0f} | {own_best.max()} | "
              f"{100 * np.mean(own_best <= 24):.0f}% |")
    print(f"\nUnrelated pairs within {args.show} (distance: query graphic, form -> stored "
          "graphic, form):\n")
    print("\n".join(f"    {line}" for line in sorted(close)))
    print(f"\nTook {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
