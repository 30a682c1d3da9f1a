"""Decoding hostile images: frame counting stops at a cap, and a JPEG whose data ends before
its picture does is undecodable, never a grey-filled picture with status ok."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from crawler.sitegen import images as gen
from matchers.decode import MAX_COUNTED_FRAMES, DecodeRefused, open_and_decode
from matchers.hashing import hash_image
from matchers.jpegtail import FILLER, grey_tail, pad_scans

pytestmark = pytest.mark.hostile

# The smallest GIF frame: a 1 x 1 image descriptor and its LZW data.
GIF_HEAD = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
GIF_FRAME = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00"


def tiny_gif(frames: int) -> bytes:
    return GIF_HEAD + GIF_FRAME * frames + b";"


# --- frames -------------------------------------------------------------------------------


def test_an_800000_frame_gif_is_counted_to_the_cap_quickly() -> None:
    data = tiny_gif(800_000)  # 12 MB; counting every frame took 6 s
    started = time.perf_counter()
    d = hash_image(data)
    elapsed = time.perf_counter() - started
    assert d.status == "ok", d.error
    assert (d.frames, d.frames_capped) == (MAX_COUNTED_FRAMES, True)
    assert elapsed < 2.0  # about 0.05 s; generous for a loaded machine


@pytest.mark.parametrize(
    ("frames", "expected"),
    [(1, (1, False)), (2, (2, False)), (MAX_COUNTED_FRAMES, (MAX_COUNTED_FRAMES, False)),
     (MAX_COUNTED_FRAMES + 1, (MAX_COUNTED_FRAMES, True))],
)
def test_gif_frames_up_to_the_cap_are_exact(frames: int, expected: tuple[int, bool]) -> None:
    d = hash_image(tiny_gif(frames))
    assert (d.frames, d.frames_capped) == expected


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_an_apng_claiming_two_billion_frames_is_capped() -> None:
    data = gen.animated(3, "png", frames=3)
    at = data.index(b"acTL") - 4
    end = at + 12 + 8
    claims = _png_chunk(b"acTL", struct.pack(">II", 2**31 - 1, 0))
    d = hash_image(data[:at] + claims + data[end:])
    assert d.status == "ok", d.error
    assert (d.frames, d.frames_capped) == (MAX_COUNTED_FRAMES, True)
    assert d.phash == hash_image(data).phash  # still the first frame's hashes


def test_a_tiff_with_more_pages_than_the_cap() -> None:
    pages = [Image.new("L", (2, 2), i % 256) for i in range(MAX_COUNTED_FRAMES + 5)]
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    d = hash_image(buf.getvalue())
    assert (d.frames, d.frames_capped) == (MAX_COUNTED_FRAMES, True)


@pytest.mark.parametrize("fmt", ["gif", "png", "webp"])
def test_short_animations_are_not_capped(fmt: str) -> None:
    d = hash_image(gen.animated(5, fmt, frames=4))
    assert (d.frames, d.frames_capped) == (4, False)
    assert "frames_capped" in d.as_dict()


# --- JPEG data that ends before the picture ------------------------------------------------


def _noise_jpeg(size: tuple[int, int] = (512, 512), progressive: bool = False) -> bytes:
    rng = np.random.default_rng(11)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    return gen.encode(Image.fromarray(pixels), "jpeg", quality=90, progressive=progressive)


def _claim_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header claiming another size."""
    at = next(data.find(m) for m in (b"\xff\xc0", b"\xff\xc2") if data.find(m) > 0)
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("fast", [True, False])
def test_a_header_claiming_7071_pixels_over_512_of_data_is_undecodable(
    progressive: bool, fast: bool
) -> None:
    lie = _claim_size(_noise_jpeg(progressive=progressive), 7071, 7071)
    d = hash_image(lie, fast=fast)
    assert d.status == "undecodable"
    assert d.error is not None
    assert "claims 7071 x 7071 pixels, but its compressed data ends before" in d.error
    assert (d.phash, d.pdq, d.pdq_quality) == (None, None, None)
    assert (d.width, d.height) == (7071, 7071)


@pytest.mark.parametrize("size", [(512, 512), (1000, 700), (64, 48)])
def test_half_the_data_followed_by_an_end_marker_is_undecodable(size: tuple[int, int]) -> None:
    data = _noise_jpeg(size)
    cut = data[: len(data) // 2] + b"\xff\xd9"
    for fast in (True, False):
        d = hash_image(cut, fast=fast)
        assert d.status == "undecodable", (size, fast)
        assert "ends before the picture does" in (d.error or "")


def test_data_cut_by_a_comment_marker_in_the_middle_of_the_scan() -> None:
    data = _noise_jpeg()
    comment = b"\xff\xfe" + struct.pack(">H", 7) + b"hello"
    d = hash_image(data[: len(data) // 2] + comment + b"\xff\xd9")
    assert d.status == "undecodable"


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("progressive", [False, True])
def test_a_whole_picture_with_a_mid_grey_bottom_still_hashes(mode: str, progressive: bool) -> None:
    # The cheap test fires (the last block is exactly 128); the second decode clears it.
    picture = np.full((600, 800, 3), 128, np.uint8)
    picture[:300] = np.asarray(gen.photo(4, (800, 300)))
    img = Image.fromarray(picture).convert(mode)
    data = gen.encode(img, "jpeg", quality=90, progressive=progressive)
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    assert grey_tail(decoded, 1)
    fast, full = hash_image(data), hash_image(data, fast=False)
    assert fast.status == "ok", fast.error
    assert full.status == "ok", full.error
    assert fast.pdq is not None


def test_whole_photos_and_an_mpo_are_unaffected() -> None:
    photo = gen.photo(9, (640, 480))
    mpo = gen.encode(photo, "mpo", save_all=True, append_images=[photo.rotate(90)])
    for data in (gen.photo_jpeg(5), _noise_jpeg(), mpo, _noise_jpeg() + b"trailing bytes"):
        assert hash_image(data).status == "ok"


def test_pad_scans_puts_filler_after_every_scan_of_the_first_image() -> None:
    progressive = _noise_jpeg((64, 64), progressive=True)
    padded = pad_scans(progressive)
    assert padded is not None
    assert padded.count(FILLER) == progressive.count(b"\xff\xda")
    assert padded.endswith(b"\xff\xd9")
    baseline = _noise_jpeg((64, 64))
    padded = pad_scans(baseline + baseline)  # a second image after the first EOI is kept
    assert padded is not None
    assert padded.count(FILLER) == 1
    assert padded.endswith(baseline)
    for broken in (b"\xff\xd8", b"\xff\xd8garbage", baseline[: len(baseline) // 2]):
        assert pad_scans(broken) is None


# Whole pictures in a mid-grey frame (a mat, a page background): the last block decodes to
# exactly 128, so the second decode runs and must find the same pixels. It once did not: at
# 1/2 scale an odd side asked Pillow's draft for the rounded-up decoded size and got scale 1
# (a different shape), and the luma-alone decode of the graphic path was compared with
# colour converted to L. Sizes: scale 1, 2, 4 and 8 in the fast path, even and odd sides.
_GREY_FRAMED = [
    pytest.param((960, 720), 80, False, 0, id="960x720-q80"),
    pytest.param((1001, 777), 80, False, 0, id="1001x777-q80-odd-scale2"),
    pytest.param((513, 385), 50, True, 0, id="513x385-q50-progressive"),
    pytest.param((300, 200), 95, False, 2, id="300x200-q95-restart-scale1"),
    pytest.param((799, 601), 95, True, 4, id="799x601-q95-progressive-restart"),
    pytest.param((1537, 1153), 65, False, 1, id="1537x1153-q65-restart-scale4"),
    pytest.param((2051, 1539), 90, True, 0, id="2051x1539-q90-progressive-scale4"),
    pytest.param((3203, 3077), 80, False, 0, id="3203x3077-q80-scale8"),
    pytest.param((3080, 3072), 50, True, 3, id="3080x3072-q50-progressive-restart-scale8"),
]


@pytest.mark.parametrize(("size", "quality", "progressive", "restart"), _GREY_FRAMED)
def test_a_whole_picture_in_a_mid_grey_frame_hashes(
    size: tuple[int, int], quality: int, progressive: bool, restart: int
) -> None:
    share = max(0.03, 40 / min(size))  # the frame covers the last 16 x 16 block, and more
    framed = gen.frame(gen.photo(102, (640, 480)), share, (128, 128, 128)).resize(size)
    data = gen.encode(
        framed, "jpeg", quality=quality, progressive=progressive, restart_marker_blocks=restart
    )
    assert grey_tail(np.asarray(Image.open(io.BytesIO(data)).convert("L")), 1)
    for fast in (True, False):
        d = hash_image(data, fast=fast)
        assert d.status == "ok", (fast, d.error)
    # The graphic / near-tie path's luma-alone full decode, whatever path this photo takes.
    decoded = open_and_decode(data, "jpeg", max_pixels=10**8, fast=True, full=True, grey=True)
    assert decoded.luma.size == size


@pytest.mark.parametrize("size", [(1001, 777), (1537, 1153), (3203, 3077)])
def test_odd_sized_data_cut_short_is_undecodable_at_every_scale(size: tuple[int, int]) -> None:
    # Before the fix these were refused only because the second decode had another shape.
    data = _noise_jpeg(size)
    cut = data[: len(data) // 2] + b"\xff\xd9"
    for fast in (True, False):
        d = hash_image(cut, fast=fast)
        assert d.status == "undecodable", (size, fast)
        assert "ends before the picture does" in (d.error or "")
    with pytest.raises(DecodeRefused, match="ends before the picture does"):
        open_and_decode(cut, "jpeg", max_pixels=10**8, fast=True, full=True, grey=True)
