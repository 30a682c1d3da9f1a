"""hash_image on real images (scikit-image's photos, matplotlib line art): bounds, paths, BLAS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawler.sitegen import images as gen
from matchers.decode import has_colour
from matchers.digests import Digests
from matchers.hashing import BLAS_THREAD_VARIABLES, hash_image, hash_path
from matchers.perceptual import pdq_luma, pdq_luma_of

pytest.importorskip("matplotlib", reason="the real-image tests need the test extra's matplotlib")
realimages = pytest.importorskip("bench.realimages")
pytestmark = pytest.mark.skipif(
    realimages.skimage_data_dir() is None, reason="scikit-image (test extra) is not installed"
)

# The bounds the fast path keeps to the reference (imagehash/pdqhash on the full decode), as
# (largest allowed distance) on this small set: the p99 bounds of the bench (pHash and dHash
# 2 bits, PDQ 6), which on a dozen images is their maximum.
PHASH_BOUND, DHASH_BOUND, PDQ_BOUND = 2, 2, 6
Make = Callable[[], bytes]


def _perceptual(digests: Digests) -> tuple[object, ...]:
    """The perceptual hashes that the exact path must give exactly: pHash, dHash, PDQ and
    PDQ's eight orientations."""
    return (digests.phash, digests.dhash, digests.pdq, digests.pdq_dihedral)


@cache
def photo(name: str) -> Image.Image:
    return realimages.skimage_images((name,))[Path(name).stem].convert("RGB")


def photo_jpeg(name: str, long_side: int, quality: int = 85) -> bytes:
    return realimages.encode(realimages.resize_to(photo(name), long_side), "JPEG", quality=quality)


@cache
def drawing(name: str, size: tuple[int, int]) -> Image.Image:
    return realimages.render(name, 7, size)


def line_art(name: str, size: tuple[int, int], fmt: str, **params: object) -> bytes:
    return realimages.encode(drawing(name, size), fmt, **params)


def distance(a: str | None, b: str | None) -> int:
    assert a is not None
    assert b is not None
    return (int(a, 16) ^ int(b, 16)).bit_count()


# (image, the path the fast path must take): large photos are hashed on the JPEG draft;
# JPEG graphics and drafts on near-ties are decoded again; other formats and small JPEGs are
# never reduced.
CASES: dict[str, tuple[Make, str]] = {
    "astronaut-1600-jpeg": (lambda: photo_jpeg("astronaut.png", 1600), "reduced"),
    "coffee-2400-jpeg-q60": (lambda: photo_jpeg("coffee.png", 2400, 60), "reduced"),
    "motorcycle-1024-jpeg-q95": (lambda: photo_jpeg("motorcycle_left.png", 1024, 95), "reduced"),
    "rocket-640-jpeg": (lambda: photo_jpeg("rocket.jpg", 640), "reduced"),  # 640 x 427: 2x
    "rocket-480-jpeg": (lambda: photo_jpeg("rocket.jpg", 480), "full"),  # 480 x 320
    "chelsea-1280-webp": (
        lambda: realimages.encode(realimages.resize_to(photo("chelsea.png"), 1280), "WEBP"),
        "full",
    ),
    "line-chart-1920-png": (lambda: line_art("line chart", (1920, 1080), "PNG"), "full"),
    "thin-lines-1920-png": (lambda: line_art("thin lines", (1920, 1080), "PNG"), "full"),
    "diagram-1600-gif": (lambda: line_art("diagram", (1600, 900), "GIF"), "full"),
    "text-page-2400-jpeg": (
        lambda: line_art("text page", (2400, 1600), "JPEG", quality=90),
        "graphic",
    ),
    "table-1600-jpeg": (lambda: line_art("table", (1600, 900), "JPEG", quality=90), "graphic"),
    # On its 4x draft (256 x 192) the glyphs blur into greys: only 0.75 of the draft in its 4
    # most common tones, so it was hashed on the draft (dHash 7, PDQ 10 bits from the
    # reference); its white background (one tone, 0.66) makes it a graphic.
    "text-page-1024-jpeg": (
        lambda: line_art("text page", (1024, 768), "JPEG", quality=90),
        "graphic",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_takes_the_path_decided_for_its_class(name: str) -> None:
    make, expected = CASES[name]
    assert hash_path(make()) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_stays_within_the_bounds_on_real_images(name: str) -> None:
    data = CASES[name][0]()
    fast, reference = hash_image(data), hash_image(data, fast=False)
    assert fast.status == reference.status == "ok"
    assert distance(fast.phash, reference.phash) <= PHASH_BOUND
    assert distance(fast.dhash, reference.dhash) <= DHASH_BOUND
    assert distance(fast.pdq, reference.pdq) <= PDQ_BOUND
    if CASES[name][1] == "full":  # never reduced: exactly the reference
        assert _perceptual(fast) == _perceptual(reference)


def test_thin_lines_in_a_jpeg_are_not_hashed_on_the_draft() -> None:
    """Thin lines average to an even grey at 1/2 scale: the draft moved pHash by 10-16 bits."""
    data = line_art("thin lines", (1920, 1080), "JPEG", quality=90)
    assert hash_path(data) in ("graphic", "near_ties")
    fast, reference = hash_image(data), hash_image(data, fast=False)
    assert distance(fast.phash, reference.phash) <= PHASH_BOUND


# Coloured line charts, decoded again as graphics: their luma channel alone (what main
# decoded for graphics of 512 px and more) moved pHash 4 bits (1024 x 768, q75) and dHash 4
# (1920 x 1080, q90) from the luma of the decoded colours. A graphic with any colour is now
# decoded in colour (decode.has_colour) and hashed exactly.
COLOURED_CHARTS: dict[str, Make] = {
    "line-chart-1024-jpeg-q75": lambda: line_art("line chart", (1024, 768), "JPEG", quality=75),
    "line-chart-1920-jpeg-q90": lambda: line_art("line chart", (1920, 1080), "JPEG", quality=90),
}


@pytest.mark.parametrize("name", sorted(COLOURED_CHARTS))
def test_coloured_jpeg_graphics_get_the_reference_hashes(name: str) -> None:
    data = COLOURED_CHARTS[name]()
    assert hash_path(data) == "graphic"
    assert has_colour(data)
    fast, reference = hash_image(data), hash_image(data, fast=False)
    assert _perceptual(fast) == _perceptual(reference)


def test_grey_jpeg_graphics_have_no_colour() -> None:
    """A grey page saved as a colour JPEG keeps neutral chroma: its luma channel is the
    luma of its colours, so it is still decoded luma-only (and hashed exactly too)."""
    data = CASES["text-page-2400-jpeg"][0]()
    assert not has_colour(data)
    fast, reference = hash_image(data), hash_image(data, fast=False)
    assert (fast.phash, fast.dhash) == (reference.phash, reference.dhash)


def skimage_file(name: str) -> bytes:
    folder = realimages.skimage_data_dir()
    assert folder is not None
    return (folder / name).read_bytes()


# Pinned (pHash, dHash, PDQ) of hash_image, fast and reference, on skimage photos: one
# re-encoded and hashed on its draft, and two files exactly as the wheel ships them (a deep-sky
# JPEG that the fast path decodes again as a graphic, in colour, and a PNG it never reduces).
# A change means scikit-image's files, Pillow/libjpeg or the hashing drifted.
GOLDEN: dict[str, tuple[Make, tuple[str, str, str], tuple[str, str, str]]] = {
    "astronaut-1600-jpeg": (
        CASES["astronaut-1600-jpeg"][0],
        (
            "c2924c5532bddfc8",
            "cd8dd91d897293a7",
            "2d2f1af3a856c529679ca3d6526fa836d4196c81c6dd04de0a26f855fc99b724",
        ),
        (
            "c2924c5532bddfc8",
            "cd8dd91d897293a7",
            "2d2f1af3a856c529679ca3d6526fa836d4196c81c6dd04de0a26f855fc99b724",
        ),
    ),
    "hubble-jpeg-as-shipped": (
        lambda: skimage_file("hubble_deep_field.jpg"),
        (
            "84cc4b96ba4d333e",
            "60d6caa435546058",  # coloured: decoded in colour, exactly the reference
            "1c6715e46266634f72d42df2324ad397e70e86be9c665c59a42ec19c3369b919",
        ),
        (
            "84cc4b96ba4d333e",
            "60d6caa435546058",
            "1c6715e46266634f72d42df2324ad397e70e86be9c665c59a42ec19c3369b919",
        ),
    ),
    "coffee-png-as-shipped": (
        lambda: skimage_file("coffee.png"),
        (
            "bb8320376c0f3637",
            "f3e96933160b1b36",
            "8c629e779a663698b9a33866c026726c21a679f61eb6e1f8c79ba7e23c8299e0",
        ),
        (
            "bb8320376c0f3637",
            "f3e96933160b1b36",
            "8c629e779a663698b9a33866c026726c21a679f61eb6e1f8c79ba7e23c8299e0",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_values_of_real_images(name: str) -> None:
    make, fast_values, reference_values = GOLDEN[name]
    data = make()
    fast, reference = hash_image(data), hash_image(data, fast=False)
    assert (fast.phash, fast.dhash, fast.pdq) == fast_values
    assert (reference.phash, reference.dhash, reference.pdq) == reference_values


# --- PDQ's luma without an RGB copy -----------------------------------------------------------


def test_pdq_luma_is_pdqhashs_float64_luma_for_every_colour() -> None:
    """(299 r + 587 g + 114 b) / 1000 in float32 is float32(0.299 r + 0.587 g + 0.114 b)."""
    g, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    gb = np.stack([g.ravel(), b.ravel()], axis=1).astype(np.uint8)
    for r in range(256):
        rgb = np.concatenate([np.full((gb.shape[0], 1), r, np.uint8), gb], axis=1)
        expected = (rgb[:, 0] * 0.299 + rgb[:, 1] * 0.587 + rgb[:, 2] * 0.114).astype(np.float32)
        assert np.array_equal(pdq_luma(rgb[None, :, :])[0], expected), r


def test_pillows_rgb_to_f_is_pdq_luma_for_every_colour() -> None:
    """pdq_luma_of takes a large RGB(A) image's luma from Pillow's convert("F") (rgb2f:
    (float)(299 r + 587 g + 114 b) / 1000.0F): the same float32 for all 2**24 colours."""
    r, g, b = np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).astype(np.uint8).reshape(4096, 4096, 3)
    for mode in ("RGB", "RGBA"):
        converted = np.asarray(Image.fromarray(rgb).convert(mode).convert("F"))
        assert np.array_equal(converted, pdq_luma(rgb)), mode


@pytest.mark.parametrize("size", [(96, 80), (300, 200)])  # packed copy / Pillow's RGB -> F
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "CMYK", "1", "I;16"])
def test_pdq_luma_of_every_mode_is_the_luma_of_its_rgb(mode: str, size: tuple[int, int]) -> None:
    from matchers.perceptual import PACKED_LUMA_MAX_PIXELS

    assert (size[0] * size[1] <= PACKED_LUMA_MAX_PIXELS) == (size == (96, 80))
    base = gen.photo(2, size)
    if mode == "P":
        img = base.quantize(37)  # a palette shorter than 256 entries
    elif mode == "PA":
        img = base.quantize(37).convert("PA")
    elif mode == "I;16":
        img = base.convert("L").convert("I;16")
    else:
        img = base.convert(mode)
    expected = pdq_luma(np.asarray(img.convert("RGB")))
    assert np.array_equal(pdq_luma_of(img, img.convert("L")), expected)


# --- BLAS threads -------------------------------------------------------------------------------

_CHILD = """
import sys
sys.path.insert(0, {root!r})
from threadpoolctl import threadpool_info
from matchers.hashing import hash_image
from crawler.sitegen import images as gen
hash_image(gen.photo_jpeg(1, (640, 480)))
print(sorted({{p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}}))
"""


def _child_blas_threads(extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=root)],
        env={**env, **extra_env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def test_a_library_caller_gets_a_single_threaded_blas() -> None:
    """Without OPENBLAS_NUM_THREADS & co., hash_image limits BLAS to one thread itself."""
    assert _child_blas_threads({}) == "[1]"


def test_a_callers_own_blas_threading_is_left_alone() -> None:
    assert _child_blas_threads({"OPENBLAS_NUM_THREADS": "2"}) == "[2]"
