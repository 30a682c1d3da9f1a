"""How far to trust a perceptual match: image structure classes, tiers and a confidence score.

The numbers behind every constant here are in bench/RESULTS.md ("Match decision: precision
and recall"), measured by bench/bench_decision.py on generated photo-like images and flat
graphics (line art, charts, text cards, icons, UI screenshots).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from PIL import Image

Tier = Literal["high", "low"]
ImageClass = Literal["photo", "graphic", "icon", "tiny", "unknown", "unknown_small"]

# Flatness: the share of a 64x64 grey thumbnail's pixels that fall in its 4 most common of
# 32 grey levels. Flat graphics are drawn with a few tones (0.76-1.0 for every generated
# chart, text card, line drawing and screenshot, original or edited; icons shrunk below
# ~100 px blur down to 0.66); photographs spread over many (95% below 0.57, Meta's PDQ test
# photos 0.33-0.52). PDQ quality cannot draw this line: sharp-edged graphics score 100.
FLATNESS_SIDE = 64
FLATNESS_LEVELS = 32
FLATNESS_TONES = 4
FLAT_AT = 0.72  # flatness at or above this: a flat graphic, where pHash/dHash collide
# Below PDQ's own 64x64 working resolution an image carries too little to identify it.
TINY_AREA = 64 * 64
# Flat images no bigger than 256x256 (icons, logos, avatars, buttons) collide under every
# perceptual hash, PDQ included: unrelated icons sharing a shape differ only in colour.
ICON_SIDE = 256
ICON_MAX_AREA = ICON_SIDE * ICON_SIDE

# How often a single-type match within the default threshold was right, per image class:
# the bench's precision, rounded down (photo pHash measured 100% but is capped below PDQ:
# 64 bits collide sooner than 256 as lists grow). `unknown` (flatness not measured) takes
# the worse of photo and graphic. A known item matched by a type whose reliability reaches
# HIGH_TIER_RELIABILITY goes to the high tier; everything else to the low tier.
RELIABILITY: Mapping[ImageClass, Mapping[str, float]] = {
    "photo": {"pdq": 0.99, "phash": 0.97, "dhash": 0.85},
    "graphic": {"pdq": 0.98, "phash": 0.6, "dhash": 0.4},
    "icon": {"pdq": 0.15, "phash": 0.1, "dhash": 0.05},
    "tiny": {"pdq": 0.1, "phash": 0.05, "dhash": 0.05},
    "unknown": {"pdq": 0.98, "phash": 0.6, "dhash": 0.4},
    "unknown_small": {"pdq": 0.15, "phash": 0.1, "dhash": 0.05},
}
HIGH_TIER_RELIABILITY = 0.95
# A type the known item also has, but whose query hash is more than this many times its
# threshold away, speaks against the match (unrelated PDQs sit ~128 bits apart, edits that
# break PDQ, such as crops, at 35-65): the evidence is scaled by CONTRADICTION_PENALTY.
CONTRADICTION_FACTOR = 2
CONTRADICTION_PENALTY = 0.5
# Query-side variants (matchers.variants: the picture inside a frame or letterbox, or
# without a caption band) are looked up too, up to three more queries for an image that has
# them, so their matches get rules of their own that keep the false-hit rate where it was:
# thresholds no wider than these (and than the matcher's own), and the high tier through
# PDQ only (pHash and dHash alone on a cut-out stay in the low tier: a cut-out is smaller
# and often flatter than the image, where those two collide sooner). Measured in
# bench/RESULTS.md, "Edited copies (variants)".
VARIANT_THRESHOLDS: Mapping[str, int] = {"pdq": 28, "phash": 6, "dhash": 4}
# A graphic's canonical form (matchers.variants.canonical_variant: PDQ of a fixed 64x64 box
# thumbnail) meets only a list's canonical forms, by PDQ, within this distance. Measured by
# bench/calib_canonical.py on 630 generated graphics of seven kinds (two runs: 210 and 420):
# a copy served as JPEG q80 (a third resized to 75%) is 0-20 bits from its own stored forms
# (median 2, 90th percentile 8); among the 69.6M (query form, stored form) pairs of
# different graphics none is within 16; all within 24 are pie charts, mostly trim against
# trim (two form pairs at 20, three at 22), so 20 or 24 would not keep false hits at zero.
# 18 (branch variants9): the same two runs, re-hashed, have no pair of different graphics
# within 18 (140M form pairs; the nearest are those two at 20), and captioned text cards and
# diagrams at 75% land 18 bits from their `canon-trim`; a third run (120 more pie charts)
# has one pair of pie charts at 14, within 16 already (bench/RESULTS.md, "Branch variants9").
CANON_THRESHOLD = 18
# A graphic cut right out of its caption band can still drift 30-40 PDQ bits from the
# list's `trim` under a 75% resize (bench_variants' last two caption misses: PDQ 38 and 40,
# pHash 2 and 0, canonical 20 and 20). Such a region names an item in the high tier when
# three hashes agree on one stored picture of it (its own image or its trim): pHash within
# UNCAPTION_PHASH_AGREES, PDQ within UNCAPTION_PDQ_REACH, and the region's canonical form
# within UNCAPTION_CANON_REACH of the picture's (matchers.decision,
# Matcher._uncaption_corroborated); only on flat regions larger than an icon
# (uncaption_rule_applies). bench/calib_uncaption.py, three runs (40M unrelated region-item
# pairs; pie charts, screenshots and banners over-sampled): no unrelated pair passes that
# today's rules do not put in the high tier already (a third, smaller run: the same), nor
# with PDQ 56 and canonical 24-28 (pHash 2); pHash 4 let one pie chart pair through in one
# run: that bound has no slack. The nearest refused: a pie chart's trim at PDQ 34, pHash 2,
# canonical 24-30.
# Either hash alone with PDQ lets hundreds through (pie charts). bench/RESULTS.md, capcal13.
UNCAPTION_PDQ_REACH = 40
UNCAPTION_PHASH_AGREES = 2
UNCAPTION_CANON_REACH = 20
VARIANT_RELIABILITY: Mapping[ImageClass, Mapping[str, float]] = {
    image_class: {name: value if name == "pdq" else min(value, 0.9)
                  for name, value in table.items()}
    for image_class, table in RELIABILITY.items()
}
# High-tier perceptual confidences lie in [0.5, 0.99], low-tier in [0, 0.49]; exact is 1.0.
HIGH_TIER_FLOOR = 0.5
PERCEPTUAL_CEILING = 0.99
LOW_TIER_CEILING = 0.49
EXACT_CONFIDENCE = 1.0


def flatness(image: Image.Image) -> float:
    """Share (0..1) of a 64x64 grey thumbnail in its 4 most common of 32 grey levels.

    The structure measure the match decision needs next to `pdq_quality`: PDQ quality
    is 100 for a sharp-edged logo, so it cannot tell a flat graphic from a photograph,
    while this can (95% of photos below 0.57; charts, text, line art and screenshots 0.76
    and up, original or edited).
    It is cheap (one BOX downscale) and must be computed from the decoded image, so it
    belongs in `Digests`. Transparent pixels are composited onto white, as pages show them.
    """
    return flatness_of_thumbnail(flatness_thumbnail(image))


def flatness_thumbnail(image: Image.Image) -> Image.Image:
    """The 64x64 grey BOX thumbnail flatness measures (transparency composited onto white).

    Apart from flatness_of_thumbnail so that a caller needing the same thumbnail (a
    graphic's canonical form, matchers.variants) reads one full-size pass, not two."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    grey = image if image.mode == "L" else image.convert("L")
    return grey.resize((FLATNESS_SIDE, FLATNESS_SIDE), Image.Resampling.BOX)


def flatness_of_thumbnail(thumb: Image.Image) -> float:
    """flatness from its thumbnail (flatness_thumbnail)."""
    # Its histogram summed in runs of 256 // FLATNESS_LEVELS grey values is the count of
    # each level: no array copy of the thumbnail (a third of the cost on a 256 x 192 draft).
    hist = thumb.histogram()
    step = 256 // FLATNESS_LEVELS
    counts = sorted(sum(hist[i : i + step]) for i in range(0, 256, step))
    return sum(counts[-FLATNESS_TONES:]) / (thumb.width * thumb.height)


def classify(width: int | None, height: int | None, flat: float | None) -> ImageClass:
    """The image class whose reliabilities apply, from size and flatness (None: unmeasured)."""
    area = width * height if width is not None and height is not None else None
    if area is not None and area < TINY_AREA:
        return "tiny"
    small = area is not None and area <= ICON_MAX_AREA
    if flat is None:
        return "unknown_small" if small else "unknown"
    if flat < FLAT_AT:
        return "photo"
    return "icon" if small else "graphic"


def uncaption_rule_applies(width: int, height: int, flat: float) -> bool:
    """Whether the corroborated uncaption rule (UNCAPTION_*) may grade a region: a flat one
    (not a photo) larger than an icon. A region of a graphic resized to 75% can fall under
    ICON_MAX_AREA by area (299 x 218) while wider than any icon; icon-sized regions stay
    out: generated icons meet each other at PDQ 10, pHash 0, canonical 6."""
    image_class = classify(width, height, flat)
    return image_class == "graphic" or (image_class == "icon" and max(width, height) > ICON_SIDE)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One hash type's agreement with a known item: the nearest of its hashes."""

    hash_type: str
    distance: int
    threshold: int


def closeness(distance: int, threshold: int) -> float:
    """1.0 at distance 0 falling linearly to ~0.5 at the threshold: nearer is surer."""
    return 1.0 - distance / (2.0 * (threshold + 1))


def decide(
    image_class: ImageClass,
    agreeing: list[Evidence],
    contradicting: int = 0,
    reliability: Mapping[ImageClass, Mapping[str, float]] = RELIABILITY,
) -> tuple[float, Tier]:
    """Confidence and tier for one known item matched by the `agreeing` perceptual types.

    Corroboration is the noisy-OR of the types' reliabilities scaled by closeness, so two
    types agreeing score above either alone; each contradicting type halves the evidence.
    The tier depends only on whether some agreeing type is reliable on this class of
    image: contradiction and distance order the queue, they do not hide a hit.
    `reliability` is RELIABILITY, or VARIANT_RELIABILITY for a query-side variant's match.
    """
    if not agreeing:
        raise ValueError("decide() needs at least one agreeing hash type")
    table = reliability[image_class]
    doubt = 1.0
    for ev in agreeing:
        doubt *= 1.0 - table.get(ev.hash_type, 0.0) * closeness(ev.distance, ev.threshold)
    strength = (1.0 - doubt) * CONTRADICTION_PENALTY**contradicting
    if max(table.get(ev.hash_type, 0.0) for ev in agreeing) >= HIGH_TIER_RELIABILITY:
        span = PERCEPTUAL_CEILING - HIGH_TIER_FLOOR
        return HIGH_TIER_FLOOR + span * strength, "high"
    return LOW_TIER_CEILING * strength, "low"
