"""Deterministic generators of benign test images: seed -> image, plus edits and encoders.

Every function is a pure function of its arguments (numpy PCG64 + Pillow drawing), so a seed
names the same pixels on every run of the same library versions. Nothing here touches disk or
network; tests, benchmarks and the demo site build their images from these at run time.

Kinds: `photo` (photo-like natural scene, ~130 KB as a 1024x768 JPEG at quality 85),
`line_art`, `chart`, `text_card`, `icon` (RGBA). Edits (`EDITS`): `resize50`, `jpeg60`,
`crop3`, `grayscale`, `text_overlay`. `encode(img, fmt)` gives file bytes; `animated`, `cmyk_jpeg`,
`png_bomb`, `truncated`, `SVG_DOCUMENT` and `HTML_DOCUMENT` give the awkward and hostile cases.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Size = tuple[int, int]
BICUBIC = Image.Resampling.BICUBIC
Color = tuple[int, int, int]

PHOTO_SIZE: Size = (1024, 768)
WORDS = (
    "harbour", "morning", "sales", "quarter", "north", "river", "station", "garden", "report",
    "figure", "total", "growth", "market", "bridge", "window", "summer", "lantern", "orchard",
    "meadow", "pattern", "signal", "archive", "thunder", "copper", "velvet", "canyon", "island",
    "marble", "pepper", "silver", "violet", "saddle", "ribbon", "falcon",
)  # fmt: skip


def _rng(seed: int, salt: int) -> np.random.Generator:
    # Different salts keep the kinds independent: photo(3) and chart(3) share no randomness.
    return np.random.default_rng([seed, salt])


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> Color:
    r, g, b = (int(v) for v in rng.integers(lo, hi, size=3))
    return (r, g, b)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _words(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=n))


def _noise(rng: np.random.Generator, size: Size, cells: tuple[int, ...]) -> np.ndarray:
    """Octave value noise in about [-1, 1]: bicubic-upsampled random grids, 1/f weighted."""
    w, h = size
    total = np.zeros((h, w), dtype=np.float32)
    weight = 0.0
    for cell in cells:
        gw, gh = w // cell + 3, h // cell + 3
        grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
        up = Image.fromarray(grid, mode="F").resize((gw * cell, gh * cell), BICUBIC)
        amp = cell**0.9
        total += amp * np.asarray(up, dtype=np.float32)[cell : cell + h, cell : cell + w]
        weight += amp
    return total / weight


def photo(seed: int, size: Size = PHOTO_SIZE) -> Image.Image:
    """A photo-like RGB scene: sky, textured ground under a ridge line, soft objects, grain.

    Statistics close enough to a photograph for hashing and JPEG size purposes: smooth
    gradients, 1/f texture, edges softened by blur, and sensor-like noise (a 1024x768 JPEG at
    quality 85 is about 130 KB).
    """
    rng = _rng(seed, 1)
    w, h = size
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    sky_top, sky_low = np.array(_color(rng, 40, 200)), np.array(_color(rng, 120, 255))
    sky = (sky_top * (1 - yy) + sky_low * yy).astype(np.float32)  # (h, 3)
    img = np.broadcast_to(sky[:, None, :], (h, w, 3))
    clouds = _noise(rng, size, (256, 128, 64, 32))
    img = img + 40.0 * clouds[:, :, None]

    ridge_noise = _noise(rng, (w, 8), (128, 64, 32, 16))[4]
    horizon = (rng.uniform(0.35, 0.65) * h + ridge_noise * h * 0.25).astype(np.int32)
    ground = np.array(_color(rng, 30, 180), dtype=np.float32)
    texture = _noise(rng, size, (64, 16, 8, 4))
    below = np.arange(h)[:, None] >= horizon[None, :]
    depth = np.clip((np.arange(h)[:, None] - horizon[None, :]) / (0.5 * h), 0.0, 1.0)
    shade = (0.7 + 0.6 * depth)[:, :, None]
    ground_px = ground * shade + 70.0 * texture[:, :, None]
    img = np.where(below[:, :, None], ground_px, img)

    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    # Grass/pebble strokes below the ridge: the small sharp detail real photos are full of.
    draw = ImageDraw.Draw(canvas)
    n = int(w * h / 250)
    xs = rng.integers(0, w, size=n)
    drop = (rng.random(n) ** 1.5 * (h - horizon[xs])).astype(np.int32)
    ys = np.minimum(h - 1, horizon[xs] + drop)
    tints = rng.integers(-70, 50, size=(n, 1)) + rng.integers(-12, 12, size=(n, 3))
    lengths = rng.integers(2, 5 + h // 60, size=n) * (0.5 + ys / h)
    slants = rng.integers(-3, 4, size=n)
    fills = np.clip(ground + tints, 0, 255).astype(np.int64).tolist()
    tops = (ys - lengths).astype(np.int64).tolist()
    for x, y, top, slant, fill in zip(
        xs.tolist(), ys.tolist(), tops, slants.tolist(), fills, strict=True
    ):
        draw.line((x, y, x + slant, top), fill=tuple(fill), width=1)
    for _ in range(int(rng.integers(8, 20))):
        tone = np.array(_color(rng, 10, 245)) * 0.6 + ground * 0.4
        cx, cy = int(rng.integers(0, w)), int(rng.integers(h // 4, h))
        rx = int(rng.integers(w // 60, w // 8 + 1)) + 1
        ry = int(rng.integers(h // 60, h // 6 + 1)) + 1
        ellipse = rng.random() < 0.5
        corners = rng.integers(-1000, 1000, size=(5, 2)) / 1000.0
        blur = float(rng.uniform(0.6, 5.0))
        # Draw and blur the object's mask in its own box only: full-size masks are slow.
        pad = int(3 * blur) + 2
        x0, y0 = cx - rx - pad, cy - ry - pad
        mask = Image.new("L", (2 * (rx + pad), 2 * (ry + pad)), 0)
        mdraw = ImageDraw.Draw(mask)
        if ellipse:
            mdraw.ellipse((pad, pad, pad + 2 * rx, pad + 2 * ry), fill=255)
        else:
            pts = [(pad + rx + int(dx * rx), pad + ry + int(dy * ry)) for dx, dy in corners]
            mdraw.polygon(pts, fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
        color = tuple(int(c) for c in tone)
        canvas.paste(color, (x0, y0, x0 + mask.width, y0 + mask.height), mask)

    arr = np.asarray(canvas, dtype=np.float32)
    detail = _noise(rng, size, (8, 4, 2))
    grain = rng.normal(0.0, 3.0, size=(h, w, 1)).astype(np.float32)
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    vignette = 1.0 - 0.25 * (xx**2 + (2 * yy - 1) ** 2)
    arr = (arr + 16.0 * detail[:, :, None] + grain) * vignette[:, :, None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def line_art(seed: int, size: Size = (800, 600)) -> Image.Image:
    """Black strokes (polylines, circles, boxes) on white: flat, high-contrast drawing."""
    rng = _rng(seed, 2)
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(12, 30))):
        kind = rng.integers(0, 3)
        width = int(rng.integers(1, 5))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if kind == 0:
            pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(4)]
            draw.line(pts, fill=(0, 0, 0), width=width, joint="curve")
        elif kind == 1:
            draw.ellipse(box, outline=(0, 0, 0), width=width)
        else:
            draw.rectangle(box, outline=(0, 0, 0), width=width)
    return img


def chart(seed: int, size: Size = (800, 600)) -> Image.Image:
    """A bar or line chart with axes, grid, title and tick labels."""
    rng = _rng(seed, 3)
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = w // 10, w - w // 20, h // 8, h - h // 8
    draw.text((left, top // 3), _words(rng, 3).title(), fill=(20, 20, 20), font=_font(h // 24))
    for i in range(6):
        y = bottom - i * (bottom - top) // 5
        draw.line((left, y, right, y), fill=(220, 220, 220), width=1)
        draw.text((left - w // 14, y - 6), str(i * 20), fill=(60, 60, 60), font=_font(h // 50))
    draw.line((left, top, left, bottom), fill=(0, 0, 0), width=2)
    draw.line((left, bottom, right, bottom), fill=(0, 0, 0), width=2)
    n = int(rng.integers(4, 13))
    values = rng.uniform(0.1, 1.0, size=n)
    step = (right - left) / n
    if rng.random() < 0.5:
        color = _color(rng, 0, 200)
        for i, v in enumerate(values):
            x0 = int(left + i * step + step * 0.15)
            x1 = int(left + (i + 1) * step - step * 0.15)
            draw.rectangle((x0, int(bottom - v * (bottom - top)), x1, bottom - 1), fill=color)
    else:
        for _ in range(int(rng.integers(1, 4))):
            color = _color(rng, 0, 200)
            series = rng.uniform(0.1, 1.0, size=n)
            pts = [
                (int(left + (i + 0.5) * step), int(bottom - v * (bottom - top)))
                for i, v in enumerate(series)
            ]
            draw.line(pts, fill=color, width=3)
    return img


def text_card(seed: int, size: Size = (800, 400)) -> Image.Image:
    """Several lines of dark text on a plain light background (a screenshot of prose)."""
    rng = _rng(seed, 4)
    w, h = size
    img = Image.new("RGB", size, _color(rng, 200, 256))
    draw = ImageDraw.Draw(img)
    font_size = int(rng.integers(h // 16, h // 9))
    ink = _color(rng, 0, 80)
    y = font_size // 2
    while y < h - font_size:
        line = _words(rng, int(rng.integers(3, 7)))
        draw.text((w // 20, y), line, fill=ink, font=_font(font_size))
        y += int(font_size * 1.5)
    return img


def icon(seed: int, size: Size = (64, 64)) -> Image.Image:
    """A small RGBA icon: a coloured disc or rounded square with a glyph, transparent corners."""
    rng = _rng(seed, 5)
    w, h = size
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    fill = (*_color(rng, 30, 230), 255)
    if rng.random() < 0.5:
        draw.ellipse((1, 1, w - 2, h - 2), fill=fill)
    else:
        draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=max(2, w // 6), fill=fill)
    glyph = "ABCDEFGHJKLMNPQRSTUVWXYZ"[int(rng.integers(0, 24))]
    draw.text((w // 2, h // 2), glyph, fill=(255, 255, 255, 255), font=_font(h // 2), anchor="mm")
    return img


KINDS: dict[str, Callable[..., Image.Image]] = {  # each: (seed, size=...) -> image
    "photo": photo,
    "line_art": line_art,
    "chart": chart,
    "text_card": text_card,
    "icon": icon,
}


# --- edits: what re-uploads do to an image; perceptual hashes should survive them ---------


def resize50(img: Image.Image) -> Image.Image:
    """Half the width and height (Lanczos)."""
    return img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)


def jpeg60(img: Image.Image) -> Image.Image:
    """Re-encoded as a quality-60 JPEG and decoded again."""
    with Image.open(io.BytesIO(encode(img, "jpeg", quality=60))) as out:
        out.load()
        return out.copy()


def crop3(img: Image.Image) -> Image.Image:
    """3% of the width and of the height cut away, split evenly between the two sides."""
    dx, dy = round(img.width * 0.015), round(img.height * 0.015)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def grayscale(img: Image.Image) -> Image.Image:
    """Colour removed (mode L)."""
    return img.convert("L")


def text_overlay(img: Image.Image, text: str = "example.test") -> Image.Image:
    """A small watermark-style caption in the bottom-left corner."""
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = max(8, out.height // 30)
    draw.text((size, out.height - 2 * size), text, fill=(255, 255, 255), font=_font(size))
    return out


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize50": resize50,
    "jpeg60": jpeg60,
    "crop3": crop3,
    "grayscale": grayscale,
    "text_overlay": text_overlay,
}


# --- encoders -------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """The bytes of `img` saved as `fmt` (jpeg, png, gif, webp, bmp, tiff, avif).

    Modes a format cannot hold are converted first (RGBA -> RGB for JPEG/BMP, palette for GIF).
    JPEG defaults to quality 85, WebP/AVIF to quality 80.
    """
    fmt = fmt.lower()
    pil_format = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(fmt, fmt.upper())
    if pil_format in ("JPEG", "BMP") and img.mode not in ("RGB", "L", "CMYK", "1"):
        img = img.convert("RGB")
    if pil_format == "GIF" and img.mode not in ("P", "L", "1"):
        img = img.convert("RGB").quantize(256)
    if pil_format == "JPEG":
        params.setdefault("quality", 85)
    if pil_format in ("WEBP", "AVIF"):
        params.setdefault("quality", 80)
    buf = io.BytesIO()
    img.save(buf, format=pil_format, **params)
    return buf.getvalue()


def photo_jpeg(seed: int, size: Size = PHOTO_SIZE, quality: int = 85) -> bytes:
    """A `photo` as JPEG bytes (the typical web image)."""
    return encode(photo(seed, size), "jpeg", quality=quality)


def animated(seed: int, fmt: str = "gif", frames: int = 3, size: Size = (96, 64)) -> bytes:
    """An animation (gif, webp or png/APNG) whose frames are different icons."""
    images = [icon(seed + i, size).convert("RGB") for i in range(frames)]
    buf = io.BytesIO()
    pil_format = fmt.upper()
    if pil_format == "GIF":
        images = [im.quantize(64) for im in images]
    images[0].save(
        buf, format=pil_format, save_all=True, append_images=images[1:], duration=100, loop=0
    )
    return buf.getvalue()


def cmyk_jpeg(seed: int, size: Size = (320, 240)) -> bytes:
    """A photo stored as a CMYK JPEG (print workflows put these on the web)."""
    return encode(photo(seed, size).convert("CMYK"), "jpeg", quality=90)


# --- hostile inputs -------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int, *, forged: bool = True) -> bytes:
    """A PNG claiming width x height pixels (1-bit greyscale), tiny on the wire.

    forged=True: a valid header (correct CRCs) over a few bytes of pixel data, so decoding
    would fail after allocating; any size is cheap to make. forged=False: every row really is
    there (all zero, zlib-compressed), i.e. a genuine decompression bomb; keep it to sizes
    whose raw 1-bit rows (width/8 * height bytes) you are willing to compress.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    if forged:
        idat = zlib.compress(b"\x00" * 64)
    else:
        row = b"\x00" * (1 + (width + 7) // 8)
        comp = zlib.compressobj(9)
        parts = [comp.compress(row) for _ in range(height)]
        parts.append(comp.flush())
        idat = b"".join(parts)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    """The first `fraction` of `data` (a download cut short)."""
    return data[: max(1, int(len(data) * fraction))]


SVG_DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<circle cx="32" cy="32" r="30" fill="teal"/></svg>\n'
)
HTML_DOCUMENT = (
    b"<!DOCTYPE html>\n<html><head><title>Not found</title></head>"
    b"<body><p>The image you asked for is not here.</p></body></html>\n"
)
