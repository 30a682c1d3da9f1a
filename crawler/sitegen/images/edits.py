"""What re-uploads do to an image: each edit takes an image (and its choices) and returns one."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from crawler.sitegen.images.base import font
from crawler.sitegen.images.encode import encode

Edit = Callable[[Image.Image], Image.Image]


def resize50(img: Image.Image) -> Image.Image:
    """Half the width and height (Lanczos)."""
    return img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)


def jpeg60(img: Image.Image) -> Image.Image:
    """Re-encoded as a quality-60 JPEG and decoded again."""
    with Image.open(io.BytesIO(encode(img, "jpeg", quality=60))) as out:
        out.load()
        return out.copy()


def crop3(img: Image.Image, left: float = 0.5, top: float = 0.5) -> Image.Image:
    """3% of the width and of the height cut away; `left` and `top` are the shares taken
    from the left and top edges (0.5: split evenly, as most tests want; re-crops in the wild
    are rarely even, so the match-decision bench draws them at random)."""
    cut_x, cut_y = 2 * round(img.width * 0.015), 2 * round(img.height * 0.015)
    x0, y0 = round(cut_x * left), round(cut_y * top)
    return img.crop((x0, y0, img.width - (cut_x - x0), img.height - (cut_y - y0)))


def grayscale(img: Image.Image) -> Image.Image:
    """Colour removed (mode L)."""
    return img.convert("L")


def text_overlay(img: Image.Image, text: str = "example.test") -> Image.Image:
    """A small watermark-style caption in the bottom-left corner."""
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = max(8, out.height // 30)
    draw.text((size, out.height - 2 * size), text, fill=(255, 255, 255), font=font(size))
    return out


def rotate90(img: Image.Image) -> Image.Image:
    """Turned a quarter anticlockwise (a re-upload on its side)."""
    return img.transpose(Image.Transpose.ROTATE_90)


def mirror(img: Image.Image) -> Image.Image:
    """Flipped left to right."""
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def grain(img: Image.Image, seed: int, sigma: float = 5.0) -> Image.Image:
    """Gaussian sensor-like noise of `sigma` levels per channel (RGB): texture that makes a
    JPEG as large as a camera's."""
    noise = np.random.default_rng(seed).normal(0, sigma, (img.height, img.width, 3))
    noisy = np.asarray(img.convert("RGB")).astype(np.float32) + noise
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


# Edits every perceptual hash should survive (the product's promise).
EDITS: dict[str, Edit] = {
    "resize50": resize50,
    "jpeg60": jpeg60,
    "crop3": crop3,
    "grayscale": grayscale,
    "text_overlay": text_overlay,
}
# Orientation changes: only PDQ's dihedral hashes can match these.
ORIENTATION_EDITS: dict[str, Edit] = {"rot90": rotate90, "mirror": mirror}
