"""How far hash_image can get from the reference: the decode it cannot skip, per class and path.

    python3 bench/decode_floor.py                       # the real set (bench/realimages.py)
    python3 bench/decode_floor.py --kinds "photo JPEG"  # one class

For every image of the real set (pinned to one CPU, process CPU time, best of --repeat), the
steps hash_image's path must pay whatever the hashing costs:

* digests: md5 + sha1 + sha256 of the body (hash_image returns all three);
* first decode: a JPEG's draft in mode L at matchers.decode.draft_scale (what hash_image
  decodes first), any other format's full decode in its own mode;
* second decode (paths graphic and near_ties only): has_colour's 1/8 YCbCr decode and the
  full-size decode (mode L; the coloured ones decode RGB, a little more);

next to hash_image itself and the reference pipeline (bench_hashing.reference_pipeline). The
"ceiling" column is reference / (digests + decodes): the speed-up hash_image would reach if
all its hashing, variants and Python overhead cost nothing. libjpeg-turbo's entropy decoding
is the same for every DCT scale, so a draft costs most of a full decode (bench/RESULTS.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import hashlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import realimages  # noqa: E402
from bench.bench_hashing import reference_pipeline  # noqa: E402
from matchers.decode import draft_scale, has_colour  # noqa: E402
from matchers.hashing import hash_image, hash_path  # noqa: E402

STEPS = ("digests", "first decode", "second decode", "hash_image", "reference")


def best_ms(fn: Callable[[bytes], object], data: bytes, repeat: int) -> float:
    fn(data)
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        fn(data)
        best = min(best, time.process_time() - c0)
    return best * 1000


def digests(data: bytes) -> None:
    hashlib.md5(data).digest()
    hashlib.sha1(data).digest()
    hashlib.sha256(data).digest()


def first_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            scale = draft_scale(*img.size)
            if scale > 1:
                img.draft("L", (img.width // scale, img.height // scale))
        img.load()


def second_decode(data: bytes) -> None:
    has_colour(data)
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", img.size)
        img.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(realimages.KINDS),
                        help="comma-separated classes of the real set")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    kinds = args.kinds.split(",")
    images = [i for i in realimages.real_images() if i.kind in kinds]
    load0 = os.getloadavg()[0]
    totals: dict[tuple[str, str], np.ndarray] = {}
    counts: dict[tuple[str, str], int] = {}
    for image in images:
        path: str = hash_path(image.data) or "none"
        row = np.array([
            best_ms(digests, image.data, args.repeat),
            best_ms(first_decode, image.data, args.repeat),
            best_ms(second_decode, image.data, args.repeat)
            if path in ("graphic", "near_ties") else 0.0,
            best_ms(hash_image, image.data, args.repeat),
            best_ms(reference_pipeline, image.data, args.repeat),
        ])
        for key in ((image.kind, "all"), (image.kind, path), ("mixed", "all")):
            totals[key] = totals.get(key, np.zeros(len(STEPS))) + row
            counts[key] = counts.get(key, 0) + 1
    print("| class | path | n | " + " | ".join(f"{s} ms/img" for s in STEPS)
          + " | hash_image vs reference | ceiling |")
    print("|---|---|---:|" + "---:|" * (len(STEPS) + 2))
    for (kind, path), total in totals.items():
        n = counts[(kind, path)]
        ms = total / n
        floor = ms[0] + ms[1] + ms[2]
        print(f"| {kind} | {path} | {n} | " + " | ".join(f"{v:.2f}" for v in ms)
              + f" | {ms[4] / ms[3]:.1f}x | {ms[4] / floor:.1f}x |")
    print(f"\nbest of {args.repeat} per step, pinned to CPU {args.cpu}; 1-minute load average "
          f"{load0:.1f} -> {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
