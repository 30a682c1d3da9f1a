"""hash_image on hostile and awkward bodies: bombs, truncation, non-images, odd modes and sizes."""

from __future__ import annotations

import io
import struct
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from crawler.sitegen import images as gen
from matchers.decode import MAX_COUNTED_FRAMES, TruncatedImagesEnabledError
from matchers.hashing import DEFAULT_MAX_PIXELS, hash_image
from matchers.perceptual import PDQ_EMPTY

pytestmark = pytest.mark.hostile

STATUSES = {"ok", "unsupported", "undecodable", "too_large"}


def assert_clean_error(message: str | None, *, marker: bytes | None = None) -> None:
    """A user-facing sentence: printable ASCII, ends with a full stop, no bytes echoed."""
    assert message
    assert message.isascii()
    assert message.isprintable()
    assert message.endswith(".")
    assert "\\x" not in message
    assert "b'" not in message
    if marker is not None:
        assert marker.decode() not in message


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF header whose one strip claims width x height 8-bit grey pixels."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after the IFD
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x80" * 16


# --- Pillow's global stays off ---------------------------------------------------------------


def test_load_truncated_images_stays_off() -> None:
    hash_image(gen.truncated(gen.photo_jpeg(1, (320, 240))))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_hashing_refuses_to_run_if_someone_turns_truncated_loading_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(TruncatedImagesEnabledError, match="LOAD_TRUNCATED_IMAGES"):
        hash_image(gen.photo_jpeg(1, (320, 240)))


# --- decompression bombs -----------------------------------------------------------------


def test_forged_png_bomb_is_refused_before_any_allocation() -> None:
    data = gen.png_bomb(100_000, 100_000)
    tracemalloc.start()
    try:
        d = hash_image(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert d.status == "too_large"
    assert (d.format, d.width, d.height) == ("png", 100_000, 100_000)
    assert d.phash is None
    assert d.pdq is None
    assert d.md5 is not None
    assert peak < 2_000_000  # a decode would need 10 GB; the refusal needs almost nothing
    assert_clean_error(d.error)
    assert "100000 x 100000" in (d.error or "")
    assert f"{DEFAULT_MAX_PIXELS:,}" in (d.error or "")


def test_real_one_bit_png_bomb_is_refused() -> None:
    data = gen.png_bomb(8_000, 8_000, forged=False)  # 64 MP of genuine, tiny, zero rows
    assert len(data) < 200_000
    d = hash_image(data)
    assert d.status == "too_large"
    assert (d.width, d.height) == (8_000, 8_000)
    assert_clean_error(d.error)


def test_max_pixels_is_the_callers_limit() -> None:
    data = gen.photo_jpeg(1)
    assert hash_image(data, max_pixels=1024 * 768).status == "ok"
    small = hash_image(data, max_pixels=1024 * 768 - 1)
    assert small.status == "too_large"
    assert small.sha256 == hash_image(data).sha256


@pytest.mark.parametrize("fmt", ["gif", "bmp", "webp", "jpeg"])
def test_claimed_size_is_read_from_every_header(fmt: str) -> None:
    data = gen.encode(gen.photo(2, (300, 200)), fmt)
    d = hash_image(data, max_pixels=100)
    assert d.status == "too_large"
    assert (d.width, d.height) == (300, 200)


def test_pillows_own_bomb_error_becomes_too_large() -> None:
    """A TIFF claiming 10^10 pixels with our limit lifted: Pillow's check still refuses it."""
    d = hash_image(tiff_claiming(100_000, 100_000), max_pixels=10**12)
    assert d.status == "too_large"
    assert d.format == "tiff"
    assert_clean_error(d.error)


def test_pillows_bomb_warning_as_an_error_becomes_too_large() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        d = hash_image(tiff_claiming(12_000, 10_000), max_pixels=10**12)
    assert d.status == "too_large"


# --- broken and non-image bodies -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "bmp", "tiff", "avif"])
@pytest.mark.parametrize("fraction", [0.9, 0.5, 0.05])
def test_truncated_images_are_undecodable_not_half_grey(fmt: str, fraction: float) -> None:
    data = gen.truncated(gen.encode(gen.photo(4, (320, 240)), fmt), fraction)
    d = hash_image(data)
    assert d.status == "undecodable"
    assert d.format == fmt
    assert d.phash is None
    assert d.pdq is None
    assert_clean_error(d.error)


def test_jpeg_cut_inside_its_header() -> None:
    d = hash_image(gen.photo_jpeg(1)[:40])
    assert d.status == "undecodable"
    assert_clean_error(d.error)


def test_empty_body() -> None:
    d = hash_image(b"")
    assert d.status == "unsupported"
    assert d.size == 0
    assert d.md5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert d.error == "The body is empty (0 bytes), so there is no image to hash."


@pytest.mark.parametrize(
    ("body", "kind", "phrase"),
    [
        (gen.SVG_DOCUMENT, "svg", "SVG drawing"),
        (gen.HTML_DOCUMENT, "html", "HTML page"),
        (b"<!-- x --><html><body>403</body></html>", "html", "HTML page"),
        (b'{"error": "gone"}', "json", "JSON document"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "pdf", "PDF document"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64, "heic", "HEIC"),
        (bytes(range(7, 200)) * 3, None, "no format"),
    ],
)
def test_non_images_are_unsupported_with_a_sentence(
    body: bytes, kind: str | None, phrase: str
) -> None:
    d = hash_image(body)
    assert d.status == "unsupported"
    assert d.format == kind
    assert d.phash is None
    assert d.sha1 is not None
    assert phrase in (d.error or "")
    assert_clean_error(d.error)


def test_magic_bytes_restrict_the_decoder() -> None:
    """A JPEG signature in front of a PNG is a broken JPEG: the PNG plugin is never tried."""
    png = gen.encode(gen.photo(1, (64, 64)), "png")
    d = hash_image(b"\xff\xd8\xff\xe0" + png)
    assert d.format == "jpeg"
    assert d.status == "undecodable"


def test_error_never_echoes_the_body() -> None:
    marker = b"TRAWLMARKER42"
    png = gen.encode(gen.photo(1, (64, 64)), "png")
    # A chunk whose type is the marker's first bytes, then garbage: a corrupt PNG.
    body = png[:33] + struct.pack(">I", 13) + b"TRAW" + marker + b"\0" * 8 + png[33:60]
    for data in (body, marker + png, png[:60] + marker * 50, b"\xff\xd8\xff" + marker * 10):
        d = hash_image(data)
        assert d.status != "ok"
        assert_clean_error(d.error, marker=marker)


@settings(max_examples=150, deadline=None)
@given(
    magic=st.sampled_from(
        [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ", b"II*\x00", b""]
    ),
    body=st.binary(max_size=600),
)
def test_arbitrary_bytes_never_raise(magic: bytes, body: bytes) -> None:
    d = hash_image(magic + body)
    assert d.status in STATUSES
    assert d.size == len(magic) + len(body)
    if d.status != "ok":
        assert_clean_error(d.error)


def test_bit_flipped_images_never_raise() -> None:
    rng = np.random.default_rng(7)
    for fmt in ("jpeg", "png", "gif", "webp", "bmp", "tiff"):
        data = bytearray(gen.encode(gen.photo(5, (120, 90)), fmt))
        for _ in range(25):
            broken = bytearray(data)
            for pos in rng.integers(0, len(broken), size=4):
                broken[int(pos)] ^= int(rng.integers(1, 256))
            d = hash_image(bytes(broken))
            assert d.status in STATUSES


# --- awkward but valid images -------------------------------------------------------------


def _png(img: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **params)
    return buf.getvalue()


def _valid_cases() -> dict[str, bytes]:
    photo = gen.photo(6, (200, 150))
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    grey16 = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
    return {
        "png-rgba": gen.encode(gen.icon(6, (96, 96)), "png"),
        "png-palette": _png(palette),
        "png-palette-transparency": _png(palette, transparency=0),
        "png-la": _png(photo.convert("LA")),
        "png-16-bit-grey": _png(grey16),
        "png-1-bit": _png(photo.convert("1")),
        "jpeg-cmyk": gen.cmyk_jpeg(6),
        "jpeg-grey": gen.encode(photo.convert("L"), "jpeg"),
        "jpeg-progressive": gen.encode(photo, "jpeg", progressive=True),
        "jpeg-exif-rotated": gen.encode(photo, "jpeg", exif=_exif_orientation(6)),
        "bmp-24": gen.encode(photo, "bmp"),
        "bmp-palette": gen.encode(palette, "bmp"),
        "webp-lossless-alpha": gen.encode(gen.icon(6, (96, 96)), "webp", lossless=True),
        "tiff-lzw": gen.encode(photo, "tiff", compression="tiff_lzw"),
        "avif": gen.encode(photo, "avif"),
        "gif": gen.encode(photo, "gif"),
        "jpeg-mpo": gen.encode(photo, "mpo", save_all=True, append_images=[palette.convert("RGB")]),
    }


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@pytest.mark.parametrize(("name", "data"), sorted(_valid_cases().items()))
def test_awkward_modes_hash_like_the_reference(name: str, data: bytes) -> None:
    fast, full = hash_image(data), hash_image(data, fast=False)
    assert fast.status == "ok", fast.error
    assert full.status == "ok", full.error
    # Small images take the exact path: the fast hashes are the reference's.
    assert (fast.phash, fast.dhash, fast.pdq) == (full.phash, full.dhash, full.pdq), name
    assert fast.frames == (2 if name == "jpeg-mpo" else 1)


@pytest.mark.parametrize(
    "size", [(1, 1), (2, 3), (4, 4), (5, 5), (1, 3000), (3000, 1), (7, 2000), (2000, 9)]
)
def test_tiny_and_thin_images(size: tuple[int, int]) -> None:
    img = Image.fromarray(np.asarray(gen.photo(8, (64, 64)).resize(size)))
    for data in (gen.encode(img, "png"), gen.encode(img, "jpeg")):
        fast, full = hash_image(data), hash_image(data, fast=False)
        assert fast.status == "ok", fast.error
        assert (fast.width, fast.height) == size
        assert (fast.phash, fast.dhash, fast.pdq, fast.pdq_quality) == (
            full.phash,
            full.dhash,
            full.pdq,
            full.pdq_quality,
        )
        if min(size) < 5:  # below PDQ's minimum: Meta's all-zero hash of quality 0
            assert fast.pdq == PDQ_EMPTY
            assert fast.pdq_quality == 0


def test_long_animation_frames_are_counted_up_to_the_cap() -> None:
    frames = [Image.new("L", (4, 4), (i * 37) % 256) for i in range(1500)]  # each unlike the last
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=10)
    d = hash_image(buf.getvalue())
    assert d.status == "ok"
    assert (d.frames, d.frames_capped) == (MAX_COUNTED_FRAMES, True)


def test_animation_with_a_broken_later_frame_still_hashes_its_first() -> None:
    data = gen.animated(2, "gif", frames=4)
    d = hash_image(data[: len(data) - 40])
    assert d.status in ("ok", "undecodable")
    if d.status == "ok":
        assert d.phash == hash_image(data).phash
