"""Hashing benchmark: hash_image throughput on one core, and fidelity to the reference hashes.

    python3 bench/bench_hashing.py            # full run (~30 min), prints Markdown
    python3 bench/bench_hashing.py --quick    # smaller sets, for a smoke test
    python3 bench/bench_hashing.py --sections real,blas   # only some sections
    python3 bench/bench_hashing.py --sections ab --old main   # this tree vs a revision
    python3 bench/bench_hashing.py --sections records --old main   # every record the same?

Real images (bench/realimages.py; needs the `bench` extra): fidelity of hash_image (fast) to
imagehash/pdqhash on the full decode, per image class and size class (p50/p99/max), the path
the fast path took, and CPU images/s of hash_image and the reference pipeline over the same
bytes, alternated round by round in one process (min/median/max over rounds).

Before/after (`ab`, with --old REV): hash_image of this tree, hash_image as of git revision
REV, and the reference pipeline, each in its own worker process pinned to the same CPU, over
the same bytes (the crawl bench's 1024x768 photos, and the real set), round by round in a
rotating order; CPU images/s per group, min/median/max over rounds.

Records (`records`, with --old REV): hash_image of this tree and of REV, three ways (fast,
fast without variants, fast=False), on the crawl bench's photos, the real set and the
generated fidelity sets; how many images' records differ, per set (a speed change that
keeps every bit shows 0 everywhere).

BLAS: CPU per image of hash_image in fresh processes with and without OPENBLAS_NUM_THREADS.

Generated images (crawler/sitegen/images), throughput: hash_image (fast path; md5+sha1+sha256+pHash+dHash+PDQ) next to the reference
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
import numpy.typing as npt
import pdqhash
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import realimages  # noqa: E402
from crawler.sitegen import images as gen  # noqa: E402
from matchers.hashing import hash_image, hash_path  # noqa: E402
from tests.reference import pdq_reference_dir  # noqa: E402

META_DIR = pdq_reference_dir()


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


# --- real images -------------------------------------------------------------------------------

# The bounds hash_image (fast) must keep to the reference, in every class (issue 15).
BOUNDS = {"phash": (2, 4), "dhash": (2, 4), "pdq": (6, 10)}  # (p99, max)
HASHES = ("phash", "dhash", "pdq")
PATHS = ("reduced", "graphic", "near_ties", "full")


def pct(values: Sequence[int], q: float) -> int:
    return int(np.percentile(np.asarray(values), q, method="higher"))


def real_fidelity(images: list[realimages.RealImage]) -> list[str]:
    """Distances fast vs reference per image class and size class, and the paths taken."""
    dist: dict[str, dict[str, list[int]]] = {}  # group -> hash -> distances
    paths: dict[str, dict[str, int]] = {}
    for image in images:
        fast = hash_image(image.data)
        if fast.phash is None or fast.dhash is None or fast.pdq is None:
            raise SystemExit(f"{image.name}: hash_image failed: {fast.error}")
        ref = reference_hashes(image.data)
        path = hash_path(image.data) or "none"
        for group in (image.kind, image.size_class, f"{image.kind} / {image.size_class}", "all"):
            cell = dist.setdefault(group, {h: [] for h in HASHES})
            for key, value in zip(HASHES, ref, strict=True):
                cell[key].append(distance(getattr(fast, key), value))
            counts = paths.setdefault(group, dict.fromkeys(PATHS, 0))
            counts[path] = counts.get(path, 0) + 1
    lines = [
        "| class | n | pHash p50/p99/max | dHash p50/p99/max | PDQ p50/p99/max |"
        " reduced / graphic / near-ties / full |",
        "|---|---:|---|---|---|---|",
    ]
    kinds = [k for k in realimages.KINDS if k in dist]
    sizes = [g for g in sorted({i.size_class for i in images}, key=_size_key)]
    for group in [*kinds, *sizes, "all"]:
        lines.append(_fidelity_row(group, dist[group], paths[group]))
    over = []
    for group, cell in dist.items():
        for key, (p99_bound, max_bound) in BOUNDS.items():
            p99, top = pct(cell[key], 99), max(cell[key])
            if p99 > p99_bound or top > max_bound:
                over.append(f"{group} {key} p99 {p99} max {top}")
    lines.append("")
    lines.append(
        "Bounds (p99 / max): pHash and dHash 2 / 4, PDQ 6 / 10, checked in every class, size "
        "class and class x size cell: "
        + ("all within." if not over else "OVER in " + "; ".join(sorted(over)) + ".")
    )
    return lines


def _size_key(size_class: str) -> int:
    return int(size_class.split()[-1].split("-")[0])


def _fidelity_row(group: str, cell: dict[str, list[int]], paths: dict[str, int]) -> str:
    stats = " | ".join(f"{pct(cell[h], 50)} / {pct(cell[h], 99)} / {max(cell[h])}" for h in HASHES)
    taken = " / ".join(str(paths.get(p, 0)) for p in PATHS)
    return f"| {group} | {len(cell['pdq'])} | {stats} | {taken} |"


def real_speed(images: list[realimages.RealImage], rounds: int) -> list[str]:
    """CPU images/s per class, hash_image vs the reference, alternated round by round.

    Each round times every image once with each pipeline (process CPU time, per image), the
    order of the two pipelines swapped every round; a group's rate in a round is its images
    over the sum of their times.
    """
    datas = [i.data for i in images]
    for d in datas:  # warm-up: operator caches, lazy imports
        hash_image(d)
        reference_pipeline(d)
    fast_t = np.zeros((rounds, len(datas)))
    ref_t = np.zeros((rounds, len(datas)))
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        order = [(hash_image, fast_t), (reference_pipeline, ref_t)]
        for fn, out in order if r % 2 == 0 else order[::-1]:
            for j, d in enumerate(datas):
                c0 = time.process_time()
                fn(d)
                out[r, j] = time.process_time() - c0
        loads.append(os.getloadavg()[0])
    groups: dict[str, list[int]] = {}
    for j, image in enumerate(images):
        groups.setdefault(image.kind, []).append(j)
        if image.content == "photo":
            groups.setdefault("all photos (any format)", []).append(j)
        groups.setdefault("mixed: the whole set", []).append(j)
        groups.setdefault(f"path: {hash_path(image.data)}", []).append(j)
    lines = [
        "| class | n | hash_image CPU img/s min / median / max | reference CPU img/s"
        " min / median / max | speed-up median (min-max over rounds) |",
        "|---|---:|---|---|---|",
    ]
    order_names = [k for k in realimages.KINDS if k in groups]
    by_path = [f"path: {p}" for p in PATHS]
    for name in [*order_names, "all photos (any format)", "mixed: the whole set", *by_path]:
        idx = groups.get(name)
        if not idx:
            continue
        fast_rates = len(idx) / fast_t[:, idx].sum(axis=1)
        ref_rates = len(idx) / ref_t[:, idx].sum(axis=1)
        ratios = fast_rates / ref_rates
        lines.append(
            f"| {name} | {len(idx)} | {_spread(fast_rates)} | {_spread(ref_rates)} |"
            f" {np.median(ratios):.1f}x ({ratios.min():.1f}-{ratios.max():.1f}) |"
        )
        print(lines[-1], file=sys.stderr)
    lines.append("")
    lines.append(
        f"{rounds} rounds; 1-minute load average {' -> '.join(f'{v:.1f}' for v in loads)} "
        "(before the first round and after each)."
    )
    return lines


def _spread(rates: npt.NDArray[np.float64]) -> str:
    return f"{rates.min():.0f} / {np.median(rates):.0f} / {rates.max():.0f}"


# --- BLAS threading ------------------------------------------------------------------------------

_BLAS_CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
from matchers.hashing import hash_image
from crawler.sitegen import images as gen
datas = [gen.photo_jpeg(s) for s in range({n})]
hash_image(datas[0])
c0, w0 = time.process_time(), time.perf_counter()
for d in datas:
    hash_image(d)
print((time.process_time() - c0) / len(datas) * 1000, (time.perf_counter() - w0) / len(datas) * 1000)
"""


def blas_threads(quick: bool) -> list[str]:
    """CPU per image in fresh processes (not pinned: BLAS may use both cores)."""
    import subprocess

    n = 40 if quick else 200
    base = {k: v for k, v in os.environ.items() if k not in _BLAS_VARS}
    cases = {
        "no BLAS variable set (a plain library caller: hash_image limits BLAS itself)": {},
        "OPENBLAS_NUM_THREADS=1 (what the CLI and the hash workers set)": {
            "OPENBLAS_NUM_THREADS": "1"
        },
        "OPENBLAS_NUM_THREADS=2 (a caller choosing threads: left alone)": {
            "OPENBLAS_NUM_THREADS": "2"
        },
    }
    lines = ["| process environment | CPU ms / image | wall ms / image |", "|---|---:|---:|"]
    for label, extra in cases.items():
        out = subprocess.run(
            [sys.executable, "-c", _BLAS_CHILD.format(root=str(ROOT), n=n)],
            env={**base, **extra},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        lines.append(f"| {label} | {float(out[0]):.2f} | {float(out[1]):.2f} |")
    lines.append("")
    lines.append(f"{n} JPEG photos 1024x768 q85 (crawler/sitegen/images), one process per row.")
    return lines


_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# --- before / after: this tree against a git revision ---------------------------------------

# A contender's worker: imports hash_image from the tree at argv[1] ("reference": the
# reference pipeline), reads the images, warms up, then for each line on stdin hashes every
# image once and prints the CPU seconds of each as one JSON line.
_AB_CHILD = """
import json, os, pickle, sys, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
tree, images = sys.argv[1], sys.argv[2]
if tree == "reference":
    sys.path.insert(0, {root!r})
    from bench.bench_hashing import reference_pipeline as fn
else:
    sys.path.insert(0, tree)
    from matchers.hashing import hash_image as fn
    import matchers
    assert matchers.__file__.startswith(tree), matchers.__file__
with open(images, "rb") as f:
    datas = pickle.load(f)
for d in datas:
    fn(d)
for _line in sys.stdin:
    times = []
    for d in datas:
        c0 = time.process_time()
        fn(d)
        times.append(time.process_time() - c0)
    print(json.dumps(times), flush=True)
"""


def _ab_tree(rev: str, folder: Path) -> Path:
    """The matchers package as of `rev`, extracted into `folder` (an importable tree)."""
    import subprocess
    import tarfile

    archive = subprocess.run(["git", "archive", rev, "matchers"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def ab_speed(old: str, rounds: int, quick: bool) -> list[str]:
    """CPU images/s of this tree's hash_image, REV's and the reference, alternated."""
    import json
    import pickle
    import shutil
    import subprocess
    import tempfile

    from crawler.sitegen.bench import pool_jpeg
    from crawler.sitegen.images import with_jpeg_comment

    crawl = [with_jpeg_comment(pool_jpeg(i), f"{i}-0".encode()) for i in range(20 if quick else 60)]
    real = realimages.real_images(quick=quick)
    datas = crawl + [i.data for i in real]
    groups: dict[str, list[int]] = {"crawl bench: JPEG 1024x768 ~150 KB": list(range(len(crawl)))}
    for j, image in enumerate(real, start=len(crawl)):
        groups.setdefault(image.kind, []).append(j)
        groups.setdefault("mixed: the real set", []).append(j)
        groups.setdefault(f"path: {hash_path(image.data)}", []).append(j)
    work = Path(tempfile.mkdtemp(prefix="trawl-ab-"))
    (work / "images.pkl").write_bytes(pickle.dumps(datas))
    trees = {"this tree": str(ROOT), f"{old}": str(_ab_tree(old, work / "old")),
             "reference": "reference"}
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", _AB_CHILD.format(root=str(ROOT)), tree,
             str(work / "images.pkl")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=work,
        )
        for name, tree in trees.items()
    }
    names = list(children)
    times = {name: np.zeros((rounds, len(datas))) for name in names}
    loads = [os.getloadavg()[0]]
    try:
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order if r % 2 == 0 else order[::-1]:
                child = children[name]
                assert child.stdin is not None
                assert child.stdout is not None
                child.stdin.write("go\n")
                child.stdin.flush()
                times[name][r] = json.loads(child.stdout.readline())
            loads.append(os.getloadavg()[0])
            print(f"# round {r + 1}/{rounds} done", file=sys.stderr)
    finally:
        for child in children.values():
            if child.stdin is not None:
                child.stdin.close()
            child.wait()
        shutil.rmtree(work, ignore_errors=True)  # the images and REV's extracted tree
    new, before, ref = names
    lines = [
        f"| images | n | {new} ms/img (min / median / max) | {before} ms/img | reference ms/img |"
        f" {new} vs {before} (median) | {new} vs reference | {before} vs reference |",
        "|---|---:|---|---|---|---:|---:|---:|",
    ]
    for group, idx in groups.items():
        ms = {name: times[name][:, idx].sum(axis=1) / len(idx) * 1000 for name in names}
        spread = {name: " / ".join(f"{v:.2f}" for v in (m.min(), np.median(m), m.max()))
                  for name, m in ms.items()}
        med = {name: float(np.median(m)) for name, m in ms.items()}
        lines.append(
            f"| {group} | {len(idx)} | {spread[new]} | {spread[before]} | {spread[ref]} |"
            f" {med[before] / med[new]:.2f}x | {med[ref] / med[new]:.1f}x |"
            f" {med[ref] / med[before]:.1f}x |"
        )
    lines.append("")
    lines.append(
        f"{rounds} rounds, each contender in its own process pinned to the same CPU, order "
        f"rotating; 1-minute load average {' -> '.join(f'{v:.1f}' for v in loads)} (before "
        "the first round and after each)."
    )
    return lines


# A tree's record maker: imports hash_image from the tree at argv[1], hashes every image of
# the pickle at argv[2] three ways (fast with variants, fast without, fast=False) and writes
# their records, as plain dicts (Digests.as_dict(dihedral=True)), to argv[3].
_RECORDS_CHILD = """
import os, pickle, sys
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
tree, images, out = sys.argv[1:4]
sys.path.insert(0, tree)
from matchers.hashing import hash_image
import matchers
assert matchers.__file__.startswith(tree), matchers.__file__
with open(images, "rb") as f:
    datas = pickle.load(f)
records = [tuple(d.as_dict(dihedral=True) for d in (
    hash_image(data), hash_image(data, variants=False), hash_image(data, fast=False)))
    for data in datas]
with open(out, "wb") as f:
    pickle.dump(records, f)
"""


def same_records(old: str, quick: bool) -> list[str]:
    """Record for record: hash_image of this tree and of REV (each way: fast, fast without
    variants, fast=False) on the crawl bench's photos, the real set and the generated
    fidelity sets; the count of images whose records differ, per set."""
    import pickle
    import shutil
    import subprocess
    import tempfile

    from crawler.sitegen.bench import pool_jpeg
    from crawler.sitegen.images import with_jpeg_comment

    sets = {"crawl bench: JPEG 1024x768": [
        with_jpeg_comment(pool_jpeg(i), f"{i}-0".encode()) for i in range(20 if quick else 60)]}
    sets["real set (bench/realimages.py)"] = [i.data for i in realimages.real_images(quick)]
    sets.update({f"generated: {name}": datas for name, (_kind, datas) in
                 fidelity_sets(quick).items()})
    names = [name for name, datas in sets.items() for _ in datas]
    work = Path(tempfile.mkdtemp(prefix="trawl-records-"))
    try:
        (work / "images.pkl").write_bytes(pickle.dumps([d for ds in sets.values() for d in ds]))
        trees = {"new": str(ROOT), "old": str(_ab_tree(old, work / "old"))}
        children = [subprocess.Popen([sys.executable, "-c", _RECORDS_CHILD, tree,
                                      str(work / "images.pkl"), str(work / f"{name}.pkl")],
                                     cwd=work) for name, tree in trees.items()]
        if any(child.wait() for child in children):
            raise RuntimeError("a record maker failed (its traceback is above)")
        new, before = (pickle.loads((work / f"{name}.pkl").read_bytes()) for name in trees)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["| images | n | records differing (any of the three ways) |", "|---|---:|---:|"]
    for name in sets:
        pairs = [(a, b) for a, b, n in zip(new, before, names, strict=True) if n == name]
        lines.append(f"| {name} | {len(pairs)} | {sum(a != b for a, b in pairs)} |")
    lines.append(f"| all | {len(new)} | {sum(a != b for a, b in zip(new, before, strict=True))} |")
    return lines


SECTIONS = ("real", "blas", "generated", "meta", "ab", "records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller image sets")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument("--rounds", type=int, default=0, help="speed rounds (default 5, quick 3)")
    parser.add_argument(
        "--sections", default="real,blas,generated,meta", help=f"comma-separated, of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--old", default=None,
                        help="git revision hash_image is compared with in the ab section")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if {"ab", "records"} & sections and args.old is None:
        parser.error("the ab and records sections need --old REV")
    load = os.getloadavg()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start. "
          f"Python {platform.python_version()}, Pillow {Image.__version__}, "
          f"numpy {np.__version__}.\n")  # fmt: skip
    if "blas" in sections:  # before pinning: the point is what BLAS does with both cores
        print("### BLAS threading: hash_image's CPU per image in a fresh process\n")
        print("\n".join(blas_threads(args.quick)))
    os.sched_setaffinity(0, {args.cpu})
    print(f"\n(Pinned to CPU {args.cpu} from here on.)")
    if "real" in sections:
        t0 = time.perf_counter()
        images = realimages.real_images(quick=args.quick)
        print(f"\n### Real images (bench/realimages.py): {len(images)} images, built in "
              f"{time.perf_counter() - t0:.0f} s\n")  # fmt: skip
        print("#### Fidelity: hash_image (fast) vs imagehash/pdqhash on the full decode (bits)\n")
        print("\n".join(real_fidelity(images)))
        rounds = args.rounds or (3 if args.quick else 5)
        print("\n#### Speed (one core, CPU time)\n")
        print("\n".join(real_speed(images, rounds)))
    if "generated" in sections:
        print("\n### Generated images: throughput (one core)\n")
        print("\n".join(throughput(args.quick)))
        print(
            "\n### Generated images: fidelity, fast path vs reference on the full decode (bits)\n"
        )
        print("\n".join(fidelity(args.quick)))
        print("\n### Edits of photo-like images: distance to the original (hash_image, bits)\n")
        print("\n".join(edit_robustness(args.quick)))
    if "meta" in sections:
        print("\n### PDQ vs Meta's published hashes (PDQMD5TestData.csv)\n")
        print("\n".join(meta_reference()))
    if "ab" in sections:
        rounds = args.rounds or (3 if args.quick else 5)
        print(f"\n### Before / after: hash_image of this tree vs {args.old} (one core, CPU)\n")
        print("\n".join(ab_speed(args.old, rounds, args.quick)))
    if "records" in sections:
        print(f"\n### Record for record: hash_image of this tree vs {args.old}\n")
        print("\n".join(same_records(args.old, args.quick)))


if __name__ == "__main__":
    main()
