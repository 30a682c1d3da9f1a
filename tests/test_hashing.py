"""hash_image: digests, formats, agreement with imagehash/pdqhash, golden values, edits."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from functools import cache, partial

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from crawler.sitegen import images as gen
from matchers.confidence import FLAT_AT, flatness
from matchers.decode import (
    FAST_MIN_SIDE,
    FAST_MIN_SIDE_4X,
    FAST_MIN_SIDE_DEEP,
    draft_scale,
    open_and_decode,
)
from matchers.digests import format_dihedral, parse_dihedral
from matchers.hashing import DEFAULT_MAX_PIXELS, GREY_MIN_SIDE, hash_image, hash_path
from matchers.hashtypes import PDQ_MATCH_THRESHOLD, PHASH_MATCH_THRESHOLD
from matchers.sniff import sniff_format, sniff_kind

# How far the fast path may drift from the reference (imagehash/pdqhash on the full decode).
# Measured distributions are in bench/RESULTS.md; these bounds hold with room to spare for
# photo-like images. Flat graphics sit closer to pHash's ties, hence the wider bound there.
PHOTO_PHASH_TOLERANCE = 2
GRAPHIC_PHASH_TOLERANCE = 4
DHASH_TOLERANCE = 6
PHOTO, GRAPHIC = PHOTO_PHASH_TOLERANCE, GRAPHIC_PHASH_TOLERANCE
Make = Callable[[], bytes]  # parameters build their images lazily: collection stays fast
# One large photo shared by the tests that need one (generating it takes seconds).
photo_3000 = cache(partial(gen.photo_jpeg, 11, (3000, 2000)))
PDQ_TOLERANCE = 10  # Meta's bar for a correct PDQ implementation


def distance(a: str | None, b: str | None) -> int:
    assert a is not None
    assert b is not None
    assert len(a) == len(b)
    return (int(a, 16) ^ int(b, 16)).bit_count()


def library_hashes(data: bytes) -> tuple[str, str, str, int]:
    """The reference, computed here with the libraries directly (not through matchers)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        vector, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
        pdq = "".join(str(int(b)) for b in vector)
        return (
            str(imagehash.phash(img)),
            str(imagehash.dhash(img)),
            f"{int(pdq, 2):064x}",
            int(quality),
        )


def test_cryptographic_digests_are_of_the_exact_bytes() -> None:
    data = gen.photo_jpeg(1, (320, 240))
    d = hash_image(data)
    assert d.md5 == hashlib.md5(data).hexdigest()
    assert d.sha1 == hashlib.sha1(data).hexdigest()
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.size == len(data)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "bmp", "tiff", "avif"])
def test_every_supported_format_is_sniffed_and_hashed(fmt: str) -> None:
    data = gen.encode(gen.photo(3, (400, 300)), fmt)
    assert sniff_format(data) == fmt
    d = hash_image(data)
    assert d.status == "ok", d.error
    assert d.error is None
    assert (d.format, d.width, d.height, d.frames) == (fmt, 400, 300, 1)
    assert d.phash is not None
    assert d.dhash is not None
    assert d.pdq is not None
    assert len(d.phash) == 16
    assert len(d.dhash) == 16
    assert len(d.pdq) == 64
    assert all(c in "0123456789abcdef" for c in d.phash + d.dhash + d.pdq)
    assert d.pdq_quality is not None
    assert 0 <= d.pdq_quality <= 100
    assert set(d.perceptual()) == {"phash", "dhash", "pdq"}


def test_format_comes_from_magic_bytes_only() -> None:
    png = gen.encode(gen.icon(1), "png")
    assert sniff_format(png) == "png"
    assert sniff_format(b"GIF89a" + png[6:]) == "gif"  # whatever follows, the magic decides
    assert sniff_format(b"BM" + b"\x00" * 30) is None  # "BM" without a BMP header size
    assert sniff_kind(gen.SVG_DOCUMENT) == "svg"
    assert sniff_kind(b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>") == "svg"
    assert sniff_kind(gen.HTML_DOCUMENT) == "html"
    assert sniff_kind(b"\n\n<HTML><BODY>moved</BODY></HTML>") == "html"
    assert sniff_kind(b'{"error": "not found"}') == "json"
    assert sniff_kind(b"%PDF-1.7\n") == "pdf"
    assert sniff_kind(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "heic"
    assert sniff_kind(b"Not Found\n") == "text"
    assert sniff_kind(bytes(range(256))) is None
    assert sniff_kind(b"") is None


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: gen.photo_jpeg(2), id="photo-jpeg-1024"),
        pytest.param(photo_3000, id="photo-jpeg-3000"),
        pytest.param(lambda: gen.encode(gen.chart(2), "png"), id="chart-png"),
        pytest.param(lambda: gen.encode(gen.icon(2), "png"), id="icon-rgba-png"),
        pytest.param(lambda: gen.encode(gen.line_art(2), "gif"), id="line-art-gif"),
        pytest.param(lambda: gen.encode(gen.text_card(2), "webp"), id="text-webp"),
        pytest.param(
            lambda: gen.encode(gen.grayscale(gen.photo(2, (500, 400))), "jpeg"), id="grey"
        ),
        pytest.param(lambda: gen.cmyk_jpeg(2), id="cmyk-jpeg"),
    ],
)
def test_fast_false_is_exactly_the_reference_libraries(make: Make) -> None:
    data = make()
    d = hash_image(data, fast=False)
    assert (d.phash, d.dhash, d.pdq, d.pdq_quality) == library_hashes(data)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: gen.photo_jpeg(5, (480, 360)), id="photo-jpeg-480"),
        pytest.param(lambda: gen.photo_jpeg(5, (300, 200), 70), id="photo-jpeg-300"),
        pytest.param(lambda: gen.encode(gen.chart(5, (640, 480)), "png"), id="chart-png-640"),
        pytest.param(lambda: gen.encode(gen.icon(5), "png"), id="icon-png"),
        pytest.param(lambda: gen.encode(gen.photo(5, (2000, 500)), "png"), id="wide-png"),
    ],
)
def test_fast_path_is_exact_below_the_draft_size(make: Make) -> None:
    """JPEGs with short side < 2 * FAST_MIN_SIDE, and other formats at any size: nothing is
    reduced, and the hashes are the reference."""
    data = make()
    fast = hash_image(data)
    if fast.format == "jpeg":
        assert min(fast.width or 0, fast.height or 0) < 2 * FAST_MIN_SIDE
    assert hash_path(data) == "full"
    assert (fast.phash, fast.dhash, fast.pdq, fast.pdq_quality) == library_hashes(data)


def test_small_jpeg_graphics_are_hashed_exactly() -> None:
    """A graphic below GREY_MIN_SIDE (here 800 x 400, drafted at 2x) is decoded again in
    colour, not as its luma channel alone: the exact path, the reference's bits."""
    data = gen.encode(gen.text_card(5), "jpeg")
    assert 2 * FAST_MIN_SIDE <= 400 < GREY_MIN_SIDE
    assert hash_path(data) == "graphic"
    fast = hash_image(data)
    assert (fast.phash, fast.dhash, fast.pdq, fast.pdq_quality) == library_hashes(data)


@pytest.mark.parametrize(
    ("make", "phash_tolerance"),
    [
        *(pytest.param(partial(gen.photo_jpeg, s), PHOTO, id=f"photo-{s}") for s in range(6)),
        pytest.param(photo_3000, PHOTO, id="photo-3000"),
        pytest.param(lambda: gen.photo_jpeg(9, (1920, 1080), 90), PHOTO, id="photo-1080p"),
        pytest.param(lambda: gen.encode(gen.photo(9, (1600, 1200)), "png"), PHOTO, id="png"),
        pytest.param(lambda: gen.encode(gen.photo(9), "webp"), PHOTO, id="photo-webp"),
        pytest.param(lambda: gen.encode(gen.chart(9, (1024, 768)), "jpeg"), GRAPHIC, id="chart"),
        pytest.param(lambda: gen.encode(gen.line_art(9, (1920, 1080)), "jpeg"), GRAPHIC, id="line"),
    ],
)
def test_fast_path_stays_close_to_the_reference(make: Make, phash_tolerance: int) -> None:
    data = make()
    fast = hash_image(data)
    ref_phash, ref_dhash, ref_pdq, ref_quality = library_hashes(data)
    assert distance(fast.phash, ref_phash) <= phash_tolerance
    assert distance(fast.dhash, ref_dhash) <= DHASH_TOLERANCE
    assert distance(fast.pdq, ref_pdq) <= PDQ_TOLERANCE
    assert fast.pdq_quality is not None
    assert abs(fast.pdq_quality - ref_quality) <= 5


@pytest.mark.parametrize(
    ("size", "scale"),
    [
        ((1024, 768), 4),  # 4x leaves 192 px: FAST_MIN_SIDE_4X
        ((800, 600), 2),  # 4x would leave 150 px
        ((1920, 1080), 4),
        ((3000, 2000), 4),  # 8x would leave 250 px, under FAST_MIN_SIDE_DEEP
        ((6000, 4000), 8),
        ((511, 900), 2),  # 2x leaves 255 px: FAST_MIN_SIDE is 192
        ((383, 900), 1),
        ((300, 200), 1),
    ],
)
def test_jpeg_draft_keeps_enough_pixels(size: tuple[int, int], scale: int) -> None:
    data = gen.encode(Image.new("RGB", size, (90, 120, 150)), "jpeg")
    decoded = open_and_decode(data, "jpeg", max_pixels=DEFAULT_MAX_PIXELS, fast=True)
    assert draft_scale(*size) == decoded.scale == scale
    assert (decoded.width, decoded.height) == size
    if scale > 1:
        least = {2: FAST_MIN_SIDE, 4: FAST_MIN_SIDE_4X}.get(scale, FAST_MIN_SIDE_DEEP)
        assert min(decoded.luma.size) >= least
    assert (decoded.pdq_luma is None) == (scale > 1)  # a full decode carries PDQ's luma


@pytest.mark.parametrize("fmt", ["png", "gif", "webp", "bmp", "tiff"])
def test_other_formats_are_never_reduced_and_hash_exactly(fmt: str) -> None:
    """Only JPEG has a reduced decode; reducing after a full decode moved real line art's
    pHash by up to 12 bits, so every other format gets the reference hashes exactly."""
    data = gen.encode(gen.photo(4, (1600, 1200)), fmt)
    decoded = open_and_decode(data, fmt, max_pixels=DEFAULT_MAX_PIXELS, fast=True)
    assert decoded.scale == 1
    assert hash_path(data) == "full"
    fast, reference = hash_image(data), hash_image(data, fast=False)
    assert (fast.phash, fast.dhash, fast.pdq, fast.pdq_quality, fast.pdq_dihedral) == (
        reference.phash,
        reference.dhash,
        reference.pdq,
        reference.pdq_quality,
        reference.pdq_dihedral,
    )


# Pinned values: (pHash, dHash, PDQ) from hash_image, and from the reference (imagehash /
# pdqhash on the full decode; fast=False). The reference equals the fast values except for
# the few PDQ bits noted on a reduced JPEG. A change means the generator, Pillow/libjpeg or
# the hashing drifted.
GOLDEN: dict[str, tuple[Make, tuple[str, str, str], tuple[str, str, str]]] = {
    "photo7-png": (
        lambda: gen.encode(gen.photo(7), "png"),  # never reduced: the exact path
        (
            "9199047ef2cc4fb1",
            "f0d8d2d89c64f4e4",
            "dad2c666c53839ad3ac0c556328fadb904ec7d465a39a389d627c4bde71039cc",
        ),
        (
            "9199047ef2cc4fb1",
            "f0d8d2d89c64f4e4",
            "dad2c666c53839ad3ac0c556328fadb904ec7d465a39a389d627c4bde71039cc",
        ),
    ),
    "photo7-jpeg": (
        lambda: gen.photo_jpeg(7),  # JPEG draft at 1/2
        (
            "9199047ef2cc4fb1",
            "f0d8d2d89c64f4e4",
            "dad2c666c53839ad3ac0c576328fadb904ec5d465a39a389d627c4bde71039cc",
        ),
        (
            "9199047ef2cc4fb1",
            "f0d8d2d89c64f4e4",
            "dad2c666c53839ad3ac0c576328fadb904ec5d465a39a389d627c4bde71039cc",
        ),
    ),
    "chart3-png": (
        lambda: gen.encode(gen.chart(3), "png"),  # never reduced: the exact path
        (
            "af97d868c4729163",
            "746d484f4b4b3543",
            "3a63bc42c2a7b4f0c9fb330dc0f8b5924a8f4c63b644c6a73d134b9b338db474",
        ),
        (
            "af97d868c4729163",
            "746d484f4b4b3543",
            "3a63bc42c2a7b4f0c9fb330dc0f8b5924a8f4c63b644c6a73d134b9b338db474",
        ),
    ),
    "icon5-png": (
        lambda: gen.encode(gen.icon(5), "png"),
        (
            "946541de14e5557e",
            "92aad4d4e8aa96aa",
            "0eeac32c2babd32afbba2cc2aefcc32cab83d32efb902cc22c14d32cf3432cc2",
        ),
        (
            "946541de14e5557e",
            "92aad4d4e8aa96aa",
            "0eeac32c2babd32afbba2cc2aefcc32cab83d32efb902cc22c14d32cf3432cc2",
        ),
    ),
    "photo11-3000-jpeg": (
        photo_3000,  # JPEG draft at 1/4
        (
            "92cd1b1b6c8bc91b",
            "72a8e0e62cb9f978",
            "b8971e474639e89b3bc62c7c1e834322b2369dfc6d494968c29bb46cb46c5a5b",
        ),
        (
            "92cd1b1b6c8bc91b",
            "72a8e0e62cb9f978",
            "b8971e474639e89b2bc62c7c1e834322b2369dfd6d494968c29bb46cb46c5a5b",  # 2 bits off
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_values(name: str) -> None:
    make, fast_values, reference_values = GOLDEN[name]
    data = make()
    fast, full = hash_image(data), hash_image(data, fast=False)
    assert (fast.phash, fast.dhash, fast.pdq) == fast_values
    assert (full.phash, full.dhash, full.pdq) == reference_values
    assert full.pdq == library_hashes(data)[2]
    assert fast.pdq_quality == full.pdq_quality == 100


@pytest.mark.parametrize("edit", sorted(set(gen.EDITS) - {"crop3"}))
def test_edits_of_photos_stay_within_the_default_thresholds(edit: str) -> None:
    for seed in range(6):
        original = gen.photo(seed)
        base = hash_image(gen.encode(original, "jpeg"))
        edited = hash_image(gen.encode(gen.EDITS[edit](original), "jpeg"))
        assert edited.status == "ok"
        assert distance(base.phash, edited.phash) <= PHASH_MATCH_THRESHOLD, (edit, seed)
        assert distance(base.pdq, edited.pdq) <= PDQ_MATCH_THRESHOLD, (edit, seed)


def test_a_three_percent_crop_still_matches_on_one_hash_type() -> None:
    """A 3% crop sits at both hashes' limits (bench/RESULTS.md: PDQ p50 26, p90 32; pHash
    p90 4, max 8), and the decision layer matches on any type: at least one must hold."""
    for seed in range(8):  # seeds 4 and 6 put PDQ at 32, just over its threshold
        original = gen.photo(seed)
        base = hash_image(gen.encode(original, "jpeg"))
        cropped = hash_image(gen.encode(gen.crop3(original), "jpeg"))
        phash, pdq = distance(base.phash, cropped.phash), distance(base.pdq, cropped.pdq)
        assert phash <= PHASH_MATCH_THRESHOLD or pdq <= PDQ_MATCH_THRESHOLD, (seed, phash, pdq)
        assert pdq <= 2 * PDQ_MATCH_THRESHOLD  # unrelated photos are ~128 bits apart


def test_unrelated_photos_do_not_match() -> None:
    digests = [hash_image(gen.photo_jpeg(seed)) for seed in range(6)]
    for i, a in enumerate(digests):
        for b in digests[i + 1 :]:
            assert distance(a.pdq, b.pdq) > PDQ_MATCH_THRESHOLD
            assert distance(a.phash, b.phash) > PHASH_MATCH_THRESHOLD


@pytest.mark.parametrize("fmt", ["gif", "webp", "png"])
def test_animation_is_hashed_on_its_first_frame_and_frames_are_counted(fmt: str) -> None:
    data = gen.animated(4, fmt, frames=3)
    d = hash_image(data)
    assert d.status == "ok", d.error
    assert d.frames == 3
    with Image.open(io.BytesIO(data)) as img:
        first = gen.encode(img.convert("RGB"), "png")  # frame 0, as Pillow opens it
    alone = hash_image(first)
    assert (d.phash, d.dhash, d.pdq) == (alone.phash, alone.dhash, alone.pdq)
    assert alone.frames == 1


def test_hashing_is_deterministic() -> None:
    data = gen.photo_jpeg(12)
    assert hash_image(data) == hash_image(data)
    assert hash_image(data, fast=False) == hash_image(data, fast=False)


def test_as_dict_carries_every_field_and_no_bytes() -> None:
    data = gen.photo_jpeg(13, (320, 240))
    record = hash_image(data).as_dict()
    assert record["status"] == "ok"
    assert record["format"] == "jpeg"
    assert not any(isinstance(v, bytes | bytearray) for v in record.values())


# --- what the match decision reads beside the hashes ------------------------------------------


@pytest.mark.parametrize(("fmt", "size"), [("png", (320, 240)), ("jpeg", (1600, 1200))])
def test_pdq_dihedral_agrees_with_pdqhash_compute_dihedral(fmt: str, size: tuple[int, int]) -> None:
    data = gen.encode(gen.photo(3, size), fmt, **({"quality": 90} if fmt == "jpeg" else {}))
    with Image.open(io.BytesIO(data)) as img:
        vectors, _ = pdqhash.compute_dihedral(np.asarray(img.convert("RGB")))
    reference = [np.packbits(np.asarray(v, dtype=np.uint8)).tobytes().hex() for v in vectors]
    exact, fast = hash_image(data, fast=False), hash_image(data)
    assert exact.pdq_dihedral == tuple(reference[1:])
    assert len(fast.pdq_dihedral) == 7
    tolerance = 0 if fmt == "png" else PDQ_TOLERANCE  # png: the exact path
    for turned, ref in zip(fast.pdq_dihedral, reference[1:], strict=True):
        assert distance(turned, ref) <= tolerance
    # Each orientation is the PDQ of the image actually turned that way.
    with Image.open(io.BytesIO(data)) as img:
        turned_img = img.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    assert distance(hash_image(gen.encode(turned_img, "png")).pdq, exact.pdq_dihedral[0]) <= 4


def test_flatness_tells_flat_graphics_from_photos() -> None:
    photo = hash_image(gen.encode(gen.photo(1), "jpeg"))
    chart = hash_image(gen.encode(gen.chart(1), "png"))
    text = hash_image(gen.encode(gen.text_card(2), "png"))
    assert photo.flatness is not None
    assert photo.flatness < FLAT_AT
    assert chart.flatness is not None
    assert chart.flatness >= FLAT_AT
    assert text.flatness is not None
    assert text.flatness >= FLAT_AT
    assert "flatness" in photo.as_dict()
    assert "pdq_dihedral" not in photo.as_dict()  # matched against, not stored


def test_flatness_of_a_transparent_image_is_measured_on_white() -> None:
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # fully transparent black
    for x in range(0, 200, 20):  # a few thin opaque lines: a flat graphic either way
        img.paste((200, 30, 30, 255), (x, 0, x + 2, 200))
    d = hash_image(gen.encode(img, "png"))
    assert d.flatness == pytest.approx(flatness(img))
    assert d.flatness is not None
    assert d.flatness >= FLAT_AT


def test_undecodable_images_have_no_flatness() -> None:
    d = hash_image(gen.truncated(gen.photo_jpeg(4)))
    assert d.status == "undecodable"
    assert d.flatness is None
    assert d.pdq_dihedral == ()


def test_dihedral_round_trips_through_its_stored_form() -> None:
    d = hash_image(gen.photo_jpeg(5))
    text = format_dihedral(d.pdq_dihedral)
    assert text is not None
    assert parse_dihedral(text) == d.pdq_dihedral
    assert format_dihedral(()) is None
    # A damaged stored value means "no orientations", never an exception in a crawl.
    for bad in (None, "", "abc", " ".join(["0" * 64] * 6), " ".join(["zz" * 32] * 7)):
        assert parse_dihedral(bad) == ()


@pytest.mark.parametrize(
    ("n_full", "scale", "n_small"),
    [(768, 2, 384), (1000, 1, 1000), (70, 1, 70), (3000, 8, 375), (4001, 4, 1001), (9, 1, 9)],
)
def test_pdq_band_is_the_dense_operator(n_full: int, scale: int, n_small: int) -> None:
    """The fast path's banded PDQ filter equals the full matrix product it replaces."""
    from matchers.perceptual import _pdq_band, band_across, band_down, operator

    dense = operator("pdq", n_full, scale)
    assert dense.shape == (64, n_small)
    x = np.random.default_rng(n_full).random((n_small, 37)).astype(np.float32) * 255
    band = _pdq_band(n_full, scale)
    if band is None:  # too wide to be worth it: the dense product is used
        assert n_small < 64 * 4
        return
    rows, weights = band
    assert rows.shape == weights.shape
    assert rows.shape[0] == 64
    assert rows.shape[1] <= n_small // 4
    np.testing.assert_allclose(band_down(band, x), dense @ x, rtol=1e-5, atol=1e-3)
    # The same operator along the other axis (PDQ filters columns as it filters rows).
    y = np.ascontiguousarray(x.T)
    np.testing.assert_allclose(band_across(band, y), y @ dense.T, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("n", [*range(64, 700, 7), *range(700, 9000, 331), 1000, 3000, 4096])
def test_exact_paths_pdq_band_holds_the_dense_operators_values(n: int) -> None:
    """At scale 1 the band is built from jarosz_matrix's runs, not from the dense matrix:
    scattered back, its weights are that matrix, value for value."""
    from matchers.perceptual import _pdq_band, operator

    band = _pdq_band(n, 1)
    assert band is not None
    indices, weights = band
    rebuilt = np.zeros((64, n), dtype=np.float32)
    np.add.at(rebuilt, (np.arange(64)[:, None].repeat(indices.shape[1], axis=1), indices), weights)
    assert np.array_equal(rebuilt, operator("pdq", n, 1))


def _exact_resize_images(w: int, h: int) -> list[np.ndarray]:
    rng = np.random.default_rng(w * 7919 + h)
    noise = rng.integers(0, 256, (h, w), dtype=np.uint8)
    dots = np.where(rng.random((h, w)) < 0.02, 0, 255).astype(np.uint8)
    lines = np.full((h, w), 255, dtype=np.uint8)
    lines[:, ::7] = 0
    lines[h // 3 : h // 2] = 128
    ramp = np.broadcast_to(np.linspace(0, 255, w).astype(np.uint8), (h, w)).copy()
    return [noise, dots, lines, ramp]


@pytest.mark.parametrize(
    "size",
    [(33, 40), (300, 200), (1024, 768), (1031, 767), (1280, 1024), (2000, 1999), (3000, 2000),
     (4500, 300), (600, 1100), (34, 33), (48, 48), (64, 41), (100, 100), (199, 150),
     (255, 97), (256, 256)],
)
@pytest.mark.parametrize("out", [(32, 32), (9, 8)])
def test_exact_lanczos_products_equal_pillows_resize(
    size: tuple[int, int], out: tuple[int, int]
) -> None:
    """The exact path's thumbnails as fixed-point products (perceptual.lanczos_thumbnails)
    are Pillow's LANCZOS resize, which imagehash hashes, pixel for pixel: noise (values near
    every rounding boundary), sparse dots and thin lines (negative lobes, clipping at 0 and
    255), a ramp; odd sizes, an axis past the coefficient cache (4500), a pass-through size
    close to the output (33). Horizontal pass first only: _exact_thumbnails hands Pillow the
    images whose resize starts vertically."""
    from matchers.perceptual import _vertical_first, lanczos_thumbnails

    w, h = size
    # (33, 40) to 32x32 is the one case here whose resize Pillow starts vertically; only its
    # 9x8 form runs (a case whose pass order _exact_thumbnails would hand to Pillow is not
    # a case for the products).
    assert _vertical_first(size, out) == (size == (33, 40) and out == (32, 32))
    if _vertical_first(size, out):
        return
    for x in _exact_resize_images(w, h):
        expected = np.asarray(Image.fromarray(x).resize(out, Image.Resampling.LANCZOS))
        got = lanczos_thumbnails(x, (out,))[0]
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_exact_hashes_of_a_large_image_equal_imagehash() -> None:
    """exact_hashes on large images (the product path) gives imagehash's pHash and dHash
    bit for bit, in both pass orders (a tall image's products run on its transpose)."""
    from matchers.perceptual import exact_hashes, pdq_luma

    for w, h in ((1600, 1200), (700, 1600)):
        for x in _exact_resize_images(w, h):
            luma = Image.fromarray(x)
            rgb = np.repeat(x[:, :, None], 3, axis=2)
            got = exact_hashes(luma, lum=pdq_luma(rgb))
            assert got.phash == str(imagehash.phash(luma))
            assert got.dhash == str(imagehash.dhash(luma))


@pytest.mark.parametrize(
    "size",
    [(33, 40), (33, 100), (40, 97), (200, 380), (400, 800), (300, 1000), (600, 1400),
     (900, 2400), (1000, 100), (640, 480), (512, 512), (1200, 675), (97, 5000)],
)
def test_exact_thumbnails_equal_pillows_resize_in_both_pass_orders(size: tuple[int, int]) -> None:
    """_exact_thumbnails (products at every size, a vertical-first resize as the products on
    the transposed image) are Pillow's LANCZOS thumbnails pixel for pixel."""
    from matchers.perceptual import _exact_thumbnails, _vertical_first

    w, h = size
    assert _vertical_first(size, (32, 32)) == (size in ((33, 40), (33, 100), (40, 97),
                                                        (200, 380), (400, 800), (300, 1000),
                                                        (600, 1400), (900, 2400), (97, 5000)))
    for x in _exact_resize_images(w, h):
        luma = Image.fromarray(x)
        thumb, dthumb = _exact_thumbnails(luma)
        assert thumb.dtype == dthumb.dtype == np.uint8
        assert np.array_equal(thumb, np.asarray(luma.resize((32, 32), Image.Resampling.LANCZOS)))
        assert np.array_equal(dthumb, np.asarray(luma.resize((9, 8), Image.Resampling.LANCZOS)))


def test_exact_hashes_of_small_images_equal_imagehash() -> None:
    """Small images (the short side above 32) take the product path too, tall ones (Pillow
    starts vertically) on their transpose; thinner ones go to Pillow's resize: imagehash's
    pHash and dHash bit for bit either way, and the coefficient caches' boundary (256 /
    257) agrees."""
    import imagehash

    from matchers.perceptual import SMALL_PRODUCT_MAX_SIDE, exact_hashes, pdq_luma

    sizes = ((16, 16), (32, 40), (33, 33), (64, 64), (120, 80), (80, 200), (200, 199),
             (SMALL_PRODUCT_MAX_SIDE, SMALL_PRODUCT_MAX_SIDE - 1),
             (SMALL_PRODUCT_MAX_SIDE + 1, 180))  # fmt: skip
    for w, h in sizes:
        for x in _exact_resize_images(w, h):
            luma = Image.fromarray(x)
            rgb = np.repeat(x[:, :, None], 3, axis=2)
            got = exact_hashes(luma, rgb=rgb, lum=pdq_luma(rgb))
            assert got.phash == str(imagehash.phash(luma)), (w, h)
            assert got.dhash == str(imagehash.dhash(luma)), (w, h)


@pytest.mark.parametrize(
    "size",
    [(1024, 768), (768, 1024), (400, 750), (400, 800), (300, 1000), (1000, 100), (200, 380)],
)
@pytest.mark.parametrize("out", [(32, 32), (9, 8)])
def test_fast_resize_follows_pillows_pass_order_and_rounding(
    size: tuple[int, int], out: tuple[int, int]
) -> None:
    """The fast path's two products reproduce Pillow's LANCZOS resize (imagehash's thumbnail).

    Pillow rounds to uint8 after each pass, and Pillow 13 starts vertically when the height
    loses more than twice as many pixels as the width (400x800 does, 400x750 does not, and
    200x380 does for 32x32 but not for 9x8); the emulation must agree
    with the installed Pillow pixel for pixel, give or take its fixed-point coefficients.
    """
    from matchers.perceptual import _pillow_resize, _vertical_first, lanczos_matrix

    w, h = size
    x = np.random.default_rng(w * h).integers(0, 256, (h, w), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(x).resize(out, Image.Resampling.LANCZOS)).astype(int)
    rows, cols = lanczos_matrix(h, out[1]), lanczos_matrix(w, out[0])
    got = _pillow_resize(x.astype(np.float64), rows, cols, _vertical_first(size, out))
    other = _pillow_resize(x.astype(np.float64), rows, cols, not _vertical_first(size, out))
    assert np.abs(got - expected).max() <= 1
    # Random pixels put thumbnail values near 127.5, where fixed point and float round apart.
    assert np.count_nonzero(got != expected) <= 0.1 * expected.size
    assert np.count_nonzero(got != expected) < np.count_nonzero(other != expected)
