"""Hashing benchmark: hash_image throughput on one core, and fidelity to the reference hashes.

    python3 bench/bench_hashing.py            # full run (a few minutes), prints Markdown
    python3 bench/bench_hashing.py --quick    # smaller sets, for a smoke test

Throughput: hash_image (fast path; md5+sha1+sha256+pHash+dHash+PDQ) next to the reference
pipeline (the same digests with imagehash.phash and pdqhash.compute on a full decode, no dHash)
over the same bytes in the same run, pinned to one CPU. Both wall-clock and process CPU rates are
printed: on a shared machine CPU time is the steadier figure.

Fidelity: Hamming distance between hash_image(fast=True) and the reference run on the full
decode (imagehash / pdqhash), per image kind, as p50/p90/p99/max; and PDQ distance to Meta's
published hashes (../shared/reference/pdq) for both paths.
"""

from __future__ import annotations

import os

# One core means one BLAS thread too (set before numpy loads OpenBLAS).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import hashlib
import io
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.sitegen import images as gen  # noqa: E402
from matchers.hashing import hash_image  # noqa: E402

META_DIR = ROOT.parent / "shared" / "reference" / "pdq"


def reference_pipeline(data: bytes) -> tuple[str, str, str, str, str]:
    """What Trawl would do without a fast path: crypto digests, imagehash and pdqhash."""
    md5 = hashlib.md5(data).hexdigest()
    sha1 = hashlib.sha1(data).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        ph = str(imagehash.phash(img))
        vector, _quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    pdq = np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()
    return md5, sha1, sha256, ph, pdq


def reference_hashes(data: bytes) -> tuple[str, str, str]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        vector, _quality = pdqhash.compute(np.asarray(img.convert("RGB")))
        return (
            str(imagehash.phash(img)),
            str(imagehash.dhash(img)),
            np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex(),
        )


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def rate(fn: Callable[[bytes], object], datas: Sequence[bytes], repeat: int) -> tuple[float, float]:
    """Best-of-`repeat` images/s, by wall clock and by process CPU time."""
    fn(datas[0])
    best_wall = best_cpu = 0.0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        for d in datas:
            fn(d)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        best_wall = max(best_wall, len(datas) / wall)
        best_cpu = max(best_cpu, len(datas) / max(cpu, 1e-9))
    return best_wall, best_cpu


def throughput(quick: bool) -> list[str]:
    n = 40 if quick else 200
    rng = np.random.default_rng(0)
    varied = [(int(w), int(w * rng.uniform(0.55, 0.8))) for w in rng.integers(800, 1400, n // 2)]
    sets = {
        "JPEG 1024x768 photo, q85": [gen.photo_jpeg(s) for s in range(n)],
        "JPEG 800-1400 px wide, every size new": [
            gen.photo_jpeg(1000 + i, size) for i, size in enumerate(varied)
        ],
        "JPEG 3000x2000 photo, q85": [gen.photo_jpeg(s, (3000, 2000)) for s in range(n // 10)],
        "PNG 1024x768 photo": [gen.encode(gen.photo(s), "png") for s in range(n // 10)],
        "PNG 3000x2000 photo": [
            gen.encode(gen.photo(s, (3000, 2000)), "png") for s in range(max(3, n // 40))
        ],
    }
    lines = [
        "| images | n | mean size | hash_image fast (wall / CPU) | reference (wall / CPU) |"
        " hash_image fast=False (CPU) | speed-up (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, datas in sets.items():
        repeat = 3 if len(datas) > 20 else 2
        fw, fc = rate(hash_image, datas, repeat)
        rw, rc = rate(reference_pipeline, datas, repeat)
        _sw, sc = rate(lambda d: hash_image(d, fast=False), datas, 1)
        size = sum(map(len, datas)) / len(datas) / 1024
        lines.append(
            f"| {name} | {len(datas)} | {size:.0f} KB | {fw:.0f}/s / {fc:.0f}/s |"
            f" {rw:.1f}/s / {rc:.1f}/s | {sc:.1f}/s | {fc / rc:.1f}x |"
        )
        print(lines[-1], file=sys.stderr)
    datas = sets["JPEG 1024x768 photo, q85"]
    parts = {
        "md5+sha1+sha256 only": lambda d: (
            hashlib.md5(d).digest(),
            hashlib.sha1(d).digest(),
            hashlib.sha256(d).digest(),
        ),
        "JPEG decode at 1/2 scale, greyscale (draft) only": draft_decode,
        "full JPEG decode only": full_decode,
    }
    lines.append("")
    lines.append("Where the time goes (JPEG 1024x768 set, CPU images/s of each step alone):")
    lines.append("")
    for label, fn in parts.items():
        _w, c = rate(fn, datas, 3)
        lines.append(f"- {label}: {c:.0f}/s ({1000 / c:.2f} ms)")
    return lines


def draft_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", (512, 384))
        img.load()


def full_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.load()


def fidelity_sets(quick: bool) -> dict[str, tuple[str, list[bytes]]]:
    """Image sets by name, each tagged "photo" or "graphic" for the aggregate rows."""
    n = 40 if quick else 200
    k = 10 if quick else 40
    rng = np.random.default_rng(1)
    varied = [(int(w), int(w * rng.uniform(0.55, 0.8))) for w in rng.integers(800, 1400, n // 2)]
    photos = [gen.photo(s) for s in range(k)]
    hd = (1920, 1080)
    sets = {
        "photo JPEG 1024x768 q85": ("photo", [gen.photo_jpeg(s) for s in range(n)]),
        "photo JPEG 800-1400 px wide": (
            "photo",
            [gen.photo_jpeg(2000 + i, size) for i, size in enumerate(varied)],
        ),
        "photo JPEG 1920x1080 q90": ("photo", [gen.photo_jpeg(s, hd, 90) for s in range(k // 2)]),
        "photo JPEG 3000x2000 q85": (
            "photo",
            [gen.photo_jpeg(s, (3000, 2000)) for s in range(k // 4)],
        ),
        "photo JPEG 640x480 q75 (not reduced)": (
            "photo",
            [gen.photo_jpeg(s, (640, 480), 75) for s in range(k)],
        ),
        "photo PNG 1600x1200": (
            "photo",
            [gen.encode(gen.photo(s, (1600, 1200)), "png") for s in range(k // 4)],
        ),
        "photo WebP 1024x768": ("photo", [gen.encode(p, "webp") for p in photos]),
        "edited photos (5 edits), JPEG": (
            "photo",
            [gen.encode(edit(p), "jpeg") for p in photos[: k // 2] for edit in gen.EDITS.values()],
        ),
        "line art JPEG 1024x768": (
            "graphic",
            [gen.encode(gen.line_art(s, (1024, 768)), "jpeg") for s in range(k)],
        ),
        "line art JPEG 1920x1080": (
            "graphic",
            [gen.encode(gen.line_art(s, hd), "jpeg") for s in range(k // 2)],
        ),
        "chart JPEG 1024x768": (
            "graphic",
            [gen.encode(gen.chart(s, (1024, 768)), "jpeg") for s in range(k)],
        ),
        "chart PNG 800x600": ("graphic", [gen.encode(gen.chart(s), "png") for s in range(k)]),
        "text card JPEG 1920x1080": (
            "graphic",
            [gen.encode(gen.text_card(s, hd), "jpeg") for s in range(k // 2)],
        ),
        "icon PNG 64x64 (not reduced)": (
            "graphic",
            [gen.encode(gen.icon(s), "png") for s in range(k)],
        ),
    }
    if META_DIR.is_dir():
        sets["Meta's PDQ reference photos"] = (
            "photo",
            [p.read_bytes() for p in sorted(META_DIR.glob("*/*.*"))],
        )
    return sets


def percentiles(values: Sequence[int]) -> str:
    a = np.asarray(values)
    p50, p90, p99 = (np.percentile(a, q, method="higher") for q in (50, 90, 99))
    return f"{p50:.0f} / {p90:.0f} / {p99:.0f} / {a.max()}"


def fidelity(quick: bool) -> list[str]:
    lines = [
        "| image kind | n | pHash p50/p90/p99/max | dHash p50/p90/p99/max | PDQ p50/p90/p99/max |",
        "|---|---:|---|---|---|",
    ]
    totals: dict[str, dict[str, list[int]]] = {}
    for name, (group, datas) in fidelity_sets(quick).items():
        dist: dict[str, list[int]] = {"phash": [], "dhash": [], "pdq": []}
        for data in datas:
            fast = hash_image(data)
            if fast.phash is None or fast.dhash is None or fast.pdq is None:
                raise SystemExit(f"{name}: hash_image failed: {fast.error}")
            ref_ph, ref_dh, ref_pdq = reference_hashes(data)
            dist["phash"].append(distance(fast.phash, ref_ph))
            dist["dhash"].append(distance(fast.dhash, ref_dh))
            dist["pdq"].append(distance(fast.pdq, ref_pdq))
        for key, values in dist.items():
            totals.setdefault(group, {}).setdefault(key, []).extend(values)
        lines.append(row(name, dist))
        print(lines[-1], file=sys.stderr)
    for group, dist in totals.items():
        lines.append(row(f"**all {group}s**", dist))
    return lines


def row(name: str, dist: dict[str, list[int]]) -> str:
    return (
        f"| {name} | {len(dist['pdq'])} | {percentiles(dist['phash'])} |"
        f" {percentiles(dist['dhash'])} | {percentiles(dist['pdq'])} |"
    )


def edit_robustness(quick: bool) -> list[str]:
    """Distance from each photo to its edits (both JPEG q85), fast path, per hash type."""
    seeds = range(10 if quick else 40)
    lines = [
        "| edit | n | pHash p50/p90/max | dHash p50/p90/max | PDQ p50/p90/max |",
        "|---|---:|---|---|---|",
    ]
    originals = {s: gen.photo(s) for s in seeds}
    base = {s: hash_image(gen.encode(img, "jpeg")) for s, img in originals.items()}
    for name, edit in gen.EDITS.items():
        dist: dict[str, list[int]] = {"phash": [], "dhash": [], "pdq": []}
        for s, img in originals.items():
            edited = hash_image(gen.encode(edit(img), "jpeg"))
            for key in dist:
                a, b = getattr(base[s], key), getattr(edited, key)
                dist[key].append(distance(a, b))
        cells = []
        for key in ("phash", "dhash", "pdq"):
            a = np.asarray(dist[key])
            cells.append(f"{np.median(a):.0f} / {np.percentile(a, 90):.0f} / {a.max()}")
        lines.append(f"| {name} | {len(seeds)} | " + " | ".join(cells) + " |")
    return lines


def meta_reference() -> list[str]:
    if not META_DIR.is_dir():
        return [f"(Meta's reference images not found at {META_DIR}; skipped.)"]
    lines = [
        "| file | Meta's PDQ vs hash_image fast | vs fast=False (pdqhash, full decode) |",
        "|---|---:|---:|",
    ]
    with (META_DIR / "PDQMD5TestData.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            rel = row["FilePath"].split("/data/")[-1]
            path = META_DIR / rel
            if not path.is_file() or len(row["Hash"]) != 64:
                continue
            data = path.read_bytes()
            fast, full = hash_image(data), hash_image(data, fast=False)
            if fast.pdq is None or full.pdq is None:
                raise SystemExit(f"{rel}: hash_image failed: {fast.error or full.error}")
            lines.append(
                f"| {rel} | {distance(fast.pdq, row['Hash'])} | {distance(full.pdq, row['Hash'])} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller image sets")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    load = os.getloadavg()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"pinned to CPU {args.cpu}; load average {load[0]:.1f} at start "
          f"(shared machine, other jobs running). Python {platform.python_version()}, "
          f"Pillow {Image.__version__}, numpy {np.__version__}.\n")  # fmt: skip
    print("### Throughput (one core)\n")
    print("\n".join(throughput(args.quick)))
    print("\n### Fidelity: fast path vs reference on the full decode (Hamming distance, bits)\n")
    print("\n".join(fidelity(args.quick)))
    print("\n### Edits of photo-like images: distance to the original (hash_image, bits)\n")
    print("\n".join(edit_robustness(args.quick)))
    print("\n### PDQ vs Meta's published hashes (PDQMD5TestData.csv)\n")
    print("\n".join(meta_reference()))


if __name__ == "__main__":
    main()
