"""Image to file bytes, optionally carrying a unique byte marker (for the no-raw-content test)."""

from __future__ import annotations

import io
import struct

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from crawler.sitegen.images.base import Size
from crawler.sitegen.images.scenes import PHOTO_SIZE, photo

MARKER_KEY = "trawl-marker"  # the PNG tEXt keyword the marker is stored under
_PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}


def encode(img: Image.Image, fmt: str, *, marker: bytes | None = None, **params: object) -> bytes:
    """The bytes of `img` saved as `fmt` (jpeg, png, gif, webp, bmp, tiff, avif, mpo).

    Modes a format cannot hold are converted first (RGBA -> RGB for JPEG/BMP, palette for GIF).
    JPEG defaults to quality 85, WebP/AVIF to quality 80. `marker`: bytes stored in the file
    where decoders ignore them (PNG tEXt, JPEG/GIF comment, WebP XMP), so a test can search
    everything the crawler wrote for any trace of the image's content.
    """
    pil_format = _PIL_FORMATS.get(fmt.lower(), fmt.upper())
    if pil_format in ("JPEG", "BMP") and img.mode not in ("RGB", "L", "CMYK", "1"):
        img = img.convert("RGB")
    if pil_format == "GIF" and img.mode not in ("P", "L", "1"):
        img = img.convert("RGB").quantize(256)
    if pil_format == "JPEG":
        params.setdefault("quality", 85)
    if pil_format in ("WEBP", "AVIF"):
        params.setdefault("quality", 80)
    if marker is not None:
        params.update(_marker_params(pil_format, marker))
    buffer = io.BytesIO()
    img.save(buffer, format=pil_format, **params)
    return buffer.getvalue()


def _marker_params(pil_format: str, marker: bytes) -> dict[str, object]:
    if pil_format == "PNG":
        info = PngInfo()
        info.add_text(MARKER_KEY, marker.decode("ascii"))
        return {"pnginfo": info}
    if pil_format in ("JPEG", "GIF"):
        return {"comment": marker}
    if pil_format == "WEBP":
        return {"xmp": marker}
    raise ValueError(f"Cannot embed a marker in {pil_format}: use PNG, JPEG, GIF or WEBP.")


def photo_jpeg(seed: int, size: Size = PHOTO_SIZE, quality: int = 85) -> bytes:
    """A `photo` as JPEG bytes (the typical web image)."""
    return encode(photo(seed, size), "jpeg", quality=quality)


def encode_as_served(kind: str, img: Image.Image) -> bytes:
    """As a site serves an image of `kind`: photos as JPEG (quality 90), graphics as PNG."""
    return encode(img, "jpeg", quality=90) if kind == "photo" else encode(img, "png")


def with_jpeg_comment(jpeg: bytes, comment: bytes) -> bytes:
    """The same JPEG (same pixels) with a COM segment inserted after SOI: distinct bytes."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("Not a JPEG: expected the SOI marker FF D8 at the start.")
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]
