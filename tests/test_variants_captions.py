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
from matchers.confidence import UNCAPTION_CANON_REACH, UNCAPTION_PDQ_REACH
from matchers.decision import Matcher
from matchers.digests import Digests, VariantHashes
from matchers.hashing import hash_image
from matchers.reftable import KnownRef
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


# --- the corroborated uncaption rule (branch capcal13) ---------------------------------------


def _crop_list(original: Image.Image, label: str) -> list[KnownRef]:
    """The item as `trawl hash --variants crops` lists it: md5, sha256 and PDQ of the image,
    PDQ and pHash of each crop and of its trim, canonical PDQ of the graphic's forms."""
    d = hash_image(encode(original, "png"), fast=False, variants=False, crops=True)
    rows = [("md5", d.md5, None), ("sha256", d.sha256, None), ("pdq", d.pdq, None)]
    for v in d.variants:
        rows += [(t, value, v.name) for t, value in v.perceptual().items()
                 if t in ("pdq", "phash")]
    return [KnownRef(n, "l", t, str(value), label, variant=variant)
            for n, (t, value, variant) in enumerate(rows, 1)]


@pytest.mark.parametrize(("kind", "seed", "k", "share", "text", "dark"), [
    # seed-1 diagram-1, 15% white caption on top at 75%: cut within 1 px, PDQ 38 from the
    # list trim, pHash 2, canonical 20; the region (299 x 218) is icon-class by area
    ("diagram", 1201, 1, 0.15, "example.test violet lantern bridge", False),
    # seed-0 text_card-3, 20% dark band on top at 75%: PDQ 40, pHash 0, canonical 20
    ("text_card", 203, 3, 0.20, "example.test ribbon saddle growth", True),
])
def test_an_uncaptioned_graphic_whose_pdq_drifted_is_found_by_three_agreeing_hashes(
    kind: str, seed: int, k: int, share: float, text: str, dark: bool
) -> None:
    """The two caption misses bench_variants had left (bench/RESULTS.md, gcap11): cut right,
    but their PDQ moved 38-40 bits under the resize, past the variant threshold (28). The
    list trim's pHash (<= 2), PDQ (<= 40) and canonical form (<= 20) agree at once: the high
    tier (matchers.decision, Matcher._uncaption_corroborated)."""
    original = sample(kind, seed, k).convert("RGB")
    captioned = caption(original, share, "top", text=text, **(DARK if dark else {}))
    matches = Matcher.build(_crop_list(original, "item")).match(
        hash_image(_served(captioned, 0.75)))
    high = [m for m in matches if m.tier == "high"]
    assert high, matches
    assert {m.transform for m in high} >= {"trim+uncaption-top", "trim+uncaption-top+canon"}
    pdq = next(m for m in high if m.transform == "trim+uncaption-top" and m.hash_type == "pdq")
    assert (pdq.known_variant, pdq.threshold) == ("trim", UNCAPTION_PDQ_REACH)
    assert 28 < pdq.distance <= UNCAPTION_PDQ_REACH



def _flip(value: str, distance: int) -> str:
    """`value` (hex) with its lowest `distance` bits flipped."""
    return f"{int(value, 16) ^ ((1 << distance) - 1):0{len(value)}x}"


@pytest.mark.parametrize(("pdq", "phash", "canon", "size", "tier"), [
    (38, 2, 20, (400, 300), "high"),  # the rule's three hashes agree
    (34, 2, 24, (400, 300), "low"),  # the nearest unrelated pie charts (calib_uncaption)
    (42, 0, 20, (400, 300), "low"),  # PDQ past UNCAPTION_PDQ_REACH
    (30, 4, 20, (400, 300), "low"),  # pHash past UNCAPTION_PHASH_AGREES
    (38, 2, 20, (299, 218), "high"),  # icon-class by area, but wider than any icon
    (30, 0, 20, (240, 200), "low"),  # icon-sized: unrelated icons meet at PDQ 10, pHash 0
])
def test_an_uncaption_match_past_the_variant_threshold_needs_all_three_hashes(
    pdq: int, phash: int, canon: int, size: tuple[int, int], tier: str
) -> None:
    """An uncaptioned region's pHash meets the item's stored trim; the high tier past PDQ 28
    needs the same trim's PDQ within UNCAPTION_PDQ_REACH and its canonical form within
    UNCAPTION_CANON_REACH too, on a region larger than an icon. bench/calib_uncaption.py:
    unrelated captioned pie charts come within PDQ 34, pHash 2 and canonical 24 of another's
    trim, and generated icons meet each other under every hash."""
    q_pdq, q_phash, q_canon = "5a" * 32, "8f3a5c7e1b2d4f60", "c3" * 32
    refs = [KnownRef(1, "l", "pdq", "11" * 32, "item"),
            KnownRef(2, "l", "pdq", _flip(q_pdq, pdq), "item", variant="trim"),
            KnownRef(3, "l", "phash", _flip(q_phash, phash), "item", variant="trim"),
            KnownRef(4, "l", "pdq", _flip(q_canon, canon), "item", variant="canon-trim")]
    w, h = size
    region = VariantHashes("trim+uncaption-top", q_pdq, 100, q_phash, "13579bdf02468ace",
                           0.9, w, h)
    form = VariantHashes("trim+uncaption-top+canon", q_canon, 100, "0" * 16, "0" * 16, 0.9, w, h)
    d = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=w,
                height=round(h * 1.2), phash="ffff0000ffff0000", dhash="0f0f0f0f0f0f0f0f",
                pdq="e7" * 32, pdq_quality=100, flatness=0.9, variants=(region, form))
    matches = Matcher.build(refs).match(d, pdq_dihedral=())
    assert matches, "the pHash hit on the trim is a (low-tier) match in any case"
    assert {m.tier for m in matches} == {tier}, matches
    if tier == "high":
        assert {(m.hash_type, m.distance, m.threshold) for m in matches} == {
            ("phash", phash, 6), ("pdq", pdq, UNCAPTION_PDQ_REACH),
            ("pdq", canon, UNCAPTION_CANON_REACH)}
