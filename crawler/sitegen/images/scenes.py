"""Continuous-tone pictures: `photo` (a photo-like landscape) and `textured` (the test site's)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from crawler.sitegen.images.base import Size, color, rng_for

PHOTO_SIZE: Size = (1024, 768)
TEXTURED_SIZE: Size = (512, 384)
BICUBIC = Image.Resampling.BICUBIC


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
    rng = rng_for(seed, 1)
    w, h = size
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    sky_top, sky_low = np.array(color(rng, 40, 200)), np.array(color(rng, 120, 255))
    sky = (sky_top * (1 - yy) + sky_low * yy).astype(np.float32)  # (h, 3)
    img: np.ndarray = np.broadcast_to(sky[:, None, :], (h, w, 3))
    clouds = _noise(rng, size, (256, 128, 64, 32))
    img = img + 40.0 * clouds[:, :, None]

    ridge_noise = _noise(rng, (w, 8), (128, 64, 32, 16))[4]
    horizon = (rng.uniform(0.35, 0.65) * h + ridge_noise * h * 0.25).astype(np.int32)
    ground = np.array(color(rng, 30, 180), dtype=np.float32)
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
        tone = np.array(color(rng, 10, 245)) * 0.6 + ground * 0.4
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
        canvas.paste(tuple(int(c) for c in tone), (x0, y0, x0 + mask.width, y0 + mask.height),
                     mask)  # fmt: skip

    arr = np.asarray(canvas, dtype=np.float32)
    detail = _noise(rng, size, (8, 4, 2))
    grain = rng.normal(0.0, 3.0, size=(h, w, 1)).astype(np.float32)
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    vignette = 1.0 - 0.25 * (xx**2 + (2 * yy - 1) ** 2)
    arr = (arr + 16.0 * detail[:, :, None] + grain) * vignette[:, :, None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def textured(seed: int, size: Size = TEXTURED_SIZE) -> Image.Image:
    """The test site's picture: sinusoid gradients under six shapes, all blurred, so PDQ
    quality is high and unrelated seeds are far apart in every perceptual hash.

    Not modelled on anything real; the test site and the bench site keep it (and its own
    random stream, `default_rng(seed)`) so their pictures stay the ones measured.
    """
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
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=fill)
    return image.filter(ImageFilter.GaussianBlur(4))
