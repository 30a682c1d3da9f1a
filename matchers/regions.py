"""Where a re-post wraps a known picture: frames, letterbox bars and caption bands found.

Re-posts often wrap a known picture: a solid or noisy frame, letterbox or pillarbox bars, a
screenshot's margins, a site's caption or banner band along one edge. Any of these moves
PDQ by 60-130 bits, far past its threshold. `find_regions` looks for them on a small grey
thumbnail (a fraction of a millisecond; most photos have none and stop there), refines the
edges on the decoded luma, and `matchers.variants.variant_hashes` hashes each region found
from that same decode, so the match can also look the inner picture up (`matchers.decision`,
transforms `trim`, `uncaption-top`, ... and `trim+uncaption-top`).

What is cut away:
- trim: rows or columns along an edge that are all one tone (within BORDER_TOLERANCE of
  the edge's own tone, up to noise), ending at a sharp step to the picture. A dark or
  bright scene that fades out towards an edge has no such step and is left whole.
- uncaption-<side>: a band of CAPTION_MIN..CAPTION_MAX of the height (or width) whose
  background is one tone (text over it allowed), separated from the rest by an edge that
  runs across most of the width: the band ends where a mostly-background line meets a
  line that differs from the background almost everywhere.
- On flat graphics drawn on a background (charts, diagrams, text, screenshots: `_is_flat`)
  a clean margin needs no step, because their own margins are as plain as a frame: it is
  cut up to the first drawn pixel (the drawing's bounding box, which the list's `trim`
  variant of the original holds too). On any drawing on a background (flat or not: a
  dense line drawing), a caption written in that background colour (no edge to find) is
  a first block of text lines followed by a blank gap (top or bottom, within
  CAPTION_MAX): cut through the gap and trimmed, `trim+uncaption-top`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from matchers.confidence import FLAT_AT, FLATNESS_SIDE, flatness
from matchers.perceptual import (
    PDQ_GRID,
    median,
    row_medians,
)

FloatArray = npt.NDArray[np.float32]

# Detection runs on a BOX thumbnail at most this many pixels on its long side.
THUMB_SIDE = 160
# A border line's pixels lie within this many grey levels of the edge's tone ...
BORDER_TOLERANCE = 14.0
# A line whose median tone is further than TIGHT_NOISE times the edge line's noise (a robust
# standard deviation) plus TIGHT_FLOOR from the edge's tone ends the border too, even when
# its pixels are within BORDER_TOLERANCE: a band of another plain tone (an off-white frame,
# grey 241, around a graphic's white margin, 255) is a step, not more border.
TIGHT_NOISE = 4.0
TIGHT_FLOOR = 5.0
# ... all but this share of them (noise, JPEG ringing).
BORDER_OUTLIERS = 0.03
# One of the first three picture lines past a border differs from the border's tone by
# more than BORDER_TOLERANCE on at least this share of its pixels: a step, not a fade (a
# dark scene fading out towards an edge is not a border).
STEP_SHARE = 0.3
# On a flat graphic (FLAT_AT) a full-size line with more than this share of its pixels off
# the margin's tone is the drawing's, not margin: any one pixel (a one-pixel stroke crosses
# a line in one or two pixels, and a share would hang on the line's length, which a frame
# changes: the original and a framed copy would end their trims on different lines); in
# the thumbnail any pixel off is too. A JPEG's ringing on a clean margin stays within
# 2 x BORDER_TOLERANCE. Only for a clean margin (its edge line's noise at most CLEAN_NOISE
# grey levels): a grainy frame keeps BORDER_OUTLIERS.
FLAT_OUTLIERS = 0.0
BACKGROUND_SHARE = 0.4
CLEAN_NOISE = 2.0
# Borders thinner than this share of the side are left (PDQ and pHash absorb them).
MIN_CUT = 0.015
# What remains after cutting is at least this share of each side, and PDQ's grid in pixels:
# a wide chart (2:1) pillarboxed into a phone's tall 0.6 frame keeps 30% of the height, a
# text card of 2:1 or wider 20% or less.
MIN_KEEP = 0.15
# One border or band covers at most this share of its side (the letterbox bar above that
# chart: 36%).
MAX_SIDE_CUT = 0.6
# A caption band covers this share of the side ...
CAPTION_MIN = 0.04
CAPTION_MAX = 0.35
# ... its pixels are mostly (this share) its background tone, text over it allowed ...
CAPTION_BACKGROUND = 0.55
# ... the line before the edge is background almost everywhere, the edge line differs
# from the background on this share of its pixels, and no line after it (within
# CAPTION_MAX) is background again (as the gap after a line of large text is).
CAPTION_EDGE = 0.6
# Caption bands looked for per picture, strongest first: a screenshot's own title bar looks
# like a band as much as a caption pasted along its other side does.
MAX_BANDS = 2
# On a flat graphic, a caption in the graphic's own background colour is a block of text
# lines (no line drawn on more than TEXT_DRAWN of its pixels), then a blank gap, then the
# picture, all within CAPTION_MAX of the side.
TEXT_DRAWN = 0.9
SIDES = ("top", "bottom", "left", "right")

Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)


@dataclass(frozen=True, slots=True)
class Region:
    """A part of the image to hash as a variant: `name` is the match's transform."""

    name: str
    box: Box  # in the coordinates of the luma it was found on


def _thumbnail(luma: Image.Image, box: Box | None = None) -> tuple[FloatArray, float, float]:
    """A box-reduced thumbnail (float) of `luma` (or of its `box`), at most THUMB_SIDE on its
    long side or about, and its scale factors (luma pixels per thumbnail pixel). An integer
    reduction: a quarter of the cost of a BOX resize to an exact size. Image.reduce reads
    the box in place, the same pixels as reducing a crop of it, without the crop's copy."""
    if box is None:
        box = (0, 0, *luma.size)
    w, h = box[2] - box[0], box[3] - box[1]
    factor = -(-max(w, h) // THUMB_SIDE)
    if factor <= 1:
        whole = box == (0, 0, *luma.size)
        return np.asarray(luma if whole else luma.crop(box), dtype=np.float32), 1.0, 1.0
    thumb = luma.reduce(factor, box=box)
    return np.asarray(thumb, dtype=np.float32), w / thumb.width, h / thumb.height


def _is_flat(thumb: FloatArray, background: bool | None = None) -> bool:
    """Whether the thumbnail is of a flat graphic drawn on a background: flat as
    `matchers.confidence.flatness` and FLAT_AT judge it, and with one tone (within 2 grey
    levels) covering BACKGROUND_SHARE of it (a night scene is flat by the first measure,
    all its pixels being dark, but has no such background). `background`:
    _has_background(thumb), when the caller has it."""
    if not (_has_background(thumb) if background is None else background):
        return False
    pixels = _grey_u8(thumb)
    small = Image.fromarray(pixels).resize((FLATNESS_SIDE, FLATNESS_SIDE), Image.Resampling.BOX)
    return flatness(small) >= FLAT_AT


def _has_background(thumb: FloatArray) -> bool:
    """Whether one tone (within 2 grey levels) covers BACKGROUND_SHARE of the thumbnail: a
    drawing on a background, flat or not (a dense line drawing is less flat than FLAT_AT)."""
    pixels = _grey_u8(thumb)
    counts = np.zeros(257, dtype=np.int64)  # counts[i]: pixels below level i
    np.cumsum(np.bincount(pixels.ravel(), minlength=256), out=counts[1:])
    return bool((counts[5:] - counts[:-5]).max() >= BACKGROUND_SHARE * pixels.size)


def _grey_u8(thumb: FloatArray) -> npt.NDArray[np.uint8]:
    """np.clip(thumb, 0, 255).astype(np.uint8), without np.clip's per-call cost."""
    return np.minimum(np.maximum(thumb, 0.0), 255.0).astype(np.uint8)


def _lines(a: FloatArray, side: str) -> FloatArray:
    """`a` turned so that its rows run inwards from `side` (row 0 is the edge line)."""
    if side == "top":
        return a
    if side == "bottom":
        return a[::-1]
    if side == "left":
        return a.T
    return a.T[::-1]


def _is_border(line: FloatArray, tone: float) -> bool:
    return float(np.mean(np.abs(line - tone) > BORDER_TOLERANCE)) <= BORDER_OUTLIERS


def _noise(line: FloatArray, tone: float) -> float:
    """A robust standard deviation of the line's pixels about `tone`."""
    return 1.4826 * float(median(np.abs(line - tone)))


def _tone_step(
    lines: FloatArray, edge: FloatArray, tone: float, averaged: bool = False
) -> npt.NDArray[np.bool_]:
    """Per line: is its median tone a step away from the edge line's `tone` (see TIGHT_NOISE),
    reached abruptly (within two lines: a sky's slow gradient is no step)? `averaged`: the
    noise is that of a line's median, not of its pixels (1.25 sigma / sqrt(pixels)): at
    full size a grainy off-white frame (grey 241, grain 8) next to a white margin (255)
    steps by less than its grain but by far more than its median moves."""
    noise = _noise(edge, tone)
    if averaged:
        noise *= 1.25 / np.sqrt(max(1, lines.shape[1]))
    limit = TIGHT_NOISE * noise + TIGHT_FLOOR
    medians = row_medians(lines)
    before = np.concatenate((medians[:1], medians[:1], medians[:-2]))[: len(medians)]
    steps: npt.NDArray[np.bool_] = (np.abs(medians - tone) > limit) & (
        np.abs(medians - before) > limit)
    return steps


def _border_depth(a: FloatArray, outliers: float = BORDER_OUTLIERS) -> tuple[int, float, bool]:
    """(depth, tone, stepped): lines of one tone from row 0 of `a` (all but `outliers` of
    their pixels), and whether a sharp step to the picture ends them (depth 0 if there are
    none, or too many)."""
    tone = float(median(a[0]))
    if _noise(a[0], tone) > CLEAN_NOISE:
        outliers = max(outliers, BORDER_OUTLIERS)  # a grainy frame, not a clean margin
    limit = int(len(a) * MAX_SIDE_CUT)
    # Every line's share of pixels off the edge's tone, in one pass (lines past `limit`
    # and a few more for the step); a line of another plain tone counts as all off. The
    # tone steps (a median per line: most of the cost) are looked for only up to the
    # first line off and the three after it, as no line further on can end the border.
    off = np.mean(np.abs(a[: limit + 4] - tone) > BORDER_TOLERANCE, axis=1)
    first = np.flatnonzero(off > outliers)
    reach = min(len(off), (int(first[0]) if len(first) else len(off)) + 3)
    off[:reach][_tone_step(a[:reach], a[0], tone)] = 1.0
    picture = np.flatnonzero(off > outliers)
    depth = int(picture[0]) if len(picture) else len(off)
    if depth == 0 or depth > limit:
        return 0, tone, False
    # The thumbnail's boundary line mixes border and picture; the step shows a line further.
    stepped = float(off[depth : depth + 3].max())
    return depth, tone, stepped >= STEP_SHARE


def _border_cuts(
    thumb: FloatArray, sides: Collection[str] = SIDES, flat: bool = False,
    force: Collection[str] = (),
) -> dict[str, int]:
    """Thumbnail lines to cut per side. A border ends at a step; one whose step is soft
    (the picture's edge near the frame's tone) is still cut when another side has a stepped
    border of the same tone: frames and bars come in pairs or fours. On a flat graphic
    (`flat`) no step is needed: its plain margins are cut to the drawing's bounding box, on
    the original as on a copy framed in the margins' own colour, so the two meet; sides in
    `force` are then read at full size even when the thumbnail sees no margin there (a
    margin thinner than a thumbnail line, next to a caption band cut away)."""
    th, tw = thumb.shape
    # A flat graphic's margin ends at its first drawn pixel (a thin line or a word is a
    # few per cent of its line at most).
    outliers = 0.0 if flat else BORDER_OUTLIERS
    found = {side: _border_depth(_lines(thumb, side), outliers) if side in sides
             else (0, -1.0, False) for side in SIDES}
    cuts = {}
    for side, (depth, tone, stepped) in found.items():
        paired = any(
            other_stepped and abs(other_tone - tone) <= BORDER_TOLERANCE
            for other, (_d, other_tone, other_stepped) in found.items()
            if other != side
        )
        least = MIN_CUT * (th if side in ("top", "bottom") else tw)
        cuts[side] = depth if depth >= least and (stepped or paired or flat) else 0
    if flat:
        cuts.update({side: cuts[side] or -1 for side in force})
    if flat and any(cuts.values()):
        # A flat graphic cut at all is cut to its drawing on every side, thin margins
        # included: the original's thin margin and a framed copy's frame-plus-margin then
        # end at the same drawn line (`_trim` reads each side at full size).
        cuts = {side: cut or -1 for side, cut in cuts.items()}
    return cuts


def _lines_near(
    luma: Image.Image, side: str, coarse: int, per_line: float, first: int,
    box: Box | None = None,
) -> tuple[FloatArray, int, int]:
    """The luma's (or its `box`'s) lines from `side` inwards up to one thumbnail line past
    the estimate `coarse`, and the window [lo, hi) of those within one thumbnail line of it
    (lo >= first). The strip is cropped from `luma` itself: no copy of the box."""
    left, top, right, bottom = (0, 0, *luma.size) if box is None else box
    w, h = right - left, bottom - top
    n = h if side in ("top", "bottom") else w
    lo = max(first, int((coarse - 1) * per_line))
    hi = min(n, int((coarse + 1) * per_line) + 1)
    strip = {"top": (0, 0, w, hi), "bottom": (0, h - hi, w, h), "left": (0, 0, hi, h),
             "right": (w - hi, 0, w, h)}[side]
    at = (strip[0] + left, strip[1] + top, strip[2] + left, strip[3] + top)
    return _lines(np.asarray(luma.crop(at), dtype=np.float32), side), lo, hi


def _refine(
    luma: Image.Image, side: str, coarse: int, per_line: float, outliers: float = BORDER_OUTLIERS,
    box: Box | None = None,
) -> int:
    """The border's depth in the luma's lines, near the thumbnail's estimate `coarse`.

    Only the lines around the estimate are read. A line is border while nearly all its
    pixels lie within 2 x BORDER_TOLERANCE of the edge line's tone: at full size a noisy
    frame's grain is not averaged away as in the thumbnail. `box`: the part of `luma` to
    read (default all of it), the depth counted from its side.
    """
    lines, lo, hi = _lines_near(luma, side, coarse, per_line, first=0, box=box)
    edge = lines[min(1, len(lines) - 1)]
    tone = float(median(edge))
    window = lines[lo:hi]
    off_by = 2 * BORDER_TOLERANCE
    if _noise(edge, tone) > CLEAN_NOISE and outliers < BORDER_OUTLIERS:
        # A flat graphic's margin under a grainy frame of the margin's tone (a noisy white
        # frame on a white chart: the two merge): allowing BORDER_OUTLIERS of each line off
        # would take the drawing's sparse first lines too, ending the trim inside it. A
        # drawn pixel lies beyond the grain (GRAIN_DRAWN); one ends the margin.
        off_by = GRAIN_DRAWN
    elif _noise(edge, tone) > CLEAN_NOISE:
        outliers = max(outliers, BORDER_OUTLIERS)  # a grainy frame, not a clean margin
    outside = np.mean(np.abs(window - tone) > off_by, axis=1)
    inside = np.flatnonzero((outside > outliers) | _tone_step(window, edge, tone, averaged=True))
    if not len(inside):
        return hi
    if inside[0] > 0 or lo <= 1:
        return lo + int(inside[0])
    # The window's first line is already the picture's: the thumbnail put the edge a line
    # too deep (a thin or sparse stroke averaged away in its box, or the box grid's phase),
    # so the picture reaches further out. Walk out to the last border line before it.
    head = lines[:lo]
    off = np.mean(np.abs(head - tone) > off_by, axis=1) > outliers
    off |= _tone_step(head, edge, tone, averaged=True)
    border = np.flatnonzero(~off[1:])  # line 0 may carry the resizer's or encoder's edge
    return int(border[-1]) + 2 if len(border) else 1


_PLAIN_WIDTH = 4 * int(BORDER_TOLERANCE) + 1
# A pixel this far from a grainy margin's tone is drawn (`_refine`): a frame's grain (8
# grey levels, JPEG'd) stays within it, a stroke does not.
GRAIN_DRAWN = 4 * BORDER_TOLERANCE


def _plain_sides(luma: Image.Image, pixels: npt.NDArray[np.uint8] | None = None) -> set[str]:
    """The sides whose edge line is one tone (all but BORDER_OUTLIERS of its pixels within
    a 4 x BORDER_TOLERANCE band of grey levels). A border or a caption band starts with
    one, and most photos have none: this test (four edge lines' histograms, no thumbnail)
    is then all they cost. The second line in is read: the first may carry a resizer's or
    a JPEG encoder's edge artefacts. `pixels`: `luma` as an array, when the caller has one
    (_plain_lines reads the lines from it)."""
    if pixels is not None:
        return _plain_lines(pixels)
    w, h = luma.size
    strips = {"top": (0, 1, w, 2), "bottom": (0, h - 2, w, h - 1), "left": (1, 0, 2, h),
              "right": (w - 2, 0, w - 1, h)}
    hists = np.array([luma.crop(strip).histogram() for strip in strips.values()])
    total = np.zeros((len(strips), 257), dtype=np.int64)  # total[:, i]: below level i
    np.cumsum(hists, axis=1, out=total[:, 1:])
    densest = (total[:, _PLAIN_WIDTH:] - total[:, :-_PLAIN_WIDTH]).max(axis=1)
    plain = densest >= (1 - BORDER_OUTLIERS) * total[:, -1]
    return {side for side, is_plain in zip(strips, plain.tolist(), strict=True) if is_plain}


def _plain_lines(pixels: npt.NDArray[np.uint8]) -> set[str]:
    """_plain_sides of a luma held as an array (H x W), the same sides without its four
    crops and histograms (a fifth of their cost on a 256 x 192 draft): a line is plain
    when some window of _PLAIN_WIDTH grey levels holds `need` of its pixels, that is when
    `need` consecutive values of the sorted line span less than _PLAIN_WIDTH levels."""
    out: set[str] = set()
    # int16: numpy sorts it with SIMD, uint8 several times slower
    rows = pixels[[1, -2]].astype(np.int16)
    columns = pixels[:, [1, -2]].T.astype(np.int16)
    for sides, lines in ((("top", "bottom"), rows), (("left", "right"), columns)):
        lines.sort(axis=1)
        n = lines.shape[1]
        need = math.ceil((1 - BORDER_OUTLIERS) * n)
        spans = (lines[:, need - 1 :] - lines[:, : n - need + 1]).min(axis=1)
        out.update(side for side, span in zip(sides, spans.tolist(), strict=True)
                   if span < _PLAIN_WIDTH)
    return out


def _caption_depth(
    a: FloatArray, plain_before: Callable[[int], bool] | None = None
) -> tuple[int, float]:
    """(depth, edge strength) of a caption band along row 0 of `a`; (0, 0.0) if none.
    `plain_before(depth)`: whether the full-size lines just before the edge at thumbnail
    line `depth` are background, asked when the thumbnail's are not (a thin band whose
    text reaches near its edge: a thumbnail line mixes the text and the band's last
    plain lines)."""
    n = len(a)
    first = a[0]
    tone = float(median(first))
    if not _is_border(first, tone):
        return 0, 0.0
    near = np.abs(a - tone) <= BORDER_TOLERANCE  # background pixels
    background = near.mean(axis=1)
    differing = 1 - background
    for depth in range(max(2, int(np.ceil(CAPTION_MIN * n))), int(CAPTION_MAX * n) + 1):
        if depth >= n:
            break
        if differing[depth] < CAPTION_EDGE:
            continue
        # The band's last line is background; the thumbnail's line at the edge may mix
        # band and picture, so the line before it counts too.
        plain = 1 - 3 * BORDER_OUTLIERS
        if background[depth - 1] < plain and background[depth - 2] < plain and (
                plain_before is None or background[depth - 1] < CAPTION_BACKGROUND
                or not plain_before(depth)):
            continue
        if float(background[:depth].mean()) < CAPTION_BACKGROUND:
            continue
        # A line of large text also differs across most of the band; the picture never
        # returns to the band's background the way the gap after a text line does.
        after = background[depth + 1 : depth + 1 + int(CAPTION_MAX * n)]
        if len(after) and float(after.max()) >= plain:
            continue
        return depth, float(differing[depth])
    return 0, 0.0


def find_regions(
    luma: Image.Image, pixels: npt.NDArray[np.uint8] | None = None
) -> list[Region]:
    """The inner pictures worth hashing as variants: trimmed, and without a caption band.

    Empty for most images (no plain edge line): the cost is then four edge lines. With
    one, a thumbnail is scanned for borders (trim) and then for a caption band on what
    remains; a band's removal may uncover a frame, which is trimmed too (a caption added
    over a framed picture). The name lists the steps taken (`trim+uncaption-top`). On a
    drawing on a background a caption in that background colour is looked for too (top,
    bottom). `pixels`: `luma` as an array, when the caller has one (its edge lines are
    read from it).
    """
    w, h = luma.size
    if min(w, h) < 2 * PDQ_GRID:
        return []
    sides = _plain_sides(luma, pixels)
    if not sides:
        return []
    thumb, fx, fy = _thumbnail(luma)
    background = _has_background(thumb)  # asked up to three times below
    flat = _is_flat(thumb, background)
    regions: list[Region] = []
    full: Box = (0, 0, w, h)
    box = _trim(luma, full, thumb, sides, flat)
    # Bars or a frame along some sides hide a flat graphic's own margins along the others
    # (a pillarboxed screenshot's bottom edge line is bar, margin, bar: not plain), and a
    # frame of another tone than the margins stops at them: the picture they held is
    # trimmed once more, to the drawing, as the original's list `trim` was.
    inner = _trim(luma, box, flat=True) if flat and box != full else box
    # On a flat graphic the trim to the drawing meets a list's `trim` variant; the trim at
    # a frame's own edge (the graphic's margins kept) meets a list without one. Both.
    boxes = dict.fromkeys((box, inner, _trim(luma, full, thumb, sides) if flat else box))
    regions += _trim_regions(boxes, w, h)
    # A caption band is looked for inside the trimmed picture and, when the trim cut into
    # the band (its padding before the text looks like a border), on the whole image. Its
    # side starts plain either way: with the band's first line or with the border's.
    for start in dict.fromkeys((*boxes, full)):
        for side, band_box in _uncaption(luma, thumb, fx, fy, start, sides):
            # The band may be what kept the whole image from looking flat (a dark bar over a
            # white chart): the picture left is judged on its own.
            band_flat = flat or _is_flat(_sub(thumb, fx, fy, band_box))
            trims = [_trim_after_band(luma, band_box, side, flat_trim)
                     for flat_trim in dict.fromkeys((band_flat, False))]
            beside = (_trim_beside_band(luma, band_box, side)
                      if not band_flat and background else None)
            for again in trims if beside is None else [*trims, beside]:
                trimmed = start != full or again != band_box
                name = f"trim+uncaption-{side}" if trimmed else f"uncaption-{side}"
                if all(again != region.box for region in regions):
                    regions.append(Region(name, again))
    # A caption in the picture's own background colour: on any drawing on a background (a
    # dense line drawing is not flat but has one).
    for side in ("top", "bottom") if flat or background else ():
        cuts = _text_caption(luma, thumb, fx, fy, box, side, flat) if side in sides else ()
        for cut in cuts:
            if all(cut != region.box for region in regions):
                regions.append(Region(f"trim+uncaption-{side}", cut))
    return regions


def _trim_regions(boxes: Collection[Box], w: int, h: int) -> list[Region]:
    """The `trim` regions of the whole image's trims `boxes`. Frames and bars come in equal
    pairs: where one side was cut deeper than its opposite (the picture's own plain edge,
    in the frame's tone, taken with the frame), the shallower cut on both sides too."""
    full = (0, 0, w, h)
    out = [Region("trim", box) for box in boxes if box != full]
    for box in boxes:
        even = _even_cuts(box, w, h)
        if even is not None and all(even != region.box for region in out):
            out.append(Region("trim", even))
    return out


# Opposite cuts that differ by more than this share of their side are evened out
# (`_even_cuts`).
EVEN_SLACK = 0.008


def _even_cuts(box: Box, w: int, h: int) -> Box | None:
    """`box` (a trim of the whole w x h image) with each pair of opposite cuts, when both
    cut something and they differ by more than EVEN_SLACK of the side, set to the shallower
    of the two; None when no pair differs so."""
    left, top, right, bottom = box
    cuts = [left, top, w - right, h - bottom]
    changed = False
    for first, second, side in ((0, 2, w), (1, 3, h)):
        a, b = cuts[first], cuts[second]
        if a > 0 and b > 0 and abs(a - b) > EVEN_SLACK * side:
            cuts[first] = cuts[second] = min(a, b)
            changed = True
    if not changed:
        return None
    even = (cuts[0], cuts[1], w - cuts[2], h - cuts[3])
    return even if _fits(even, w, h) else None


def _text_caption_depth(
    a: FloatArray, drawn_at_full: Callable[[int, int], float] | None = None
) -> int:
    """On a flat graphic, the thumbnail lines from row 0 of `a` down to the middle of the
    gap after a first block of text-like lines (drawn, but mostly background), when the
    gap ends within CAPTION_MAX of the side; 0 if there is none. `drawn_at_full(start,
    end)`: the most drawn share of the full-size lines under thumbnail lines [start, end),
    asked when the thumbnail's exceed TEXT_DRAWN (a thumbnail pixel averages letters and
    the space between them: large text on a picture trimmed to the text's own width is
    drawn on 90% of its thumbnail line, 40-65% of its full-size lines)."""
    n = len(a)
    tone = float(median(a))  # a flat graphic's background
    off = np.mean(np.abs(a - tone) > BORDER_TOLERANCE, axis=1)
    drawn = np.flatnonzero(off > 0)
    if not len(drawn) or drawn[0] > CAPTION_MAX * n:
        return 0
    start = int(drawn[0])
    blank = np.flatnonzero(off[start:] == 0)
    if not len(blank):
        return 0
    end = start + int(blank[0])  # the text block's end, the gap's first line
    after = np.flatnonzero(off[end:] > 0)
    if not len(after):
        return 0
    picture = end + int(after[0])
    if picture > CAPTION_MAX * n:
        return 0
    if float(off[start:end].max()) > TEXT_DRAWN and (
            drawn_at_full is None or drawn_at_full(start, end) > TEXT_DRAWN):
        return 0
    return (end + picture) // 2


def _text_caption(
    luma: Image.Image, thumb: FloatArray, fx: float, fy: float, box: Box, side: str,
    flat: bool = True,
) -> tuple[Box, ...]:
    """`box` without a caption written on the graphic's own background along `side` (a
    band with no edge to find: white text space over a white chart), trimmed; () if
    there is none. The cut runs through the gap between the text and the picture, and the
    trim that follows takes the rest of the gap: to the drawing, and on a drawing that is
    not `flat` (a dense line drawing) also as find_regions trims such a drawing itself
    (the photo rules: the original's list `trim`), as the two trims differ by up to 3% of
    a side there."""
    inner = _sub(thumb, fx, fy, box)
    if min(inner.shape) < 16:
        return ()
    left, top, right, bottom = box
    scale = (bottom - top) / inner.shape[0]

    def drawn_at_full(start: int, end: int) -> float:
        lo, hi = int(start * scale), int(np.ceil(end * scale))
        strip = (left, top + lo, right, top + hi) if side == "top" else (
            left, bottom - hi, right, bottom - lo)
        lines = np.asarray(luma.crop(strip), dtype=np.float32)
        tone = float(median(lines))
        return float(np.mean(np.abs(lines - tone) > BORDER_TOLERANCE, axis=1).max())

    depth = _text_caption_depth(_lines(inner, side), drawn_at_full)
    if not depth:
        return ()
    cut = round(depth * (bottom - top) / inner.shape[0])
    without = (left, top + cut, right, bottom) if side == "top" else (left, top, right,
                                                                      bottom - cut)
    if not _fits(without, *luma.size):
        return ()
    # The cut leaves part of the gap, which the first trim takes; a margin of another tone
    # (a screenshot's page colour under a white caption) is taken by the second.
    once = _trim(luma, without, flat=True)
    out = [_trim(luma, once, flat=True) if once != without else once]
    if not flat:
        # The photo rules' cuts along the other sides hang on MIN_CUT and a sparse
        # drawing's share of drawn pixels (2 or 3 thumbnail lines): the whole image with
        # the caption cut away is trimmed, as the original was, not the trimmed `box`.
        w, h = luma.size
        whole = (0, without[1], w, h) if side == "top" else (0, 0, w, without[3])
        out.append(_trim(luma, whole))
    return tuple(dict.fromkeys(out))


# A JPEG's ringing along a band's hard edge reaches this many pixels into the picture.
BAND_RINGING = 4


def _trim_after_band(luma: Image.Image, box: Box, side: str, flat: bool = True) -> Box:
    """`box` (a picture whose caption band along `side` was cut away) trimmed (as a flat
    graphic when `flat`). Its first lines along `side` carry the band edge's JPEG ringing,
    which would hide the picture's own plain margin there: the trim starts BAND_RINGING
    pixels in, and that side keeps the band's edge when it has no margin to cut. A flat
    graphic's margin there is read at full size even when it is thinner than a thumbnail
    line (the original's trim cut it: a flat graphic is cut to its drawing on every side)."""
    left, top, right, bottom = box
    index = SIDES_BOX_INDEX[side]
    inset = {"top": (left, top + BAND_RINGING, right, bottom),
             "bottom": (left, top, right, bottom - BAND_RINGING),
             "left": (left + BAND_RINGING, top, right, bottom),
             "right": (left, top, right - BAND_RINGING, bottom)}[side]
    trimmed = list(_trim(luma, inset, flat=flat, force=(side,)))
    if trimmed[index] == inset[index]:
        trimmed[index] = box[index]
    out = (trimmed[0], trimmed[1], trimmed[2], trimmed[3])
    return out if _fits(out, *luma.size) else box


SIDES_BOX_INDEX = {"left": 0, "top": 1, "right": 2, "bottom": 3}


def _trim_beside_band(luma: Image.Image, box: Box, side: str) -> Box | None:
    """`box` (a picture whose caption band along `side` was cut away) trimmed by the photo
    rules without `_trim_after_band`'s inset, when that cuts at least BAND_RINGING into the
    band's side (its margin there is clean up to the band's edge: no ringing seen); else
    None. A drawing that is not flat (a dense line drawing) was trimmed so as a list's
    original: a 6 px margin along the band is cut as the original's was, where the inset
    leaves 2 px of it, under MIN_CUT."""
    index = SIDES_BOX_INDEX[side]
    plain = _trim(luma, box)
    return plain if abs(plain[index] - box[index]) >= BAND_RINGING else None


def _sub(thumb: FloatArray, fx: float, fy: float, box: Box) -> FloatArray:
    """The thumbnail's pixels inside `box` (luma coordinates)."""
    top, left = round(box[1] / fy), round(box[0] / fx)
    return thumb[top : max(top + 1, round(box[3] / fy)), left : max(left + 1, round(box[2] / fx))]


def _trim(
    luma: Image.Image,
    box: Box,
    thumb: FloatArray | None = None,
    sides: Collection[str] = SIDES,
    flat: bool = False,
    force: Collection[str] = (),
) -> Box:
    """`box` with the borders inside it cut away (unchanged when it has none); `thumb` is
    the whole luma's thumbnail when the caller has it (box is then the whole image), and
    only `sides` can have a border. `force`: see _border_cuts."""
    if thumb is None:
        thumb, fx, fy = _thumbnail(luma, box)
    else:
        fx, fy = luma.width / thumb.shape[1], luma.height / thumb.shape[0]
    if min(thumb.shape) < 16:
        return box
    cuts = _border_cuts(thumb, sides, flat, force)
    if not any(cuts.values()):
        return box
    per_line = {"top": fy, "bottom": fy, "left": fx, "right": fx}
    # On a flat graphic a line with a drawn pixel (FLAT_OUTLIERS) is the drawing's; a side
    # marked -1 (no margin the thumbnail could see) is read from its edge line inwards.
    outliers = FLAT_OUTLIERS if flat else BORDER_OUTLIERS
    depth = {side: _refine(luma, side, max(cut, 1), per_line[side], outliers, box)
             if cut else 0 for side, cut in cuts.items()}
    left, top, right, bottom = box
    trimmed = (left + depth["left"], top + depth["top"], right - depth["right"],
               bottom - depth["bottom"])
    return trimmed if _fits(trimmed, *luma.size) else box


def _caption_edge(
    luma: Image.Image, side: str, coarse: int, per_line: float, box: Box | None = None
) -> int:
    """The caption band's depth in the luma's (or its `box`'s) lines: the first line near
    the thumbnail's estimate that differs from the band's background across most of its
    length."""
    lines, lo, hi = _lines_near(luma, side, coarse, per_line, first=1, box=box)
    tone = float(median(lines[min(1, len(lines) - 1)]))
    differing = np.mean(np.abs(lines[lo:hi] - tone) > BORDER_TOLERANCE, axis=1)
    edge = np.flatnonzero(differing >= CAPTION_EDGE)
    return lo + int(edge[0]) if len(edge) else round(coarse * per_line)


def _plain_before(
    luma: Image.Image, side: str, coarse: int, per_line: float, box: Box | None = None
) -> bool:
    """Whether a caption band's edge near thumbnail line `coarse` (`_caption_edge`) has a
    line of the band's background among the BAND_RINGING full-size lines before it (in
    `luma`'s `box`, default all of it)."""
    lines, lo, hi = _lines_near(luma, side, coarse, per_line, first=1, box=box)
    tone = float(median(lines[min(1, len(lines) - 1)]))
    differing = np.mean(np.abs(lines - tone) > BORDER_TOLERANCE, axis=1)
    edge = np.flatnonzero(differing[lo:hi] >= CAPTION_EDGE)
    if not len(edge):
        return False
    at = lo + int(edge[0])
    before = differing[max(1, at - BAND_RINGING) : at]
    return bool(len(before)) and float(before.min()) <= 3 * BORDER_OUTLIERS


def _uncaption(
    luma: Image.Image, thumb: FloatArray, fx: float, fy: float, box: Box,
    sides: Collection[str] = SIDES,
) -> list[tuple[str, Box]]:
    """The sides of the MAX_BANDS strongest caption bands inside `box`, strongest first,
    each with the box without it."""
    inner = _sub(thumb, fx, fy, box)
    if min(inner.shape) < 16:
        return []
    left, top, right, bottom = box
    def per_line(side: str) -> float:
        return float(((bottom - top) if side in ("top", "bottom") else (right - left)) / (
            inner.shape[0] if side in ("top", "bottom") else inner.shape[1]))

    def plain_before(side: str) -> Callable[[int], bool]:
        return lambda depth: _plain_before(luma, side, depth, per_line(side), box)

    bands = {side: _caption_depth(_lines(inner, side), plain_before(side))
             for side in SIDES if side in sides}
    ranked = sorted((kv for kv in bands.items() if kv[1][0]), key=lambda kv: -kv[1][1])
    out = []
    for side, (depth, _strength) in ranked[:MAX_BANDS]:
        cut = _caption_edge(luma, side, depth, per_line(side), box)
        without = {
            "top": (left, top + cut, right, bottom),
            "bottom": (left, top, right, bottom - cut),
            "left": (left + cut, top, right, bottom),
            "right": (left, top, right - cut, bottom),
        }[side]
        if _fits(without, *luma.size):
            out.append((side, without))
    return out


def _fits(box: Box, w: int, h: int) -> bool:
    left, top, right, bottom = box
    bw, bh = right - left, bottom - top
    return bw >= MIN_KEEP * w and bh >= MIN_KEEP * h and min(bw, bh) >= PDQ_GRID
