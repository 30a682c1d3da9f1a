"""The kinds by name, and sets of varied sizes: `sample(kind, seed, index)`."""

from __future__ import annotations

import zlib
from typing import Protocol

import numpy as np
from PIL import Image

from crawler.sitegen.images.base import Size
from crawler.sitegen.images.graphics import (
    banner,
    chart,
    diagram,
    icon,
    line_art,
    pie_chart,
    screenshot,
    text_card,
)
from crawler.sitegen.images.scenes import photo


class Kind(Protocol):
    """Every kind's signature: a seed and a size (each kind has its own default size)."""

    def __call__(self, seed: int, size: Size = ...) -> Image.Image: ...


# The kinds real pages show, each `(seed, size) -> image` (the test site's `textured` is not
# one of them). Flat graphics are every kind but the photo.
KINDS: dict[str, Kind] = {
    "photo": photo,
    "line_art": line_art,
    "diagram": diagram,
    "chart": chart,
    "pie_chart": pie_chart,
    "text_card": text_card,
    "banner": banner,
    "screenshot": screenshot,
    "icon": icon,
}
FLAT_KINDS = tuple(kind for kind in KINDS if kind != "photo")

# Width and height ranges as pages show each kind (icons are square).
SIZE_RANGES: dict[str, tuple[Size, Size]] = {
    "photo": ((320, 240), (640, 480)),
    "line_art": ((400, 300), (800, 600)),
    "diagram": ((400, 300), (800, 600)),
    "chart": ((400, 300), (720, 500)),
    "pie_chart": ((400, 300), (720, 500)),
    "text_card": ((600, 250), (1000, 450)),  # narrower cards cut its lines off
    "banner": ((400, 200), (800, 500)),
    "screenshot": ((640, 400), (1024, 700)),
    "icon": ((64, 64), (256, 256)),
}


def sample(kind: str, seed: int, index: int) -> Image.Image:
    """Image number `index` of a set of `kind` images: a size drawn from the kind's range,
    then the kind's own seed; the same (kind, seed, index) always gives the same image."""
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode()), index])
    (w0, h0), (w1, h1) = SIZE_RANGES[kind]
    w = int(rng.integers(w0, w1 + 1))
    h = w if kind == "icon" else int(rng.integers(h0, h1 + 1))
    return KINDS[kind](int(rng.integers(0, 2**31)), (w, h))
