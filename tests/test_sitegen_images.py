"""crawler.sitegen.images: every kind is seeded and sized as asked, markers land in the bytes."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from crawler.sitegen import images as gen
from matchers.sniff import sniff_format


@pytest.mark.parametrize("kind", sorted(gen.KINDS))
def test_a_kind_is_a_function_of_its_seed_and_size(kind: str) -> None:
    make = gen.KINDS[kind]
    size = (96, 96) if kind == "icon" else (360, 240)
    first, again, other = make(3, size), make(3, size), make(4, size)
    assert first.size == size
    assert first.mode == ("RGBA" if kind == "icon" else "RGB")
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


@pytest.mark.parametrize("kind", sorted(gen.KINDS))
def test_sample_draws_sizes_in_the_kinds_range(kind: str) -> None:
    (w0, h0), (w1, h1) = gen.SIZE_RANGES[kind]
    sizes = {gen.sample(kind, 7, index).size for index in range(3)}
    assert len(sizes) > 1
    assert all(w0 <= w <= w1 and h0 <= h <= h1 for w, h in sizes)
    assert np.array_equal(np.asarray(gen.sample(kind, 7, 1)), np.asarray(gen.sample(kind, 7, 1)))


@pytest.mark.parametrize("fmt", ["png", "jpeg", "gif", "webp"])
def test_the_marker_is_in_the_bytes_and_not_in_the_pixels(fmt: str) -> None:
    img = gen.icon(1, (48, 48)).convert("RGB")
    marker = b"TRAWLMARK-test-" + fmt.encode()
    marked = gen.encode(img, fmt, marker=marker)
    plain = gen.encode(img, fmt)
    assert marker in marked
    assert marker not in plain
    assert sniff_format(marked) == fmt
    with Image.open(io.BytesIO(marked)) as a, Image.open(io.BytesIO(plain)) as b:
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))


def test_a_marker_where_no_format_can_hold_it_is_refused() -> None:
    with pytest.raises(ValueError, match="Cannot embed a marker in BMP"):
        gen.encode(gen.icon(1), "bmp", marker=b"m")


def test_crop3_cuts_three_percent_split_as_asked() -> None:
    img = gen.photo(1, (400, 200))
    assert gen.crop3(img).size == (388, 194)
    even = np.asarray(img)[3:197, 6:394]
    assert np.array_equal(np.asarray(gen.crop3(img)), even)
    assert np.array_equal(np.asarray(gen.crop3(img, left=0.0, top=1.0)), np.asarray(img)[6:, :388])


def test_png_bomb_claims_its_size_and_carries_the_marker() -> None:
    data = gen.png_bomb(40_000, 30_000, marker=b"TRAWLMARK-bomb")
    assert len(data) < 1000
    assert struct.unpack(">II", data[16:24]) == (40_000, 30_000)
    assert b"TRAWLMARK-bomb" in data
    genuine = gen.png_bomb(2_000, 1_000, forged=False)
    with Image.open(io.BytesIO(genuine)) as img:
        assert img.size == (2_000, 1_000)
        img.load()


def test_oversize_blob_and_jpeg_comment_give_distinct_bytes() -> None:
    blob = gen.oversize_blob(5_000, marker=b"TRAWLMARK-huge")
    assert len(blob) == 5_000
    assert blob.startswith(b"\xff\xd8")
    assert b"TRAWLMARK-huge" in blob
    jpeg = gen.photo_jpeg(2, (64, 48))
    tagged = gen.with_jpeg_comment(jpeg, b"x-1")
    assert tagged != jpeg
    with Image.open(io.BytesIO(jpeg)) as a, Image.open(io.BytesIO(tagged)) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
