"""What every generator shares: the seeded random stream, colours, fonts, words, sizes."""

from __future__ import annotations

import numpy as np
from PIL import ImageFont

Size = tuple[int, int]
Color = tuple[int, int, int]

WORDS = (
    "harbour", "morning", "sales", "quarter", "north", "river", "station", "garden", "report",
    "figure", "total", "growth", "market", "bridge", "window", "summer", "lantern", "orchard",
    "meadow", "pattern", "signal", "archive", "thunder", "copper", "velvet", "canyon", "island",
    "marble", "pepper", "silver", "violet", "saddle", "ribbon", "falcon",
)  # fmt: skip
UI_WORDS = (  # for screens, diagrams and banners
    "report", "annual", "sales", "growth", "region", "north", "south", "east", "west", "total",
    "revenue", "users", "account", "settings", "profile", "search", "home", "about", "contact",
    "news", "events", "team", "product", "price", "order", "cart", "login", "help", "support",
    "privacy", "terms", "share", "download", "upload", "open", "close", "save", "edit",
    "delete", "monday", "march", "quarter", "result", "chart", "figure", "table", "value",
    "index", "level", "status", "update", "version",
)  # fmt: skip
# The ten colours plotting libraries cycle through (matplotlib's "tab10").
PALETTE: tuple[Color, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip


def rng_for(seed: int, salt: int) -> np.random.Generator:
    """The PCG64 stream of one kind: each kind has its own salt, so photo(3) and chart(3)
    share no randomness."""
    return np.random.default_rng([seed, salt])


def color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> Color:
    r, g, b = (int(v) for v in rng.integers(lo, hi, size=3))
    return (r, g, b)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font: the same glyphs on every machine, no font files."""
    return ImageFont.load_default(size=max(8, size))


def words(rng: np.random.Generator, n: int, vocabulary: tuple[str, ...] = WORDS) -> str:
    return " ".join(vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), size=n))
