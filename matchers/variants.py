"""Query-side variants: the regions `matchers.regions.find_regions` finds, hashed; list crops.

`variant_hashes` hashes each region found on a crawled image from that image's one decode, so
the match can also look the inner picture up (`matchers.decision`, transforms `trim`,
`uncaption-top`, ... and `trim+uncaption-top`); graphics also get canonical hashes
(`canonical_variant`). The list side (`trawl hash --variants crops`): `list_variant_hashes`
and `list_canonical_hashes` hash the documented crops of an image a hotline holds
(`LIST_CROPS`), so a crawled crop meets a stored crop.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from matchers.confidence import (
    FLATNESS_SIDE,
    flatness,
    flatness_of_thumbnail,
    flatness_thumbnail,
)
from matchers.digests import CANON, VariantHashes
from matchers.perceptual import (
    PDQ_GRID,
    dhash_from_thumbnail,
    exact_hashes,
    pdq_from_grid,
    phash_from_thumbnail,
)
from matchers.regions import Box, Region, find_regions

__all__ = ["CANON_FLAT", "LIST_CROPS", "LIST_CROP_TYPES", "Region", "canonical_variant",
           "find_regions", "list_boxes", "list_canonical_hashes", "list_variant_hashes",
           "variant_hashes"]

def variant_hashes(
    luma: Image.Image,
    scale: int = 1,
    lum: npt.NDArray[np.float32] | None = None,
    regions: list[Region] | None = None,
    flat: float | None = None,
    *,
    reduced: tuple[Image.Image, int] | None = None,
    thumbnail: Image.Image | None = None,
) -> tuple[VariantHashes, ...]:
    """The hashes of every region `find_regions` finds in `luma` (the decode's grey image,
    1/`scale` of the full size); `lum` is PDQ's float luma of the same pixels, when the
    decode made one (otherwise the grey image stands for it, within a few bits).
    `regions`: find_regions(luma), when the caller has it already. `flat`: the whole
    image's flatness; at CANON_FLAT or above (a graphic) the canonical hashes of the whole
    image and of every region are added (`canonical_variant`), and of a region at least
    that flat itself on any image.

    `reduced`: (`luma`.reduce(factor), factor), for a graphic: each region's pHash and
    dHash thumbnails are taken from it (the LANCZOS resizes of full-size crops were most
    of the variants' cost); the regions, PDQ, flatness and canonical hashes stay on `luma`:
    a line drawing's PDQ moves tens of bits under a 2x reduction, and regions found or
    canonical forms made on the reduced image lost letterbox and caption copies in
    bench/bench_variants.py (bench/RESULTS.md, branch variantcost10).

    `thumbnail`: confidence.flatness_thumbnail(luma), when the decode made it (the
    canonical form's box thumbnail is the same image)."""
    out = []
    small, factor = (luma, 1) if reduced is None else reduced
    if flat is not None and flat >= CANON_FLAT:
        out.append(canonical_variant(luma, CANON, flat, scale, thumbnail=thumbnail))
    for region in find_regions(luma) if regions is None else regions:
        left, top, right, bottom = region.box
        crop = small.crop(
            (left // factor, top // factor, -(-right // factor), -(-bottom // factor))
        )
        fine = crop if factor == 1 else luma.crop((left, top, right, bottom))
        part = (
            lum[top:bottom, left:right]
            if lum is not None and lum.shape == (luma.height, luma.width)
            else np.asarray(fine, dtype=np.float32)
        )
        # `part` as a view: PDQ's banded products read it in place (a copy of the crop's
        # float luma cost as much as its filter; the same grid, bench/RESULTS.md).
        hashes = exact_hashes(fine, lum=part, thumbs_of=crop)
        crop_thumb = flatness_thumbnail(fine)
        crop_flat = flatness_of_thumbnail(crop_thumb)
        out.append(
            VariantHashes(
                name=region.name,
                pdq=hashes.pdq,
                pdq_quality=hashes.pdq_quality,
                phash=hashes.phash,
                dhash=hashes.dhash,
                flatness=crop_flat,
                width=fine.width * scale,
                height=fine.height * scale,
            )
        )
        # A region of a graphic is a graphic: a dense line drawing's cut-out can score a
        # little below CANON_FLAT (0.56-0.62) where the whole copy, with its plain band or
        # frame, scores above; or both below (CANON_REGION_FLAT).
        if crop_flat >= CANON_REGION_FLAT or (flat is not None and flat >= CANON_FLAT):
            out.append(
                canonical_variant(fine, f"{region.name}+{CANON}", crop_flat, scale,
                                  thumbnail=crop_thumb)
            )
    return tuple(out)


# --- canonical hashes of graphics: PDQ of a fixed box-filtered thumbnail ----------------------

# A graphic's PDQ drifts far under an ordinary resize: an unedited generated chart or
# screenshot resized to 75% and re-encoded JPEG q80 is 4-32 bits from its own PDQ (median
# 16), because PDQ's own filter (Jarosz, window side/128) is narrow for one-pixel strokes
# and follows the image's size. The canonical form takes the size out: the grey image
# box-filtered to CANON_SIDE x CANON_SIDE (every pixel of the picture averaged into one
# cell, at any size), and PDQ's DCT and median of that grid. On the same copies it moves
# 0-16 bits (median 6); unrelated generated graphics stay more than 16 apart
# (matchers.confidence.CANON_THRESHOLD; bench/calib_canonical.py; bench/RESULTS.md,
# "Edited copies (variants)").
# A list made by Trawl (`trawl hash --variants crops`) stores it for each graphic (`canon`,
# and `canon-trim`, `canon-crop-...` for its trim and crops), and a crawled graphic is
# looked up by its own (`canon`, `trim+canon`, ...): canonical hashes meet only canonical
# hashes (matchers.decision), at CANON_THRESHOLD, PDQ only.
CANON_SIDE = PDQ_GRID
# Images (and regions) at least this flat get canonical hashes, on both sides: graphics
# (matchers.confidence.FLAT_AT, 0.72) with a margin for what an edit or a JPEG does to
# flatness, down to dense line drawings (0.60-0.64); generated photos (95% below 0.55)
# almost never pay for them (1 in 200 at 0.60), real photos as often as at 0.65 but for
# 12 of 211 (76 at 0.60, most of them flat already). A region of an image this flat gets
# them too, however flat it is itself (variant_hashes).
CANON_FLAT = 0.60
# A region (the picture inside a frame or without a caption band) this flat gets them too:
# a dense line drawing (0.63 as listed) scores 0.57-0.59 once a dark band is cut away from a
# copy resized to 75% and re-encoded (its one-pixel strokes blurred over more grey levels),
# and the whole copy, band included, 0.54. The canonical threshold was calibrated with the
# real photos of flatness 0.55 and up (bench/RESULTS.md, "Branch variants9").
CANON_REGION_FLAT = 0.55


def canonical_variant(
    grey: Image.Image, name: str, flat: float, scale: int = 1,
    *, thumbnail: Image.Image | None = None,
) -> VariantHashes:
    """The canonical hashes of `grey` (mode L): PDQ of its CANON_SIDE box thumbnail, and
    pHash and dHash of the same thumbnail (kept for the stored form's sake; the matcher
    looks canonical variants up by PDQ only). `thumbnail`: flatness_thumbnail(grey) of a
    mode L `grey`, already made (the same BOX resize), or None."""
    if grey.mode != "L":
        grey = grey.convert("L")
        thumbnail = None
    if thumbnail is not None and CANON_SIDE == FLATNESS_SIDE:
        small = thumbnail
    else:
        small = grey.resize((CANON_SIDE, CANON_SIDE), Image.Resampling.BOX)
    grid = np.asarray(small, dtype=np.float32)
    pdq, quality = pdq_from_grid(grid)
    thumb = np.asarray(small.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float32)
    tiny = np.asarray(small.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.float32)
    return VariantHashes(
        name=name, pdq=pdq, pdq_quality=quality, phash=phash_from_thumbnail(thumb),
        dhash=dhash_from_thumbnail(tiny), flatness=flat, width=grey.width * scale,
        height=grey.height * scale,
    )


# --- list side: the crops a crop-augmented list stores for each known image ---------------

# `trawl hash --variants crops`: besides the image's own hashes, the hashes of these crops
# (left, top, right, bottom as shares of the width and height), each marked with its name
# as a variant of the same known item. PDQ matches a crop only when the crawled window's
# edges lie within ~1.5% of the stored one's, pHash (at its threshold of 6) within ~2%
# (bench/RESULTS.md, "Edited copies (variants)"). The set: the six named crops (centre 90%
# and 80%, the four 90% corners), and a grid whose every side is cut by 2.5% or 7.5%
# (sixteen crops, `crop-l025-t075-r025-b025` = 2.5% off the left, 7.5% off the top, ...):
# any crop of up to 10% per side, centred or not, has each edge within 2.5% of a stored
# crop's, and most within 1.5%.
CROP_GRID_CUTS = (0.025, 0.075)
LIST_CROPS: dict[str, tuple[float, float, float, float]] = {
    "crop-centre-90": (0.05, 0.05, 0.95, 0.95),
    "crop-centre-80": (0.10, 0.10, 0.90, 0.90),
    "crop-top-left-90": (0.0, 0.0, 0.90, 0.90),
    "crop-top-right-90": (0.10, 0.0, 1.0, 0.90),
    "crop-bottom-left-90": (0.0, 0.10, 0.90, 1.0),
    "crop-bottom-right-90": (0.10, 0.10, 1.0, 1.0),
    **{
        f"crop-l{1000 * left:03.0f}-t{1000 * top:03.0f}-r{1000 * right:03.0f}"
        f"-b{1000 * bottom:03.0f}": (left, top, 1 - right, 1 - bottom)
        for left in CROP_GRID_CUTS
        for top in CROP_GRID_CUTS
        for right in CROP_GRID_CUTS
        for bottom in CROP_GRID_CUTS
    },
}
# The hash types a list stores for each crop, whatever else it holds: PDQ alone misses most
# off-centre crops (it needs the edges within ~1.5%), pHash finds them (on photos in the
# high tier: RELIABILITY; on flat graphics in the low tier).
LIST_CROP_TYPES = ("pdq", "phash")
# Also stored when the image has a border: its trimmed picture, so that a framed copy of a
# graphic on a plain background (whose own margins a query-side trim cuts too) still meets
# a hash of the same picture.
LIST_TRIM = "trim"
# The crops whose canonical hashes a list also stores, for a graphic (CANON_FLAT).
LIST_CANON_CROPS: tuple[str, ...] = tuple(LIST_CROPS)


def list_boxes(luma: Image.Image) -> dict[str, Box]:
    """The boxes of LIST_CROPS in `luma`, and of its trimmed picture (LIST_TRIM) if any."""
    w, h = luma.size
    boxes: dict[str, Box] = {
        name: (round(left * w), round(top * h), round(right * w), round(bottom * h))
        for name, (left, top, right, bottom) in LIST_CROPS.items()
    }
    trimmed = next((r.box for r in find_regions(luma) if r.name == LIST_TRIM), None)
    if trimmed is not None:
        boxes[LIST_TRIM] = trimmed
    return boxes


def list_variant_hashes(luma: Image.Image, rgb: npt.NDArray[np.uint8]) -> tuple[VariantHashes, ...]:
    """The reference hashes (imagehash, pdqhash) of each of LIST_CROPS of a fully decoded
    image, and of its trimmed picture when it has a border: what a crop-augmented list
    stores. Crops smaller than PDQ's 64 x 64 grid are left out."""
    from matchers.perceptual import reference_hashes

    boxes = list_boxes(luma)
    out = []
    for name, (left, top, right, bottom) in boxes.items():
        if min(right - left, bottom - top) < PDQ_GRID:
            continue
        crop = luma.crop((left, top, right, bottom))
        hashes = reference_hashes(crop, np.ascontiguousarray(rgb[top:bottom, left:right]))
        out.append(VariantHashes(
            name=name, pdq=hashes.pdq, pdq_quality=hashes.pdq_quality, phash=hashes.phash,
            dhash=hashes.dhash, flatness=flatness(crop), width=crop.width, height=crop.height,
        ))
    return tuple(out) + list_canonical_hashes(luma, boxes)


def list_canonical_hashes(
    luma: Image.Image, boxes: dict[str, Box] | None = None
) -> tuple[VariantHashes, ...]:
    """A crop-augmented list's canonical hashes of a graphic (flatness >= CANON_FLAT; none
    for a photo): of the whole image (`canon`), and of its `trim` and LIST_CANON_CROPS
    among `boxes` (default: list_variant_hashes' boxes) that are flat too (`canon-trim`,
    `canon-crop-...`)."""
    whole = flatness(luma)
    if whole < CANON_FLAT:
        return ()
    if boxes is None:
        boxes = list_boxes(luma)
    out = [canonical_variant(luma, CANON, whole)]
    for name, box in boxes.items():
        if name != LIST_TRIM and name not in LIST_CANON_CROPS:
            continue
        if min(box[2] - box[0], box[3] - box[1]) < PDQ_GRID:
            continue
        crop = luma.crop(box)
        crop_flat = flatness(crop)
        if crop_flat >= CANON_FLAT:
            out.append(canonical_variant(crop, f"{CANON}-{name}", crop_flat))
    return tuple(out)
