"""Benign synthetic images made at run time (gradients and shapes), edits, and hostile files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from PIL.PngImagePlugin import PngInfo

MARKER_KEY = "trawl-marker"


def synthetic_image(seed: int, size: tuple[int, int] = (512, 384)) -> Image.Image:
    """A textured RGB picture from a seed: sinusoid gradients plus blurred shapes, so PDQ
    quality is high and unrelated seeds are far apart in every perceptual hash."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    pixels = np.zeros((h, w, 3), np.float32)
    for channel in range(3):
        for _ in range(3):
            fx, fy = rng.uniform(0.3, 3.0, 2) / np.array([w, h], np.float32)
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.sin(2 * np.pi * (fx * x + fy * y) + phase)
            pixels[:, :, channel] += rng.uniform(20, 60) * wave
    image = Image.fromarray(np.clip(pixels + 128, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 8, w // 2)), y0 + int(rng.integers(h // 8, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(4))


def encode(image: Image.Image, fmt: str, marker: bytes, **options: object) -> bytes:
    """Encode with a unique byte marker embedded (PNG tEXt, JPEG/GIF comment, WebP XMP)."""
    buffer = io.BytesIO()
    fmt = fmt.upper()
    if fmt == "PNG":
        info = PngInfo()
        info.add_text(MARKER_KEY, marker.decode("ascii"))
        image.save(buffer, "PNG", pnginfo=info, **options)
    elif fmt in ("JPEG", "GIF"):
        image.save(buffer, fmt, comment=marker, **options)
    elif fmt == "WEBP":
        image.save(buffer, "WEBP", xmp=marker, **options)
    else:
        raise ValueError(f"Unsupported synthetic format {fmt!r}: use PNG, JPEG, GIF or WEBP.")
    return buffer.getvalue()


# Edits a known image survives (perceptual hashes stay within the match threshold).
def resized(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)


def cropped(image: Image.Image, fraction: float = 0.03) -> Image.Image:
    """Crop `fraction` of each dimension, half from each edge."""
    dx, dy = int(image.width * fraction / 2), int(image.height * fraction / 2)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def grayscale(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image)


def truncated(data: bytes) -> bytes:
    """A broken image: the first half of a real one."""
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def decompression_bomb(marker: bytes, side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side pixels (900 Mpx) that is ~100 KB on the wire."""
    row = b"\x00" + bytes((side + 7) // 8)  # filter byte + packed zero bits
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row) for _ in range(side)]
    idat = b"".join(chunks) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"tEXt", MARKER_KEY.encode() + b"\x00" + marker)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def oversize_blob(marker: bytes, size: int, seed: int = 0) -> bytes:
    """JPEG-looking bytes of exactly `size` bytes (incompressible), for the download cap."""
    head = b"\xff\xd8\xff\xfe" + struct.pack(">H", len(marker) + 2) + marker
    noise = np.random.default_rng(seed).integers(0, 256, max(0, size - len(head)), np.uint8)
    return head + noise.tobytes()


def with_jpeg_comment(jpeg: bytes, comment: bytes) -> bytes:
    """The same JPEG (same pixels) with a COM segment inserted after SOI: distinct bytes."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("Not a JPEG: expected the SOI marker FF D8 at the start.")
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]
