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


def frame(
    img: Image.Image, share: float = 0.08, fill: tuple[int, int, int] = (255, 255, 255),
    noise: float = 0.0, seed: int = 0,
) -> Image.Image:
    """A solid frame `share` of the width (and of the height) thick on every side, around
    the picture at its own size; `noise` > 0 roughens the frame by that many grey levels
    (a scanned or re-compressed mat)."""
    out = _canvas(img, round(img.width * share), round(img.height * share), fill, noise, seed)
    out.paste(img.convert("RGB"), (round(img.width * share), round(img.height * share)))
    return out


def letterbox(img: Image.Image, aspect: float = 16 / 9, fill: tuple[int, int, int] = (0, 0, 0)
              ) -> Image.Image:
    """The picture centred on a canvas of `aspect` (width / height), the rest filled: bars
    above and below for a wider canvas (letterbox), at the sides for a taller one
    (pillarbox)."""
    if img.width / img.height < aspect:
        pad_x, pad_y = (round(img.height * aspect) - img.width) // 2, 0
    else:
        pad_x, pad_y = 0, (round(img.width / aspect) - img.height) // 2
    out = _canvas(img, pad_x, pad_y, fill)
    out.paste(img.convert("RGB"), (pad_x, pad_y))
    return out


def caption(
    img: Image.Image, share: float = 0.15, side: str = "top", text: str = "example.test",
    fill: tuple[int, int, int] = (255, 255, 255), ink: tuple[int, int, int] = (0, 0, 0),
) -> Image.Image:
    """A band `share` of the height (of the width for side left/right) added along `side`,
    with `text` on it: a site's caption or banner over a re-posted picture."""
    vertical = side in ("top", "bottom")
    band = round((img.height if vertical else img.width) * share)
    size = (img.width, img.height + band) if vertical else (img.width + band, img.height)
    out = Image.new("RGB", size, fill)
    at = {"top": (0, band), "bottom": (0, 0), "left": (band, 0), "right": (0, 0)}[side]
    out.paste(img.convert("RGB"), at)
    draw = ImageDraw.Draw(out)
    letters = max(8, (band if vertical else img.width // 12) // 2)
    box = {"top": (0, 0), "bottom": (0, img.height), "left": (0, 0), "right": (img.width, 0)}
    x, y = box[side]
    draw.text((x + letters // 2, y + (band - letters) // 2 if vertical else y + letters),
              text, fill=ink, font=font(letters))
    return out


def crop_sides(img: Image.Image, share: float = 0.05, left: float = 0.5, top: float = 0.5
               ) -> Image.Image:
    """2 x `share` of the width and of the height cut away (`share` per side when `left` and
    `top` are 0.5, the split as in crop3)."""
    cut_x, cut_y = round(img.width * 2 * share), round(img.height * 2 * share)
    x0, y0 = round(cut_x * left), round(cut_y * top)
    return img.crop((x0, y0, img.width - (cut_x - x0), img.height - (cut_y - y0)))


def _canvas(img: Image.Image, pad_x: int, pad_y: int, fill: tuple[int, int, int],
            noise: float = 0.0, seed: int = 0) -> Image.Image:
    size = (img.width + 2 * pad_x, img.height + 2 * pad_y)
    if noise <= 0:
        return Image.new("RGB", size, fill)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(fill, dtype=np.float32) + rng.normal(0, noise, (size[1], size[0], 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


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
# Wrappings and tighter crops: found by the query-side variants (frames, letterbox, caption
# bands: matchers.variants) and by crop-augmented lists (crops: `trawl hash --variants crops`).
VARIANT_EDITS: dict[str, Edit] = {
    "frame": frame,
    "letterbox": letterbox,
    "caption": caption,
    "crop5": crop_sides,
}
