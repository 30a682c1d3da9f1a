"""Seeded generators of benign images by kind (photo-like and flat graphics) and their edits."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Rng = np.random.Generator

_VOCABULARY = (
    "report annual sales growth region north south east west total revenue users account "
    "settings profile search home about contact news events team product price order cart "
    "login help support privacy terms share download upload open close save edit delete "
    "monday march quarter result chart figure table value index level status update version"
)
WORDS = _VOCABULARY.split()

PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _color(rng: Rng, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(lo, hi, size=3))
    return (r, g, b)


def _words(rng: Rng, n: int) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=n))


def photo(rng: Rng) -> Image.Image:
    """1/f-noise scene with a horizon, blurred blobs and sensor noise: photo-like statistics."""
    w, h = int(rng.integers(320, 640)), int(rng.integers(240, 480))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    falloff = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(w, h)) ** rng.uniform(1.6, 2.2)
    channels = []
    for _ in range(3):
        spectrum = falloff * np.exp(2j * np.pi * rng.random((h, w)))
        field = np.real(np.fft.ifft2(spectrum))
        channels.append((field - field.mean()) / (field.std() + 1e-9))
    mix = rng.normal(0.0, 1.0, size=(3, 3)) * 0.5 + np.eye(3)
    img = np.tensordot(mix, np.stack(channels), axes=1).transpose(1, 2, 0)
    horizon = rng.uniform(0.3, 0.7) * h
    top, bottom = np.array(_color(rng)), np.array(_color(rng))
    rows = np.clip((np.arange(h) - horizon) / (0.1 * h), -1.0, 1.0)[:, None, None]
    base = np.where(rows < 0, top, bottom) * 1.0
    img = base + img * rng.uniform(25, 50)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(2, 7))):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        rx, ry = int(rng.integers(w // 20, w // 4)), int(rng.integers(h // 20, h // 4))
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=_color(rng))
    pil = pil.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.0, 3.0))))
    noisy = np.asarray(pil, dtype=np.float64) + rng.normal(0.0, 4.0, size=(h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def line_art(rng: Rng) -> Image.Image:
    """A box-and-arrow diagram in thin dark strokes on white."""
    w, h = int(rng.integers(400, 800)), int(rng.integers(300, 600))
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    ink = _color(rng, 0, 90)
    font = _font(int(rng.integers(11, 18)))
    boxes = []
    for _ in range(int(rng.integers(3, 8))):
        bw, bh = int(rng.integers(60, 160)), int(rng.integers(30, 70))
        x, y = int(rng.integers(5, w - bw - 5)), int(rng.integers(5, h - bh - 5))
        if rng.random() < 0.3:
            draw.ellipse((x, y, x + bw, y + bh), outline=ink, width=int(rng.integers(1, 3)))
        else:
            draw.rectangle((x, y, x + bw, y + bh), outline=ink, width=int(rng.integers(1, 3)))
        draw.text((x + 6, y + bh // 3), _words(rng, 1), fill=ink, font=font)
        boxes.append((x + bw // 2, y + bh // 2))
    for a, b in itertools.pairwise(boxes):
        draw.line((a, b), fill=ink, width=int(rng.integers(1, 3)))
        draw.ellipse((b[0] - 3, b[1] - 3, b[0] + 3, b[1] + 3), fill=ink)
    for _ in range(int(rng.integers(0, 4))):
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(3)]
        draw.line(pts, fill=ink, width=1)
    return img


def chart(rng: Rng) -> Image.Image:
    """A bar, line or pie chart with axes, gridlines and a title on a plain background."""
    w, h = int(rng.integers(400, 720)), int(rng.integers(300, 500))
    bg = (255, 255, 255) if rng.random() < 0.8 else _color(rng, 225, 256)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    font = _font(int(rng.integers(12, 20)))
    draw.text((w // 8, 8), _words(rng, 3).title(), fill=(30, 30, 30), font=font)
    left, top, right, bottom = w // 8, h // 8, w - w // 16, h - h // 8
    style = rng.choice(["bar", "line", "pie"])
    if style == "pie":
        cx, cy, r = (left + right) // 2, (top + bottom) // 2, min(right - left, bottom - top) // 2
        shares = rng.dirichlet(np.ones(int(rng.integers(3, 7)))) * 360.0
        start = float(rng.uniform(0, 360))
        for i, share in enumerate(shares):
            end = start + float(share)
            draw.pieslice((cx - r, cy - r, cx + r, cy + r), start, end, fill=PALETTE[i % 10])
            start = end
        return img
    for k in range(1, 5):
        y = bottom - k * (bottom - top) // 5
        draw.line((left, y, right, y), fill=(220, 220, 220), width=1)
        draw.text((4, y - 6), str(k * int(rng.integers(5, 50))), fill=(90, 90, 90), font=font)
    draw.line((left, top, left, bottom), fill=(40, 40, 40), width=2)
    draw.line((left, bottom, right, bottom), fill=(40, 40, 40), width=2)
    n = int(rng.integers(4, 13))
    values = rng.uniform(0.1, 1.0, size=n)
    step = (right - left) / n
    if style == "bar":
        color = PALETTE[int(rng.integers(0, 10))]
        for i, v in enumerate(values):
            x0 = left + i * step + step * 0.15
            draw.rectangle(
                (x0, bottom - v * (bottom - top), x0 + step * 0.7, bottom - 1), fill=color
            )
    else:
        for series in range(int(rng.integers(1, 4))):
            vals = np.clip(values + rng.normal(0, 0.15, size=n) * series, 0.02, 1.0)
            pts = [
                (left + (i + 0.5) * step, bottom - v * (bottom - top)) for i, v in enumerate(vals)
            ]
            draw.line(pts, fill=PALETTE[series], width=int(rng.integers(2, 4)))
    return img


def text_card(rng: Rng) -> Image.Image:
    """A few lines of text on a plain background (quote cards, banners, notices)."""
    w, h = int(rng.integers(400, 800)), int(rng.integers(200, 500))
    dark = rng.random() < 0.4
    bg = _color(rng, 0, 70) if dark else _color(rng, 200, 256)
    ink = _color(rng, 200, 256) if dark else _color(rng, 0, 70)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(16, 40))
    font = _font(size)
    lines = int(rng.integers(1, max(2, min(7, h // (size + 8)))))
    y = (h - lines * (size + 8)) // 2
    centered = rng.random() < 0.5
    for _ in range(lines):
        line = _words(rng, int(rng.integers(2, 6)))
        width = draw.textlength(line, font=font)
        x = (w - width) / 2 if centered else w * 0.06
        draw.text((x, y), line, fill=ink, font=font)
        y += size + 8
    return img


def icon(rng: Rng) -> Image.Image:
    """A flat icon or logo: one coloured shape with a glyph or initials, on white."""
    side = int(rng.integers(64, 257))
    img = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    fill = PALETTE[int(rng.integers(0, 10))]
    m = side // 10
    shape = rng.choice(["circle", "rounded", "square"])
    if shape == "circle":
        draw.ellipse((m, m, side - m, side - m), fill=fill)
    elif shape == "rounded":
        draw.rounded_rectangle((m, m, side - m, side - m), radius=side // 6, fill=fill)
    else:
        draw.rectangle((m, m, side - m, side - m), fill=fill)
    glyph = rng.choice(["letters", "bars", "triangle", "ring"])
    c, r = side // 2, side // 4
    white = (255, 255, 255)
    if glyph == "letters":
        letters = "".join(
            chr(65 + int(i)) for i in rng.integers(0, 26, size=int(rng.integers(1, 3)))
        )
        draw.text((c, c), letters, fill=white, font=_font(side // 3), anchor="mm")
    elif glyph == "bars":
        for k in range(3):
            draw.rectangle(
                (c - r, c - r + k * r * 2 // 3, c + r, c - r + k * r * 2 // 3 + r // 3), fill=white
            )
    elif glyph == "triangle":
        draw.polygon([(c - r, c + r), (c + r, c + r), (c, c - r)], fill=white)
    else:
        draw.ellipse((c - r, c - r, c + r, c + r), outline=white, width=max(2, side // 20))
    return img


def ui_screen(rng: Rng) -> Image.Image:
    """A screenshot-like app window: title bar, sidebar menu, cards, buttons and text lines."""
    w, h = int(rng.integers(640, 1024)), int(rng.integers(400, 700))
    img = Image.new("RGB", (w, h), _color(rng, 235, 256))
    draw = ImageDraw.Draw(img)
    font = _font(int(rng.integers(11, 16)))
    accent = PALETTE[int(rng.integers(0, 10))]
    bar = int(rng.integers(28, 48))
    draw.rectangle((0, 0, w, bar), fill=accent)
    draw.text((12, bar // 3), _words(rng, 2).title(), fill=(255, 255, 255), font=font)
    side = int(rng.integers(120, 220)) if rng.random() < 0.7 else 0
    if side:
        draw.rectangle((0, bar, side, h), fill=_color(rng, 215, 245))
        for k in range(int(rng.integers(4, 10))):
            draw.text((14, bar + 16 + k * 28), _words(rng, 1).title(), fill=(60, 60, 60), font=font)
    x, y = side + 16, bar + 16
    while y < h - 60:
        card_h = int(rng.integers(60, 160))
        draw.rectangle((x, y, w - 16, min(h - 10, y + card_h)), fill=(255, 255, 255),
                       outline=(210, 210, 210))  # fmt: skip
        for k in range(card_h // 22 - 1):
            draw.text((x + 10, y + 8 + k * 20), _words(rng, int(rng.integers(3, 9))),
                      fill=(70, 70, 70), font=font)  # fmt: skip
        if rng.random() < 0.5:
            bx = w - 16 - 100
            draw.rounded_rectangle((bx, y + card_h - 34, bx + 86, y + card_h - 8), radius=6,
                                   fill=accent)  # fmt: skip
        y += card_h + 12
    return img


KINDS: dict[str, Callable[[Rng], Image.Image]] = {
    "photo": photo,
    "lineart": line_art,
    "chart": chart,
    "text": text_card,
    "icon": icon,
    "ui": ui_screen,
}
FLAT_KINDS = ("lineart", "chart", "text", "icon", "ui")


def generate(kind: str, seed: int, index: int) -> Image.Image:
    """Image number `index` of `kind`; the same (kind, seed, index) always gives the same image."""
    kind_no = list(KINDS).index(kind)
    return KINDS[kind](np.random.default_rng([seed, kind_no, index]))


def encode(img: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(out, "JPEG", quality=quality)
    else:
        img.save(out, fmt)
    return out.getvalue()


def original_bytes(kind: str, img: Image.Image) -> bytes:
    """How a known image is stored: photos as JPEG q90, graphics as PNG."""
    return encode(img, "JPEG", 90) if kind == "photo" else encode(img, "PNG")


def _resize50(img: Image.Image, rng: Rng) -> bytes:
    return encode(
        img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)
    )


def _jpeg60(img: Image.Image, rng: Rng) -> bytes:
    return encode(img, "JPEG", 60)


def _crop3(img: Image.Image, rng: Rng) -> bytes:
    """Remove 3% of the width and of the height, split at random between the two sides."""
    dx, dy = round(img.width * 0.03), round(img.height * 0.03)
    left, top = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
    return encode(img.crop((left, top, img.width - (dx - left), img.height - (dy - top))))


def _gray(img: Image.Image, rng: Rng) -> bytes:
    return encode(img.convert("L"))


def _overlay(img: Image.Image, rng: Rng) -> bytes:
    """A short watermark-style caption in a corner, about 1/20 of the image height."""
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = max(9, out.height // 20)
    caption = f"\u00a9 {_words(rng, 1)}.test"
    x = int(out.width * 0.03) if rng.random() < 0.5 else int(out.width * 0.6)
    y = out.height - size - int(out.height * 0.03)
    draw.text((x, y), caption, fill=(255, 255, 255), font=_font(size),
              stroke_width=1, stroke_fill=(0, 0, 0))  # fmt: skip
    return encode(out)


def _resize_jpeg(img: Image.Image, rng: Rng) -> bytes:
    small = img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)
    return encode(small, "JPEG", 60)


def _rot90(img: Image.Image, rng: Rng) -> bytes:
    return encode(img.transpose(Image.Transpose.ROTATE_90))


def _mirror(img: Image.Image, rng: Rng) -> bytes:
    return encode(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


# Edits an analyst expects to still match (the list plus their common combination).
EDITS: dict[str, Callable[[Image.Image, Rng], bytes]] = {
    "resize50": _resize50,
    "jpeg60": _jpeg60,
    "crop3": _crop3,
    "gray": _gray,
    "overlay": _overlay,
    "resize50+jpeg60": _resize_jpeg,
}
# Orientation changes: only PDQ with dihedral hashes can match these.
DIHEDRAL_EDITS: dict[str, Callable[[Image.Image, Rng], bytes]] = {
    "rot90": _rot90,
    "mirror": _mirror,
}


def edit(img: Image.Image, name: str, seed: int, index: int) -> bytes:
    """The edited copy's encoded bytes; deterministic in (name, seed, index)."""
    func = EDITS.get(name) or DIHEDRAL_EDITS[name]
    edit_no = list(EDITS).index(name) if name in EDITS else 100 + list(DIHEDRAL_EDITS).index(name)
    return func(img, np.random.default_rng([seed, 7919, edit_no, index]))
