"""Awkward and hostile files: animations, CMYK JPEG, PNG bombs, cut-off and oversize bodies,
and documents served where an image was expected."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from crawler.sitegen.images.base import Size
from crawler.sitegen.images.encode import MARKER_KEY, encode
from crawler.sitegen.images.graphics import icon
from crawler.sitegen.images.scenes import photo


def animated(seed: int, fmt: str = "gif", frames: int = 3, size: Size = (96, 64)) -> bytes:
    """An animation (gif, webp or png/APNG) whose frames are different icons."""
    images = [icon(seed + i, size).convert("RGB") for i in range(frames)]
    buffer = io.BytesIO()
    pil_format = fmt.upper()
    if pil_format == "GIF":
        images = [im.quantize(64) for im in images]
    images[0].save(
        buffer, format=pil_format, save_all=True, append_images=images[1:], duration=100, loop=0
    )
    return buffer.getvalue()


def cmyk_jpeg(seed: int, size: Size = (320, 240)) -> bytes:
    """A photo stored as a CMYK JPEG (print workflows put these on the web)."""
    return encode(photo(seed, size).convert("CMYK"), "jpeg", quality=90)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(
    width: int, height: int, *, forged: bool = True, marker: bytes | None = None
) -> bytes:
    """A PNG claiming width x height pixels (1-bit greyscale), tiny on the wire.

    forged=True: a valid header (correct CRCs) over a few bytes of pixel data, so decoding
    would fail after allocating; any size is cheap to make. forged=False: every row really is
    there (all zero, zlib-compressed), i.e. a genuine decompression bomb (30000 x 30000 is
    ~100 KB and takes a second or two to make). `marker`: stored in a tEXt chunk.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    if forged:
        idat = zlib.compress(b"\x00" * 64)
    else:
        row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed zero bits
        compressor = zlib.compressobj(9)
        parts = [compressor.compress(row) for _ in range(height)]
        parts.append(compressor.flush())
        idat = b"".join(parts)
    text = b"" if marker is None else _png_chunk(b"tEXt", MARKER_KEY.encode() + b"\x00" + marker)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + text
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    """The first `fraction` of `data` (a download cut short)."""
    return data[: max(1, int(len(data) * fraction))]


def oversize_blob(size: int, *, marker: bytes = b"", seed: int = 0) -> bytes:
    """JPEG-looking bytes (SOI, then a comment holding `marker`, then noise) of exactly `size`
    bytes: incompressible, for the download cap."""
    head = b"\xff\xd8\xff\xfe" + struct.pack(">H", len(marker) + 2) + marker
    noise = np.random.default_rng(seed).integers(0, 256, max(0, size - len(head)), np.uint8)
    return head + noise.tobytes()


SVG_DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<circle cx="32" cy="32" r="30" fill="teal"/></svg>\n'
)
HTML_DOCUMENT = (
    b"<!DOCTYPE html>\n<html><head><title>Not found</title></head>"
    b"<body><p>The image you asked for is not here.</p></body></html>\n"
)
