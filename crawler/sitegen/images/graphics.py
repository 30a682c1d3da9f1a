"""Flat graphics: line art, diagrams, charts, text cards, banners, app screenshots, icons."""

from __future__ import annotations

import itertools

import numpy as np
from PIL import Image, ImageDraw

from crawler.sitegen.images.base import PALETTE, UI_WORDS, Size, color, font, rng_for, words

WHITE = (255, 255, 255)


def line_art(seed: int, size: Size = (800, 600)) -> Image.Image:
    """Black strokes (polylines, circles, boxes) on white: flat, high-contrast drawing."""
    rng = rng_for(seed, 2)
    w, h = size
    img = Image.new("RGB", size, WHITE)
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


def diagram(seed: int, size: Size = (640, 480)) -> Image.Image:
    """A box-and-arrow diagram: labelled boxes and ellipses joined in a chain, thin strokes."""
    rng = rng_for(seed, 6)
    w, h = size
    img = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(img)
    ink = color(rng, 0, 90)
    label_font = font(int(rng.integers(11, 18)))
    centres = []
    for _ in range(int(rng.integers(3, 8))):
        bw = int(rng.integers(max(20, w // 10), max(21, w // 4)))
        bh = int(rng.integers(max(12, h // 10), max(13, h // 6)))
        x, y = int(rng.integers(5, max(6, w - bw - 5))), int(rng.integers(5, max(6, h - bh - 5)))
        outline = draw.ellipse if rng.random() < 0.3 else draw.rectangle
        outline((x, y, x + bw, y + bh), outline=ink, width=int(rng.integers(1, 3)))
        draw.text((x + 6, y + bh // 3), words(rng, 1, UI_WORDS), fill=ink, font=label_font)
        centres.append((x + bw // 2, y + bh // 2))
    for a, b in itertools.pairwise(centres):
        draw.line((a, b), fill=ink, width=int(rng.integers(1, 3)))
        draw.ellipse((b[0] - 3, b[1] - 3, b[0] + 3, b[1] + 3), fill=ink)
    for _ in range(int(rng.integers(0, 4))):
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(3)]
        draw.line(pts, fill=ink, width=1)
    return img


def chart(seed: int, size: Size = (800, 600)) -> Image.Image:
    """A bar or line chart with axes, grid, title and tick labels."""
    rng = rng_for(seed, 3)
    w, h = size
    img = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = w // 10, w - w // 20, h // 8, h - h // 8
    draw.text((left, top // 3), words(rng, 3).title(), fill=(20, 20, 20), font=font(h // 24))
    for i in range(6):
        y = bottom - i * (bottom - top) // 5
        draw.line((left, y, right, y), fill=(220, 220, 220), width=1)
        draw.text((left - w // 14, y - 6), str(i * 20), fill=(60, 60, 60), font=font(h // 50))
    draw.line((left, top, left, bottom), fill=(0, 0, 0), width=2)
    draw.line((left, bottom, right, bottom), fill=(0, 0, 0), width=2)
    n = int(rng.integers(4, 13))
    values = rng.uniform(0.1, 1.0, size=n)
    step = (right - left) / n
    if rng.random() < 0.5:
        fill = color(rng, 0, 200)
        for i, v in enumerate(values):
            x0 = int(left + i * step + step * 0.15)
            x1 = int(left + (i + 1) * step - step * 0.15)
            draw.rectangle((x0, int(bottom - v * (bottom - top)), x1, bottom - 1), fill=fill)
    else:
        for _ in range(int(rng.integers(1, 4))):
            fill = color(rng, 0, 200)
            series = rng.uniform(0.1, 1.0, size=n)
            pts = [
                (int(left + (i + 0.5) * step), int(bottom - v * (bottom - top)))
                for i, v in enumerate(series)
            ]
            draw.line(pts, fill=fill, width=3)
    return img


def pie_chart(seed: int, size: Size = (560, 400)) -> Image.Image:
    """A pie chart of 3-6 slices in a plotting library's colours, under a title."""
    rng = rng_for(seed, 7)
    w, h = size
    background = WHITE if rng.random() < 0.8 else color(rng, 225, 256)
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    title = words(rng, 3, UI_WORDS).title()
    draw.text((w // 8, h // 50), title, fill=(30, 30, 30), font=font(int(rng.integers(12, 20))))
    left, top, right, bottom = w // 8, h // 8, w - w // 16, h - h // 8
    cx, cy, r = (left + right) // 2, (top + bottom) // 2, min(right - left, bottom - top) // 2
    shares = rng.dirichlet(np.ones(int(rng.integers(3, 7)))) * 360.0
    start = float(rng.uniform(0, 360))
    for i, share in enumerate(shares):
        end = start + float(share)
        draw.pieslice((cx - r, cy - r, cx + r, cy + r), start, end, fill=PALETTE[i % 10])
        start = end
    return img


def text_card(seed: int, size: Size = (800, 400)) -> Image.Image:
    """Several lines of dark text on a plain light background (a screenshot of prose)."""
    rng = rng_for(seed, 4)
    w, h = size
    img = Image.new("RGB", size, color(rng, 200, 256))
    draw = ImageDraw.Draw(img)
    font_size = int(rng.integers(h // 16, h // 9))
    ink = color(rng, 0, 80)
    y = font_size // 2
    while y < h - font_size:
        line = words(rng, int(rng.integers(3, 7)))
        draw.text((w // 20, y), line, fill=ink, font=font(font_size))
        y += int(font_size * 1.5)
    return img


def banner(seed: int, size: Size = (600, 300)) -> Image.Image:
    """A few large lines on a plain light or dark background, centred or not (quote cards,
    banners, notices)."""
    rng = rng_for(seed, 8)
    w, h = size
    dark = rng.random() < 0.4
    background = color(rng, 0, 70) if dark else color(rng, 200, 256)
    ink = color(rng, 200, 256) if dark else color(rng, 0, 70)
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    font_size = int(rng.integers(max(8, h // 20), max(9, h // 8)))
    line_font = font(font_size)
    lines = int(rng.integers(1, max(2, min(7, h // (font_size + 8)))))
    y = (h - lines * (font_size + 8)) // 2
    centred = rng.random() < 0.5
    for _ in range(lines):
        line = words(rng, int(rng.integers(2, 6)), UI_WORDS)
        x = (w - draw.textlength(line, font=line_font)) / 2 if centred else w * 0.06
        draw.text((x, y), line, fill=ink, font=line_font)
        y += font_size + 8
    return img


def screenshot(seed: int, size: Size = (800, 560)) -> Image.Image:
    """An app window: coloured title bar, optional sidebar menu, cards of text with buttons."""
    rng = rng_for(seed, 9)
    w, h = size
    img = Image.new("RGB", size, color(rng, 235, 256))
    draw = ImageDraw.Draw(img)
    ui_font = font(int(rng.integers(11, 16)))
    accent = PALETTE[int(rng.integers(0, 10))]
    bar = int(rng.integers(max(12, h // 20), max(13, h // 12)))
    draw.rectangle((0, 0, w, bar), fill=accent)
    draw.text((12, bar // 3), words(rng, 2, UI_WORDS).title(), fill=WHITE, font=ui_font)
    side = int(rng.integers(w // 7, w // 4 + 1)) if rng.random() < 0.7 else 0
    if side:
        draw.rectangle((0, bar, side, h), fill=color(rng, 215, 245))
        for k in range(int(rng.integers(4, 10))):
            label = words(rng, 1, UI_WORDS).title()
            draw.text((14, bar + 16 + k * 28), label, fill=(60, 60, 60), font=ui_font)
    x, y = side + 16, bar + 16
    while y < h - 60:
        card_h = int(rng.integers(max(30, h // 9), max(31, h // 3)))
        draw.rectangle((x, y, w - 16, min(h - 10, y + card_h)), fill=WHITE,
                       outline=(210, 210, 210))  # fmt: skip
        for k in range(card_h // 22 - 1):
            line = words(rng, int(rng.integers(3, 9)), UI_WORDS)
            draw.text((x + 10, y + 8 + k * 20), line, fill=(70, 70, 70), font=ui_font)
        if rng.random() < 0.5:
            bx = w - 16 - 100
            draw.rounded_rectangle((bx, y + card_h - 34, bx + 86, y + card_h - 8), radius=6,
                                   fill=accent)  # fmt: skip
        y += card_h + 12
    return img


def icon(seed: int, size: Size = (64, 64)) -> Image.Image:
    """A small RGBA icon: a coloured disc or rounded square with a glyph, transparent corners."""
    rng = rng_for(seed, 5)
    w, h = size
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    fill = (*color(rng, 30, 230), 255)
    if rng.random() < 0.5:
        draw.ellipse((1, 1, w - 2, h - 2), fill=fill)
    else:
        draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=max(2, w // 6), fill=fill)
    glyph = "ABCDEFGHJKLMNPQRSTUVWXYZ"[int(rng.integers(0, 24))]
    draw.text((w // 2, h // 2), glyph, fill=(255, 255, 255, 255), font=font(h // 2), anchor="mm")
    return img
