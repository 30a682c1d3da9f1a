"""A line-art JPEG stress set for the fast path's fidelity on graphics (bench/RESULTS.md,
"Hashing", branch hashfid9).

Each of bench/realimages.py's 9 drawings at each of its LINE_ART_SIZES with short side
>= 256 (12 sizes, 108 renders; seed 5000 + i, drawings outer, sizes inner), flattened onto
white and saved as JPEG at q75, q90 and q95: 324 images, deterministic for given matplotlib
and Pillow versions. Needs the `bench` extra (matplotlib).

    PYTHONPATH=$PWD python3 bench/linejpeg_stress.py OUT.pkl   # build and pickle the set

The pickle holds (name, bytes) pairs of generated benign images, for bench runs only.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import realimages

QUALITIES = (75, 90, 95)
MIN_SHORT_SIDE = 256


def stress_images() -> Iterator[tuple[str, bytes]]:
    """(name, JPEG bytes) of the stress set, in a fixed order."""
    sizes = [s for s in realimages.LINE_ART_SIZES if min(s) >= MIN_SHORT_SIDE]
    pairs = [(d, s) for d in realimages.DRAWINGS for s in sizes]
    for i, (drawing, size) in enumerate(pairs):
        flat = realimages.flatten(realimages.render(drawing, 5000 + i, size))
        for quality in QUALITIES:
            name = f"{drawing} {size[0]}x{size[1]} q{quality}"
            yield name, realimages.encode(flat, "JPEG", quality=quality)


def main() -> None:
    out = Path(sys.argv[1])
    images = list(stress_images())
    out.write_bytes(pickle.dumps(images))
    print(f"{len(images)} images, {sum(len(d) for _, d in images) / 1e6:.1f} MB -> {out}")


if __name__ == "__main__":
    main()
