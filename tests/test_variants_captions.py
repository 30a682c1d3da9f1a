"""Golden cases: caption bands on graphics that bench_variants missed (branch gcap11).

Each case is one of bench_variants' originals (its seeds) captioned as the bench does and
served as a re-post (JPEG q80, some resized to 75%); the region find_regions returns must
meet the original's list `trim` (what a crop-augmented list stores), and what must not be
cut is checked alongside.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from crawler.sitegen.images import caption, encode, sample
from matchers.hashing import hash_image
from matchers.variants import find_regions

Box = tuple[int, int, int, int]
TEXT = "example.test some words here"
DARK = {"fill": (20, 20, 20), "ink": (250, 250, 250)}


def _served(img: Image.Image, scale: float) -> bytes:
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)),
                         Image.Resampling.LANCZOS)
    return encode(img.convert("RGB"), "jpeg", quality=80)


def _regions(data: bytes) -> list[tuple[str, Box]]:
    with Image.open(io.BytesIO(data)) as served:
        return [(r.name, r.box) for r in find_regions(served.convert("L"))]


def _list_trim(img: Image.Image) -> Box:
    return next(r.box for r in find_regions(img.convert("L")) if r.name == "trim")


def _want(original: Image.Image, captioned: Image.Image, side: str, scale: float) -> Box:
    """The original's list trim where it lies in the served copy."""
    dy = captioned.height - original.height if side == "top" else 0
    left, top, right, bottom = _list_trim(original)
    return (round(left * scale), round((top + dy) * scale), round(right * scale),
            round((bottom + dy) * scale))


def _near(box: Box, want: Box, w: int, h: int, share: float) -> bool:
    slack = (share * w, share * h, share * w, share * h)
    return all(abs(a - b) <= s for a, b, s in zip(box, want, slack, strict=True))


def test_a_thin_dark_band_whose_text_reaches_its_edge_is_a_caption() -> None:
    """seed-0 diagram-1 under an 8% dark band at 75%: the band is 5 thumbnail lines and its
    text fills the lines next to the edge, so the thumbnail never shows the band's last
    plain line; the full-size lines do. The band is cut at its edge, not into the picture."""
    original = sample("diagram", 201, 1).convert("RGB")
    captioned = caption(original, 0.08, "top", text=TEXT, **DARK)
    data = _served(captioned, 0.75)
    band = round((captioned.height - original.height) * 0.75)
    uncaptioned = [box for name, box in _regions(data) if name == "uncaption-top"]
    assert uncaptioned, _regions(data)
    assert all(band - 3 <= box[1] <= band + 1 for box in uncaptioned), (band, uncaptioned)


def test_large_caption_text_on_a_white_graphic_is_not_taken_for_a_drawn_line() -> None:
    """seed-0 diagram-11 with a 15% white caption below: trimmed to the text's own width,
    the caption's large letters cover 90% of a thumbnail line (40-65% of a full-size one).
    The caption is cut at its gap and the picture trimmed to the original's list trim."""
    original = sample("diagram", 211, 11).convert("RGB")
    captioned = caption(original, 0.15, "bottom", text="example.test violet total island")
    want = _want(original, captioned, "bottom", 1.0)
    regions = _regions(_served(captioned, 1.0))
    assert any(name == "trim+uncaption-bottom" and _near(box, want, *captioned.size, 0.005)
               for name, box in regions), (want, regions)


def test_an_uncaptioned_line_drawing_has_no_caption_cut() -> None:
    """What is not cut: the line drawing itself (served as is) has no caption to remove,
    and its trim stays the list trim."""
    original = sample("line_art", 214, 14).convert("RGB")
    regions = _regions(_served(original, 1.0))
    assert not any(name.startswith("trim+uncaption") for name, _box in regions), regions
    assert any(name == "trim" and _near(box, _list_trim(original), *original.size, 0.01)
               for name, box in regions), regions


@pytest.mark.parametrize(("seed", "k", "share", "side", "scale"), [
    (214, 14, 0.25, "bottom", 1.0),  # seed-0 line_art-14: trim cut 13 px off on the right
    (1209, 9, 0.15, "top", 0.75),  # seed-1 line_art-9: its right margin cut, not listed
])
def test_a_white_caption_on_a_line_drawing_is_trimmed_as_its_original(
    seed: int, k: int, share: float, side: str, scale: float
) -> None:
    """A line drawing is not flat: its list trim follows the photo rules (a stepped margin
    of at least MIN_CUT, 3% of a line allowed off), where the cut after a white caption
    trimmed to the first drawn pixel, and inside a trim of the whole copy whose right
    margin a sparse drawing puts on either side of MIN_CUT. The whole copy without the
    caption is trimmed by the photo rules too, and meets the list trim within 0.5%."""
    original = sample("line_art", seed, k).convert("RGB")
    captioned = caption(original, share, side, text=TEXT)
    want = _want(original, captioned, side, scale)
    regions = _regions(_served(captioned, scale))
    w, h = round(captioned.width * scale), round(captioned.height * scale)
    assert any(name == f"trim+uncaption-{side}" and _near(box, want, w, h, 0.005)
               for name, box in regions), (want, regions)


@pytest.mark.parametrize(("share", "text"), [(0.12, "velvet marble river"),
                                             (0.15, "harbour growth pattern")])
def test_a_dark_band_under_a_line_drawing_at_75_is_trimmed_and_canonical(
    share: float, text: str
) -> None:
    """seed-0 line_art-14 over a dark band at 75%: no JPEG ringing shows above the band, so
    the drawing's 6 px bottom margin is cut as the original's trim cut it (the ringing
    inset left 2 px, under MIN_CUT); the picture scores flatness 0.58 (the listed original
    0.63), and gets canonical hashes at CANON_REGION_FLAT."""
    original = sample("line_art", 214, 14).convert("RGB")
    captioned = caption(original, share, "bottom", text=f"example.test {text}", **DARK)
    want = _want(original, captioned, "bottom", 0.75)
    data = _served(captioned, 0.75)
    regions = _regions(data)
    w, h = round(captioned.width * 0.75), round(captioned.height * 0.75)
    cut = [box for name, box in regions if name == "trim+uncaption-bottom"]
    assert any(abs(box[3] - want[3]) <= 2 for box in cut), (want, regions)
    names = [v.name for v in hash_image(data).variants]
    assert "trim+uncaption-bottom+canon" in names, names
    assert any(_near(box, want, w, h, 0.01) for box in cut), (want, cut)
