"""Real benign images that install with packages, encoded as the web serves them.

Built at run time, never downloaded:

* photographs shipped inside scikit-image's wheel (read from its data folder directly; the
  `skimage.data` functions whose files are not in the wheel fetch them with pooch, and are
  not used), at their own sizes, resized to common web sizes (300-3000 px) and tiled into
  collages that keep their native detail at large sizes, as JPEG at several qualities
  (some progressive), WebP, GIF and PNG;
* line art rendered with matplotlib at real sizes: line, bar, scatter and contour charts,
  box-and-arrow diagrams, text pages, thin-line drawings, tables, maps of flat polygons,
  saved as the web serves them (RGBA PNG from matplotlib, RGB, palette and grey PNGs, PNGs
  with transparency, GIF, WebP lossless and lossy, JPEG);
* small images: icons and thumbnails (16-256 px);
* Meta's PDQ test images (../shared/reference/pdq, located as tests/reference.py does;
  skipped when absent).

Every image carries its class (`kind`), the rows bench/bench_hashing.py reports:
"photo JPEG", "photo PNG", "line-art PNG", "line-art JPEG", "GIF/WebP" and "small"
(longest side <= 256, whatever the format). Needs the `bench` extra (scikit-image,
matplotlib).
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

Rng = np.random.Generator

KINDS = ("photo JPEG", "photo PNG", "line-art PNG", "line-art JPEG", "GIF/WebP", "small")
SMALL_MAX_SIDE = 256
# Size classes by short side: the fast path's decisions change at these boundaries.
SIZE_CLASSES = ((0, 256), (256, 512), (512, 768), (768, 1152), (1152, 1536), (1536, 1 << 30))

# Photographs in scikit-image's wheel (skimage/data/), by file. Other skimage.data
# functions (eagle, kidney, lily, cells3d, brain, ...) fetch their files with pooch: skipped.
SKIMAGE_PHOTOS = (
    "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg",
    "ihc.png", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg",
    "brick.png", "grass.png", "gravel.png", "moon.png", "coins.png", "cell.png",
    "clock_motion.png", "text.png", "page.png",
)  # fmt: skip
# Its graphics, served as they ship (PNG; logo and horse carry transparency).
SKIMAGE_GRAPHICS = ("logo.png", "horse.png", "phantom.png", "color.png", "chessboard_RGB.png")
SKIMAGE_SMALL = ("microaneurysms.png", "chessboard_GRAY.png", "no_time_for_that_tiny.gif")


@dataclass(frozen=True, slots=True)
class RealImage:
    name: str
    kind: str  # one of KINDS
    content: str  # "photo" or "line art"
    data: bytes
    size: tuple[int, int]  # (width, height)

    @property
    def size_class(self) -> str:
        short = min(self.size)
        lo, hi = next(c for c in SIZE_CLASSES if c[0] <= short < c[1])
        return f"short side >= {lo}" if hi >= 1 << 30 else f"short side {lo}-{hi - 1}"


def skimage_data_dir() -> Path | None:
    """scikit-image's data folder, found without importing skimage.data (no pooch set-up)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def skimage_images(names: tuple[str, ...]) -> dict[str, Image.Image]:
    """The named files of scikit-image's wheel that are present, decoded (first frame)."""
    folder = skimage_data_dir()
    if folder is None:
        return {}
    out = {}
    for name in names:
        path = folder / name
        if path.is_file():
            with Image.open(path) as img:
                img.load()
                out[Path(name).stem] = img.copy()
    return out


def pdq_reference_images() -> list[tuple[str, bytes]]:
    """Meta's PDQ test images as files (bytes exactly as published), or [] when absent."""
    from tests.reference import pdq_reference_dir

    folder = pdq_reference_dir()
    if not folder.is_dir():
        return []
    return [
        (f"pdq/{p.relative_to(folder)}", p.read_bytes())
        for p in sorted(folder.glob("*/*.*"))
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".gif", ".webp")
    ]


# --- encoding as the web serves images ---------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG" and img.mode not in ("RGB", "L", "CMYK"):
        img = flatten(img)
    if fmt == "GIF" and img.mode not in ("P", "L"):
        img = flatten(img).quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
    img.save(buf, fmt, **params)
    return buf.getvalue()


def flatten(img: Image.Image) -> Image.Image:
    """RGB on white, as a page shows a transparent image."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def resize_to(img: Image.Image, long_side: int) -> Image.Image:
    w, h = img.size
    k = long_side / max(w, h)
    return img.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.LANCZOS)


def collage(tiles: list[Image.Image], cols: int, cell: int) -> Image.Image:
    """Photos side by side at (about) their native resolution: real detail at a large size."""
    rows = math.ceil(len(tiles) / cols)
    sheet = Image.new("RGB", (cols * cell, rows * cell), (255, 255, 255))
    for i, tile in enumerate(tiles):
        t = tile.convert("RGB")
        w, h = t.size
        k = cell / min(w, h)  # cover the cell, then centre-crop
        t = t.resize((max(cell, round(w * k)), max(cell, round(h * k))), Image.Resampling.LANCZOS)
        left, top = (t.width - cell) // 2, (t.height - cell) // 2
        sheet.paste(
            t.crop((left, top, left + cell, top + cell)), ((i % cols) * cell, (i // cols) * cell)
        )
    return sheet


# --- matplotlib line art ------------------------------------------------------------------------

_WORDS = [
    "the", "of", "and", "to", "in", "is", "for", "on", "with", "as", "by", "at", "from", "that",
    "this", "are", "be", "or", "an", "it", "which", "data", "model", "results", "method", "figure",
    "table", "value", "system", "network", "process", "analysis", "time", "rate", "level", "test",
    "sample", "group", "total", "mean", "error", "number", "section", "report", "using",
    "between", "each", "per", "new", "user",
]  # fmt: skip


def _sentence(rng: Rng, n: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), n))


def _line_chart(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_subplot()
    x = np.arange(int(rng.integers(30, 400)))
    for k in range(int(rng.integers(2, 7))):
        ax.plot(x, np.cumsum(rng.normal(0, 1, x.size)) + 5 * k, lw=float(rng.uniform(0.6, 2.5)),
                label=_sentence(rng, 2))  # fmt: skip
    ax.grid(True, lw=0.5)
    ax.legend(fontsize="small")
    ax.set_title(_sentence(rng, 5))
    ax.set_xlabel(_sentence(rng, 2))
    ax.set_ylabel(_sentence(rng, 2))


def _bar_chart(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_subplot()
    n, groups = int(rng.integers(3, 12)), int(rng.integers(1, 4))
    width = 0.8 / groups
    for g in range(groups):
        ax.bar(np.arange(n) + g * width, rng.uniform(1, 10, n), width, label=_sentence(rng, 1),
               hatch=("", "//", "..")[g % 3], edgecolor="black", lw=0.5)  # fmt: skip
    ax.set_xticks(np.arange(n) + 0.4 - width / 2, [_sentence(rng, 1) for _ in range(n)])
    ax.legend()
    ax.set_title(_sentence(rng, 4))


def _scatter(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_subplot()
    n = int(rng.integers(100, 3000))
    xy = rng.normal(0, 1, (n, 2)) @ rng.normal(0, 1, (2, 2))
    ax.scatter(xy[:, 0], xy[:, 1], s=float(rng.uniform(1, 20)), c=rng.random(n), cmap="viridis")
    ax.set_title(_sentence(rng, 3))


def _contour(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_subplot()
    y, x = np.mgrid[-3:3:200j, -3:3:200j]
    z = sum(
        rng.uniform(-1, 1)
        * np.exp(-((x - rng.uniform(-2, 2)) ** 2 + (y - rng.uniform(-2, 2)) ** 2))
        for _ in range(5)
    )
    cs = ax.contour(x, y, z, levels=int(rng.integers(6, 20)), colors="black", linewidths=0.6)
    ax.clabel(cs, fontsize=7)
    ax.set_aspect("equal")


def _diagram(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.patches import FancyBboxPatch

    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    boxes = [
        (float(rng.uniform(0.5, 8)), float(rng.uniform(0.5, 9)))
        for _ in range(int(rng.integers(4, 10)))
    ]
    for x, y in boxes:
        ax.add_patch(FancyBboxPatch((x, y), 1.6, 0.7, boxstyle="round,pad=0.1", lw=1.2,
                                    fc=("white", "#dde8f6", "#fbe3c8")[int(rng.integers(0, 3))],
                                    ec="black"))  # fmt: skip
        ax.text(x + 0.8, y + 0.35, _sentence(rng, 1), ha="center", va="center", fontsize=8)
    for (x0, y0), (x1, y1) in itertools.pairwise(boxes):
        ax.annotate("", (x1 + 0.8, y1 + 0.35), (x0 + 0.8, y0 + 0.35),
                    arrowprops={"arrowstyle": "->", "lw": 1.0})  # fmt: skip


def _text_page(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    size = float(rng.uniform(7, 12))
    fig.text(0.05, 0.95, _sentence(rng, 4).title(), fontsize=size * 1.6, weight="bold", va="top")
    lines = int(0.85 * fig.get_figheight() * 72 / (size * 1.5))
    for i in range(lines):
        fig.text(0.05, 0.88 - i * size * 1.5 / 72 / fig.get_figheight(),
                 _sentence(rng, int(fig.get_figwidth() * 72 / size / 3.5)), fontsize=size)  # fmt: skip


def _thin_lines(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    t = np.linspace(0, 2 * np.pi, 2000)
    a, b = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    for k in range(int(rng.integers(10, 40))):
        phase = k * 0.05
        ax.plot(
            np.sin(a * t + phase), np.cos(b * t), lw=float(rng.uniform(0.2, 0.6)), color="black"
        )


def _table(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    ax.set_axis_off()
    rows, cols = int(rng.integers(5, 25)), int(rng.integers(3, 8))
    cells = [[f"{v:.2f}" for v in rng.normal(100, 30, cols)] for _ in range(rows)]
    table = ax.table(cells, colLabels=[_sentence(rng, 1) for _ in range(cols)], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.3)


def _map(fig, rng: Rng) -> None:  # type: ignore[no-untyped-def]
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    colors = ["#a6cee3", "#1f78b4", "#b2df8a", "#33a02c", "#fb9a99", "#e31a1c", "#fdbf6f"]
    for _ in range(int(rng.integers(20, 60))):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.15)
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 12))))
        radii = r * rng.uniform(0.6, 1.0, angles.size)
        ax.fill(cx + radii * np.cos(angles), cy + radii * np.sin(angles),
                fc=colors[int(rng.integers(0, len(colors)))], ec="white", lw=0.8)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


DRAWINGS: dict[str, Callable[..., None]] = {
    "line chart": _line_chart, "bar chart": _bar_chart, "scatter": _scatter,
    "contour": _contour, "diagram": _diagram, "text page": _text_page,
    "thin lines": _thin_lines, "table": _table, "map": _map,
}  # fmt: skip


def render(
    drawing: str, seed: int, size: tuple[int, int], *, transparent: bool = False
) -> Image.Image:
    """One matplotlib drawing at exactly `size` pixels (RGBA, as matplotlib's PNGs are)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100 if min(size) < 1200 else 200  # large charts are usually rendered at 2x
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    DRAWINGS[drawing](fig, np.random.default_rng(seed))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, transparent=transparent)
    with Image.open(buf) as img:
        img.load()
        return img.copy()


# Line-art sizes (width, height) from 300 to 3000 px, tall ones included (infographics).
LINE_ART_SIZES = (
    (320, 240), (480, 360), (640, 480), (800, 600), (1024, 768), (1200, 675), (1280, 1024),
    (1600, 900), (1920, 1080), (2400, 1600), (3000, 2000), (600, 1400), (900, 2400),
)  # fmt: skip
QUICK_LINE_ART_SIZES = ((640, 480), (1024, 768), (1920, 1080), (3000, 2000))
PHOTO_LONG_SIDES = (400, 640, 800, 1024, 1280, 1600, 1920, 2400, 3000)
QUICK_PHOTO_LONG_SIDES = (640, 1280, 2400)
JPEG_QUALITIES = (60, 75, 85, 95)


# How sites serve line art: matplotlib's own RGBA PNG, or re-encoded (one form per image).
LINE_ART_PNG_FORMS: dict[str, Callable[[Image.Image, int], bytes]] = {
    "matplotlib RGBA": lambda img, i: encode(img, "PNG"),
    "palette": lambda img, i: encode(
        flatten(img).quantize((16, 64, 256)[i % 3], dither=Image.Dither.NONE), "PNG", optimize=True
    ),
    "transparent": lambda img, i: b"",  # rendered again with a transparent background
    "grey": lambda img, i: encode(img.convert("L"), "PNG"),
    "RGB": lambda img, i: encode(flatten(img), "PNG"),
}
LINE_ART_OTHER_FORMS: dict[str, tuple[str, Callable[[Image.Image], bytes]]] = {
    "GIF": ("GIF/WebP", lambda img: encode(img, "GIF")),
    "WebP lossless": ("GIF/WebP", lambda img: encode(img, "WEBP", lossless=True)),
    "WebP q80": ("GIF/WebP", lambda img: encode(img, "WEBP", quality=80)),
    "JPEG q90": ("line-art JPEG", lambda img: encode(img, "JPEG", quality=90)),
}


def line_art_images(quick: bool = False) -> Iterator[RealImage]:
    """Each drawing at each size as one PNG form; every other one also as GIF, WebP or JPEG."""
    sizes = QUICK_LINE_ART_SIZES if quick else LINE_ART_SIZES
    png_forms, other_forms = list(LINE_ART_PNG_FORMS), list(LINE_ART_OTHER_FORMS)
    for i, (drawing, size) in enumerate((d, s) for s in sizes for d in DRAWINGS):
        if quick and i % 3:
            continue
        seed = 1000 + i
        img = render(drawing, seed, size)
        name = f"{drawing} {size[0]}x{size[1]}"
        form = png_forms[i % len(png_forms)]
        if form == "transparent":
            data = encode(render(drawing, seed, size, transparent=True), "PNG")
        else:
            data = LINE_ART_PNG_FORMS[form](img, i)
        yield RealImage(f"{name} {form} PNG", "line-art PNG", "line art", data, size)
        if i % 2 == 0:
            other = other_forms[(i // 2) % len(other_forms)]
            kind, make = LINE_ART_OTHER_FORMS[other]
            yield RealImage(f"{name} {other}", kind, "line art", make(img), size)


def photo_images(quick: bool = False) -> Iterator[RealImage]:
    """skimage's photos at their own sizes, resized to web sizes, and in collages."""
    photos = {name: img.convert("RGB") for name, img in skimage_images(SKIMAGE_PHOTOS).items()}
    names = sorted(photos)
    step = 3 if quick else 1
    sized = [(name, photos[name]) for name in names[::step]]  # as shipped
    sides = QUICK_PHOTO_LONG_SIDES if quick else PHOTO_LONG_SIDES
    # Resized to web sizes (down for the large ones, up for the others, as CMSs do).
    sized += [
        (name, resize_to(photos[name], side))
        for j, side in enumerate(sides)
        for name in names[j % 2 :: 2 * step]
    ]
    # Collages: native detail at 1000-3000 px.
    rng = np.random.default_rng(7)
    layouts = ((2, 2, 512), (3, 2, 512), (4, 3, 512), (5, 3, 600), (3, 3, 700))
    for cols, rows, cell in layouts[:: 2 if quick else 1]:
        picks = [photos[names[int(i)]] for i in rng.permutation(len(names))[: cols * rows]]
        sized.append((f"collage {cols}x{rows}", collage(picks, cols, cell)))
    for k, (name, img) in enumerate(sized):
        label = f"{name} {img.width}x{img.height}"
        q = JPEG_QUALITIES[k % len(JPEG_QUALITIES)]
        data = encode(img, "JPEG", quality=q, progressive=k % 3 == 0)
        yield RealImage(f"{label} JPEG q{q}", "photo JPEG", "photo", data, img.size)
        if k % 3 == 1:
            data = encode(img, "WEBP", quality=80)
            yield RealImage(f"{label} WebP q80", "GIF/WebP", "photo", data, img.size)
        if k % 6 == 2:
            yield RealImage(f"{label} GIF", "GIF/WebP", "photo", encode(img, "GIF"), img.size)
        if k % 4 == 3:
            yield RealImage(f"{label} PNG", "photo PNG", "photo", encode(img, "PNG"), img.size)


def graphic_images() -> Iterator[RealImage]:
    """scikit-image's own graphics, as shipped (PNG, some with transparency)."""
    folder = skimage_data_dir()
    if folder is None:
        return
    for name in SKIMAGE_GRAPHICS:
        path = folder / name
        if path.is_file():
            with Image.open(path) as img:
                size = img.size
            yield RealImage(
                f"{path.stem} (skimage)", "line-art PNG", "line art", path.read_bytes(), size
            )


def small_images(quick: bool = False) -> Iterator[RealImage]:
    """Icons and thumbnails, longest side 16-256 px."""
    photos = skimage_images(SKIMAGE_PHOTOS)
    for k, name in enumerate(sorted(photos)[:: 3 if quick else 1]):
        side = (64, 100, 150, 200, 256)[k % 5]
        img = resize_to(photos[name].convert("RGB"), side)
        yield RealImage(f"{name} thumbnail {img.width}x{img.height}", "small", "photo",
                        encode(img, "JPEG", quality=80), img.size)  # fmt: skip
    drawings = list(DRAWINGS)
    for k, side in enumerate((16, 24, 32, 48, 64, 96, 128, 192, 256)[:: 2 if quick else 1]):
        img = render(drawings[k % len(drawings)], 500 + k, (side, side), transparent=k % 2 == 1)
        fmt = ("PNG", "GIF", "PNG", "WEBP")[k % 4]
        data = encode(img.quantize(64) if fmt == "PNG" and k % 3 == 0 else img, fmt)
        yield RealImage(f"icon {side}px {fmt}", "small", "line art", data, img.size)
    for name, img in skimage_images(SKIMAGE_SMALL).items():
        yield RealImage(f"{name} (skimage)", "small", "line art", encode(img, "PNG"), img.size)


def pdq_images() -> Iterator[RealImage]:
    for name, data in pdq_reference_images():
        with Image.open(io.BytesIO(data)) as img:
            size, fmt = img.size, img.format
        kind = (
            "small"
            if max(size) <= SMALL_MAX_SIDE
            else "photo JPEG"
            if fmt == "JPEG"
            else "photo PNG"
        )
        yield RealImage(name, kind, "photo", data, size)


def real_images(quick: bool = False) -> list[RealImage]:
    """The whole set (about 600 images; `quick`: about 150). Deterministic for given versions."""
    out = [
        *photo_images(quick),
        *line_art_images(quick),
        *graphic_images(),
        *small_images(quick),
        *pdq_images(),
    ]
    # An image of any format no longer than SMALL_MAX_SIDE is reported as small.
    return [
        RealImage(i.name, "small", i.content, i.data, i.size)
        if max(i.size) <= SMALL_MAX_SIDE
        else i
        for i in out
    ]
