"""Benchmark the known-hash indexes: multi-index Hamming search vs brute force, exact lookup.

Run from the repository root, e.g.

    python3 bench/bench_matching.py                      # full run: 1M and 10M codes
    python3 bench/bench_matching.py --quick              # 100k codes, 2,000 queries
    python3 bench/bench_matching.py --types pdq --kinds uniform --old daf1b8a  # vs a revision
    python3 bench/bench_matching.py --threshold-study    # pHash/dHash threshold data
    python3 bench/bench_matching.py --types pdq --kinds uniform --sizes 1000000 \
        --chunks 12,13,14,16 --brute-queries 0              # compare chunk counts

Everything runs on one core (sched_setaffinity, --core); rates are per second of CPU time
and the contenders (one query at a time, batched, and with --old the index code of an
earlier revision over the same tables) alternate round by round. Lists are generated: uniform
random codes, and clustered ones (1000 centres, each code a centre with a few bits
flipped) with queries near the centres. Queries are mostly misses (uniform random) with
--hit-fraction of them made by flipping up to radius/2 bits of a known code. Brute force
is timed on --brute-queries of the same queries and extrapolated (said so in the table);
its answers are compared with the index's. Prints Markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matchers.hamming import brute_force_search
from matchers.index import ExactIndex, HammingIndex

CENTRES = 1000


def rss_bytes() -> int:
    """Current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flip_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """Flip counts[i] random bits of rows[i] in place (bits may repeat: then fewer flips)."""
    bits = rows.shape[1] * 8
    for k in range(int(counts.max(initial=0))):
        sel = np.flatnonzero(counts > k)
        pos = rng.integers(0, bits, len(sel))
        rows[sel, pos // 8] ^= (0x80 >> (pos % 8)).astype(np.uint8)


def make_list(
    kind: str, n: int, bits: int, radius: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    if kind == "uniform":
        return rng.integers(0, 256, (n, bits // 8), dtype=np.uint8), None
    centres = rng.integers(0, 256, (CENTRES, bits // 8), dtype=np.uint8)
    codes = centres[rng.integers(0, CENTRES, n)]
    flip_bits(codes, rng.integers(0, max(2, radius // 2) + 1, n), rng)
    return codes, centres


def make_queries(
    codes: np.ndarray,
    centres: np.ndarray | None,
    count: int,
    radius: int,
    hit_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    bits = codes.shape[1] * 8
    queries = rng.integers(0, 256, (count, bits // 8), dtype=np.uint8)
    hits = rng.random(count) < hit_fraction
    source = codes if centres is None else centres
    queries[hits] = source[rng.integers(0, len(source), int(hits.sum()))]
    flip_bits(queries, np.where(hits, rng.integers(0, radius // 2 + 1, count), 0), rng)
    rng.shuffle(queries)
    return queries


def describe(widths: list[int]) -> str:
    if not widths:
        return "scan"
    low, high = min(widths), max(widths)
    return f"{len(widths)} x {low}" + (f"-{high}" if high != low else "") + " bits"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


def bench_hamming(args: argparse.Namespace, name: str, bits: int, radius: int) -> None:
    print(f"\n#### {name}: {bits}-bit codes, radius {radius}\n")
    old = f" | {args.old} single q/s" if args.old else ""
    print(
        "| list | known | chunks | build s | index MB (arrays / RSS delta) "
        f"| single q/s (min / median / max){old} | batch q/s (median) | hits/query "
        "| brute-force q/s | agree | load |"
    )
    print("|---|---:|---|---:|---:|---:|" + ("---:|" if args.old else "") + "---:|---:|---:|---|---|")
    for kind in args.kinds:
        for n in args.sizes:
            for chunks in args.chunks:
                print(hamming_row(args, kind, n, bits, radius, chunks), flush=True)


def spread(rates: list[float]) -> str:
    return f"{min(rates):,.0f} / {float(np.median(rates)):,.0f} / {max(rates):,.0f}"


def old_index(args: argparse.Namespace, index: HammingIndex) -> object:
    """The same tables searched by matchers/mih.py as of --old (see bench/ab_mih.py)."""
    import tempfile

    from bench.ab_mih import load_revision

    module = load_revision(args.old, Path(tempfile.mkdtemp()))
    tables = index._built()
    old = module.HammingIndex(index.bits, radius_hint=index.radius_hint)
    old._tables = module._Tables(tables.ids, tables.words, tables.widths, tables.starts,
                                 tables.offsets, tables.postings, tables.inline)
    return old


def hamming_row(
    args: argparse.Namespace, kind: str, n: int, bits: int, radius: int, chunks: int | None
) -> str:
    """Build one index, then alternate the contenders round by round on the same queries.

    Rates are queries per second of this process's CPU time (time.process_time): what
    one core does, however busy the shared machine is (caches are still shared).
    """
    load = os.getloadavg()[0]
    rng = np.random.default_rng(args.seed)
    codes, centres = make_list(kind, n, bits, radius, rng)
    queries = make_queries(codes, centres, args.queries, radius, args.hit_fraction, rng)
    ids = np.arange(n, dtype=np.int64) + 1
    before = rss_bytes()
    index = HammingIndex(bits, radius_hint=radius, chunks=chunks)
    index.add(ids, codes)
    start = time.perf_counter()
    index.build()
    build_s = time.perf_counter() - start
    rss_delta = rss_bytes() - before
    raw = [q.tobytes() for q in queries]
    found = [index.search(q, radius) for q in raw]  # also warms the caches
    contenders: dict[str, Callable[[], object]] = {
        "single": lambda: [index.search(q, radius) for q in raw],
        "batch": lambda: index.search_many(queries, radius),
    }
    if args.old and chunks is None:
        previous = old_index(args, index)
        assert [previous.search(q, radius) for q in raw[:200]] == found[:200]  # type: ignore[attr-defined]
        contenders["old"] = lambda: [previous.search(q, radius) for q in raw]  # type: ignore[attr-defined]
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for round_no in range(args.rounds):
        order = list(contenders.items())
        for name, run in order if round_no % 2 == 0 else order[::-1]:
            start = time.process_time()
            result = run()
            rates[name].append(len(raw) / (time.process_time() - start))
            if name == "batch":
                assert result == found
    sample = queries[: args.brute_queries]
    start = time.process_time()
    expected = [brute_force_search(codes, q, radius, ids=ids) for q in sample]
    brute_s = time.process_time() - start
    agree = "yes" if expected == found[: len(sample)] else "NO"
    brute = f"{rate(len(sample), brute_s)} (on {len(sample)})" if sample.size else "-"
    hits = sum(len(r) for r in found) / len(queries)
    old = f" | {spread(rates['old'])}" if "old" in rates else (" | -" if args.old else "")
    return (
        f"| {kind} | {n:,} | {describe(index.chunk_widths)} "
        f"| {build_s:.1f} | {index.nbytes / 1e6:,.0f} / {rss_delta / 1e6:,.0f} "
        f"| {spread(rates['single'])}{old} | {float(np.median(rates['batch'])):,.0f} "
        f"| {hits:.2f} | {brute} | {agree if sample.size else '-'} "
        f"| {load:.1f} -> {os.getloadavg()[0]:.1f} |"
    )


def bench_exact(args: argparse.Namespace) -> None:
    print("\n#### md5: exact lookup (ExactIndex)\n")
    print("| known | build s | index MB | lookups/s | hits/query |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        rng = np.random.default_rng(args.seed)
        codes = rng.integers(0, 256, (n, 16), dtype=np.uint8)
        queries = rng.integers(0, 256, (args.queries, 16), dtype=np.uint8)
        hits = rng.random(args.queries) < args.hit_fraction
        queries[hits] = codes[rng.integers(0, n, int(hits.sum()))]
        index = ExactIndex(128)
        index.add(np.arange(n), codes)
        start = time.perf_counter()
        index.build()
        build_s = time.perf_counter() - start
        raw = [q.tobytes() for q in queries]
        start = time.process_time()  # CPU time, as for the Hamming indexes
        found = [index.lookup(q) for q in raw]
        lookup_s = time.process_time() - start
        per_query = sum(len(f) for f in found) / len(raw)
        print(
            f"| {n:,} | {build_s:.1f} | {index.nbytes / 1e6:,.0f} | {rate(len(raw), lookup_s)} "
            f"| {per_query:.2f} |",
            flush=True,
        )


def threshold_study() -> None:
    """Distances between unrelated generated images vs between an image and its edits."""
    import io
    import itertools
    import random

    import imagehash
    from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

    def shapes(seed: int, count: tuple[int, int], size: tuple[int, int]) -> Image.Image:
        r = random.Random(seed)
        image = Image.new("RGB", (256, 256), tuple(r.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(r.randint(*count)):
            x, y = r.randrange(200), r.randrange(200)
            box = (x, y, x + r.randint(*size), y + r.randint(*size))
            fill = tuple(r.randrange(256) for _ in range(3))
            (draw.rectangle if r.random() < 0.5 else draw.ellipse)(box, fill=fill)
        return image

    def text(seed: int) -> Image.Image:
        r = random.Random(seed)
        image = Image.new("RGB", (300, 100), "white")
        words = "".join(r.choice("ABCDEFGHIJ") for _ in range(8))
        ImageDraw.Draw(image).text((r.randrange(50), r.randrange(50)), words, fill="black")
        return image

    def photo(seed: int) -> Image.Image:
        r = np.random.default_rng(seed)
        small = r.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((256, 256), Image.Resampling.BICUBIC))
        noisy = np.clip(base + r.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        return Image.fromarray(noisy)

    def edits(image: Image.Image) -> list[Image.Image]:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=70)
        return [
            Image.open(io.BytesIO(buffer.getvalue())),
            image.resize((180, 180)),
            image.crop((5, 5, 251, 251)),
            image.filter(ImageFilter.GaussianBlur(1.5)),
            ImageEnhance.Brightness(image).enhance(1.2),
            image.rotate(3),
        ]

    kinds: dict[str, Callable[[int], Image.Image]] = {
        "photo-like": photo,
        "flat, 1-4 shapes": lambda s: shapes(s, (1, 4), (20, 120)),
        "flat, 1 small shape": lambda s: shapes(s, (1, 1), (5, 25)),
        "short text": text,
        "solid colour": lambda s: shapes(s, (0, 0), (1, 1)),
    }
    thresholds = (2, 4, 6, 8, 10, 12)
    for hasher_name, hasher in (("phash", imagehash.phash), ("dhash", imagehash.dhash)):
        print(f"\n#### {hasher_name}: share of pairs within distance t (150 images per kind)\n")
        print("| pairs | " + " | ".join(f"t={t}" for t in thresholds) + " |")
        print("|---|" + "---:|" * len(thresholds))
        for kind, make in kinds.items():
            images = [make(i) for i in range(150)]
            hashes = [hasher(image) for image in images]
            unrelated = np.array([a - b for a, b in itertools.combinations(hashes, 2)])
            cells = [f"{100 * np.mean(unrelated <= t):.2f}%" for t in thresholds]
            print(f"| unrelated {kind} | " + " | ".join(cells) + " |")
            if kind in ("photo-like", "flat, 1-4 shapes"):
                same = np.array(
                    [hasher(e) - h for im, h in zip(images[:60], hashes, strict=False) for e in edits(im)]
                )
                cells = [f"{100 * np.mean(same <= t):.1f}%" for t in thresholds]
                print(f"| edits of {kind} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--brute-queries", type=int, default=20)
    parser.add_argument("--hit-fraction", type=float, default=0.1)
    parser.add_argument("--kinds", default="uniform,clustered")
    parser.add_argument("--types", default="phash,pdq,md5")
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--chunks", default="auto", help="chunk counts to compare, e.g. 12,13,14 (default: auto)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per contender")
    parser.add_argument("--old", default=None,
                        help="also time matchers/mih.py as of this git revision (e.g. daf1b8a)")
    parser.add_argument("--quick", action="store_true",
                        help="a small run to check the script: 100k codes, 2,000 queries")
    parser.add_argument("--threshold-study", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.brute_queries = "100000", 2000, 10
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.kinds = args.kinds.split(",")
    args.chunks = [None if c == "auto" else int(c) for c in args.chunks.split(",")]
    os.sched_setaffinity(0, {args.core})
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pinned to core "
        f"{args.core}, load average {os.getloadavg()[0]:.1f} at start; "
        f"{args.queries:,} queries, {args.hit_fraction:.0%} near a known code"
    )
    if args.threshold_study:
        threshold_study()
        return
    types = args.types.split(",")
    if "phash" in types:
        bench_hamming(args, "pHash", 64, 8)
    if "pdq" in types:
        bench_hamming(args, "PDQ", 256, 31)
    if "md5" in types:
        bench_exact(args)
    peak = 0
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    print(f"\nload average {os.getloadavg()[0]:.1f} at end; peak RSS {peak / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
