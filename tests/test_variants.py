"""Query-side variants (frames, letterbox, caption bands) and crop-augmented lists."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from crawler.sitegen.images import (
    caption,
    crop_sides,
    encode,
    frame,
    letterbox,
    photo,
    sample,
    text_card,
)
from matchers.decision import Matcher
from matchers.digests import Digests, VariantHashes
from matchers.hashing import hash_image
from matchers.reftable import KnownRef
from matchers.variants import LIST_CROPS, find_regions

PHOTO = (1024, 768)


def near(box: tuple[int, int, int, int], want: tuple[int, int, int, int], slack: int = 3) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(box, want, strict=True))


def dist(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return photo(1).convert("RGB")


# --- golden cases: what is cut, and what is not --------------------------------------------


def test_a_plain_photo_has_no_variant(picture: Image.Image) -> None:
    assert find_regions(picture.convert("L")) == []


@pytest.mark.parametrize(
    ("edit", "box"),
    [
        (lambda p: frame(p, 0.08), (82, 61, 82 + 1024, 61 + 768)),
        (lambda p: frame(p, 0.15, (40, 90, 160), noise=8, seed=1), (154, 115, 1178, 883)),
        (lambda p: frame(p, 0.05, (0, 0, 0)), (51, 38, 51 + 1024, 38 + 768)),
        (letterbox, (0, 0, 1024, 768)),  # offsets added below
        (lambda p: letterbox(p, 0.6), (0, 0, 1024, 768)),
    ],
    ids=["white-frame", "noisy-frame", "black-frame", "letterbox", "pillarbox"],
)
def test_borders_are_trimmed_to_the_picture(picture: Image.Image, edit: object, box: tuple[
        int, int, int, int]) -> None:
    edited = edit(picture)  # type: ignore[operator]
    regions = find_regions(edited.convert("L"))
    assert [r.name for r in regions][:1] == ["trim"]
    dx, dy = (edited.width - PHOTO[0]) // 2, (edited.height - PHOTO[1]) // 2
    if box == (0, 0, 1024, 768):
        box = (dx, dy, dx + 1024, dy + 768)
    assert near(regions[0].box, box), (regions[0].box, box)


@pytest.mark.parametrize("side", ["top", "bottom", "left"])
def test_a_caption_band_is_removed(picture: Image.Image, side: str) -> None:
    share = 0.15 if side != "left" else 0.1
    edited = caption(picture, share, side, text="example.test caption")
    regions = find_regions(edited.convert("L"))
    band = round((PHOTO[1] if side != "left" else PHOTO[0]) * share)
    want = {"top": (0, band, 1024, band + 768), "bottom": (0, 0, 1024, 768),
            "left": (band, 0, band + 1024, 768)}[side]
    # The text line may end a trim of the band's margin too: an extra query, no harm.
    found = {r.name: r.box for r in regions}
    uncaptioned = {f"uncaption-{side}", f"trim+uncaption-{side}"}
    assert set(found) <= {"trim", *uncaptioned}
    assert any(near(box, want) for name, box in found.items() if name in uncaptioned), found


def test_a_dark_band_with_bright_text_is_a_caption() -> None:
    edited = caption(photo(0).convert("RGB"), 0.25, "bottom", fill=(20, 20, 20), ink=(250, 250, 0))
    assert any(r.name == "uncaption-bottom" and near(r.box, (0, 0, 1024, 768))
               for r in find_regions(edited.convert("L")))


def test_a_caption_over_a_framed_picture_is_removed_with_the_frame(picture: Image.Image) -> None:
    edited = caption(frame(picture, 0.05, (0, 0, 0)), 0.12)
    band = round((768 + 2 * 38) * 0.12)
    regions = {r.name: r.box for r in find_regions(edited.convert("L"))}
    assert near(regions["trim+uncaption-top"], (51, band + 38, 51 + 1024, band + 38 + 768))


def test_a_dark_scene_is_not_a_border() -> None:
    """A night picture and a vignetted one: their dark edges fade, with no step to cut at."""
    for seed in range(3):
        pixels = np.asarray(photo(seed)).astype(np.float32)
        night = Image.fromarray((pixels * 0.12).astype(np.uint8))
        height, width = pixels.shape[:2]
        yy, xx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
        falloff = np.clip(1.3 - np.hypot(yy, xx), 0, 1)[:, :, None]
        vignetted = Image.fromarray((pixels * falloff).astype(np.uint8))
        assert find_regions(night.convert("L")) == []
        assert find_regions(vignetted.convert("L")) == []


def test_thin_borders_and_small_images_are_left_alone(picture: Image.Image) -> None:
    assert find_regions(frame(picture, 0.005).convert("L")) == []  # PDQ absorbs 0.5%
    small = frame(picture.resize((100, 75)), 0.1)
    assert find_regions(small.convert("L")) == []  # under 128 px: too little to hash twice


def test_plain_edge_lines_read_from_an_array_agree_with_the_histograms() -> None:
    """find_regions(luma, pixels) tells plain edge lines from the array (sorted lines) as
    find_regions(luma) does from four histograms: on lines drawn to sit at the limits (the
    band of grey levels and the share of outliers), every side the same."""
    from matchers.regions import _plain_sides

    rng = np.random.default_rng(15)
    plain = 0
    for _ in range(400):
        height, width = (int(v) for v in rng.integers(128, 300, 2))
        a = rng.integers(0, 256, (height, width), dtype=np.uint8)
        for line in (a[1], a[-2], a[:, 1], a[:, -2]):
            tone, spread = int(rng.integers(0, 256)), int(rng.integers(50, 64))
            values = np.clip(tone + rng.integers(0, spread, line.shape), 0, 255)
            off = rng.random(line.shape) < rng.choice([0.0, 0.02, 0.03, 0.04])
            values[off] = rng.integers(0, 256, int(off.sum()))
            line[:] = values
        img = Image.fromarray(a)
        sides = _plain_sides(img)
        assert _plain_sides(img, a) == sides
        plain += len(sides)
    assert 200 < plain < 1400  # both outcomes well represented


# --- hash_image carries the variants, and they hash like the original ----------------------


def test_hash_image_hashes_the_framed_picture_like_the_original(picture: Image.Image) -> None:
    original = hash_image(encode(picture, "png"))
    assert original.variants == ()
    for fmt in ("png", "jpeg"):
        framed = hash_image(encode(frame(picture, 0.1), fmt))
        assert framed.pdq is not None
        assert original.pdq is not None
        assert dist(framed.pdq, original.pdq) > 31  # the frame alone defeats PDQ
        (trim,) = framed.variants
        assert trim.name == "trim"
        assert dist(trim.pdq, original.pdq) <= 10, fmt
        assert abs(trim.width - 1024) <= 4
        assert abs(trim.height - 768) <= 4
    assert hash_image(encode(frame(picture, 0.1), "png"), variants=False).variants == ()


def test_digests_round_trip_with_their_variants(picture: Image.Image) -> None:
    d = hash_image(encode(caption(picture), "png"))
    assert d.variants
    assert Digests.from_dict(d.as_dict(dihedral=True)) == d
    assert "variants" not in d.as_dict()


# --- the decision ------------------------------------------------------------------------


def _matcher(*images: tuple[str, Digests]) -> Matcher:
    refs = []
    for label, d in images:
        for hash_type, value in {**d.exact(), **d.perceptual()}.items():
            refs.append(KnownRef(len(refs) + 1, "list", hash_type, value, label))
    return Matcher.build(refs)


def test_framed_letterboxed_and_captioned_copies_match_with_their_transform(
    picture: Image.Image,
) -> None:
    matcher = _matcher(("item-1", hash_image(encode(picture, "png"))))
    copies = {
        "trim": frame(picture, 0.1, (250, 250, 250)),
        "uncaption-top": caption(picture, 0.15),
    }
    for transform, image in copies.items():
        d = hash_image(encode(image, "jpeg"))
        matches = matcher.match(d)
        assert matches, transform
        assert {m.label for m in matches} == {"item-1"}
        assert matches[0].transform == transform
        assert matches[0].tier == "high"
        assert matches[0].threshold <= 28 if matches[0].hash_type == "pdq" else True
        assert matcher.match(d, variants=()) == []  # found through the variant only


def test_an_unrelated_framed_image_is_not_matched(picture: Image.Image) -> None:
    matcher = _matcher(("item-1", hash_image(encode(picture, "png"))))
    for seed in (2, 3, 4):
        d = hash_image(encode(frame(photo(seed), 0.1), "jpeg"))
        assert d.variants
        assert matcher.match(d) == []


def test_a_direct_match_is_not_repeated_through_a_variant(picture: Image.Image) -> None:
    d = hash_image(encode(frame(picture, 0.1), "png"))
    matcher = _matcher(("framed", d), ("item-1", hash_image(encode(picture, "png"))))
    matches = matcher.match(d)
    assert {(m.label, m.transform) for m in matches} >= {("framed", None), ("item-1", "trim")}
    assert all(m.transform is None for m in matches if m.label == "framed")


def test_a_variant_matched_by_phash_alone_stays_in_the_low_tier() -> None:
    known = KnownRef(1, "list", "phash", "d8dd326389e6b318", "item-1")
    matcher = Matcher.build([known])
    variant = VariantHashes("trim", "0" * 64, 0, "d8dd326389e6b318", "0" * 16, 0.3, 800, 600)
    d = Digests("0" * 32, "0" * 40, "0" * 64, 10, width=1000, height=800, flatness=0.4,
                phash="0" * 16, variants=(variant,))
    (match,) = matcher.match(d)
    assert (match.transform, match.tier) == ("trim", "low")
    # The same pHash on the image itself (a photo) is high-tier evidence.
    plain = Digests("0" * 32, "0" * 40, "0" * 64, 10, width=1000, height=800, flatness=0.4,
                    phash="d8dd326389e6b318")
    assert matcher.match(plain)[0].tier == "high"


# --- crop-augmented lists --------------------------------------------------------------------


def test_list_crops_are_the_documented_set_and_match_cropped_copies(picture: Image.Image) -> None:
    data = encode(picture, "png")
    d = hash_image(data, fast=False, variants=False, crops=True)
    assert [v.name for v in d.variants] == list(LIST_CROPS)
    refs = [KnownRef(1, "list", "pdq", str(d.pdq), "item-1")]
    refs += [KnownRef(2 + i, "list", "pdq", v.pdq, "item-1", variant=v.name)
             for i, v in enumerate(d.variants)]
    matcher = Matcher.build(refs)
    crawled = hash_image(encode(crop_sides(picture, 0.05), "jpeg"))
    assert matcher.match(crawled, variants=())  # found without query-side variants
    best = matcher.match(crawled)[0]
    assert (best.label, best.known_variant) == ("item-1", "crop-centre-90")
    corner = hash_image(encode(crop_sides(picture, 0.05, left=0.0, top=0.0), "jpeg"))
    assert matcher.match(corner)[0].known_variant == "crop-top-left-90"  # its top-left kept
    # Without the crops the same copy is missed.
    assert Matcher.build(refs[:1]).match(crawled) == []


def test_crops_need_the_reference_decode(picture: Image.Image) -> None:
    with pytest.raises(ValueError, match="fast=False"):
        hash_image(encode(picture, "png"), crops=True)


def test_stored_variant_hashes_round_trip_and_damage_is_dropped(picture: Image.Image) -> None:
    from matchers.digests import format_variants, parse_variants

    d = hash_image(encode(caption(frame(picture, 0.05, (0, 0, 0)), 0.12), "png"))
    assert len(d.variants) >= 2
    text = format_variants(d.variants)
    assert text is not None
    back = parse_variants(text)
    assert [(v.name, v.pdq, v.phash, v.dhash, v.width) for v in back] == [
        (v.name, v.pdq, v.phash, v.dhash, v.width) for v in d.variants]
    assert format_variants(()) is None
    assert parse_variants(None) == ()
    damaged = text.split(";")[0][:-3] + ";x,y;" + text.split(";")[1]
    assert [v.name for v in parse_variants(damaged)] == [d.variants[1].name]


# --- golden cases on flat graphics: a drawing on a white background ------------------------

DRAWING = (90, 70, 520, 330)  # the drawn part of `graphic`: left, top, right, bottom


@pytest.fixture(scope="module")
def graphic() -> Image.Image:
    """A line drawing on white with white margins around DRAWING (as charts and diagrams
    have), its content touching none of the edges."""
    img = Image.new("RGB", (600, 400), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = DRAWING
    draw.rectangle((left, top, right - 1, bottom - 1), outline=(0, 0, 0), width=3)
    for k in range(6):
        x = left + 30 + 60 * k
        draw.line((x, bottom - 20, x + 40, top + 30 + 25 * k), fill=(30, 60, 200), width=2)
        draw.text((x, top + 12), f"v{k}", fill=(0, 0, 0))
    return img


def shifted(box: tuple[int, int, int, int], dx: int, dy: int) -> tuple[int, int, int, int]:
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def test_a_flat_graphic_is_cut_to_its_drawing(graphic: Image.Image) -> None:
    """The list's trim of the original: its plain margins, up to the first drawn pixel."""
    regions = find_regions(graphic.convert("L"))
    assert [r.name for r in regions][:1] == ["trim"]
    assert near(regions[0].box, DRAWING), regions[0].box


def test_a_white_frame_on_a_white_graphic_is_cut_with_its_margins(graphic: Image.Image) -> None:
    """No step between the frame and the margin: both go, and the copy's trim meets the
    original's (the list's `trim` variant)."""
    framed = frame(graphic, 0.08)
    dx, dy = (framed.width - graphic.width) // 2, (framed.height - graphic.height) // 2
    regions = find_regions(framed.convert("L"))
    assert regions[0].name == "trim"
    assert near(regions[0].box, shifted(DRAWING, dx, dy)), regions[0].box


@pytest.mark.parametrize(("fill", "noise"), [((245, 240, 230), 0.0), ((40, 90, 160), 8.0)],
                         ids=["off-white", "grainy-blue"])
def test_a_frame_of_another_tone_keeps_the_graphics_own_margin(
    graphic: Image.Image, fill: tuple[int, int, int], noise: float
) -> None:
    """An off-white frame (grey 241 against the margin's 255: within BORDER_TOLERANCE) and a
    grainy one end where the white margin begins; the margin is the original's and stays."""
    framed = frame(graphic, 0.06, fill, noise=noise, seed=2)
    dx, dy = (framed.width - graphic.width) // 2, (framed.height - graphic.height) // 2
    regions = find_regions(framed.convert("L"))
    assert regions[0].name == "trim"
    assert near(regions[0].box, (dx, dy, dx + graphic.width, dy + graphic.height)), regions[0].box


@pytest.mark.parametrize("side", ["top", "bottom"])
def test_a_caption_on_a_white_graphic_is_removed(graphic: Image.Image, side: str) -> None:
    """White band, black text, over a white graphic: no edge to find; the text, the gap
    after it and the margins go, leaving the drawing (what the list's trim holds)."""
    captioned = caption(graphic, 0.15, side, text="example.test some words")
    band = captioned.height - graphic.height
    regions = {r.name: r.box for r in find_regions(captioned.convert("L"))}
    want = shifted(DRAWING, 0, band if side == "top" else 0)
    assert near(regions[f"trim+uncaption-{side}"], want), regions


def test_a_graphic_drawn_to_its_edges_is_not_cut(graphic: Image.Image) -> None:
    drawn = graphic.crop(DRAWING)
    assert find_regions(drawn.convert("L")) == []


def test_a_graphic_found_through_the_lists_trim_when_captioned_or_framed(
    graphic: Image.Image,
) -> None:
    d = hash_image(encode(graphic, "png"), fast=False, variants=False, crops=True)
    refs = [KnownRef(1, "list", "pdq", str(d.pdq), "drawing")]
    refs += [KnownRef(2 + i, "list", "pdq", v.pdq, "drawing", variant=v.name)
             for i, v in enumerate(d.variants) if v.name == "trim"]
    assert len(refs) == 2
    matcher = Matcher.build(refs)
    for copy in (frame(graphic, 0.1), caption(graphic, 0.12, "top", text="example.test news")):
        crawled = hash_image(encode(copy, "jpeg"))
        best = matcher.match(crawled)[0]
        assert (best.label, best.known_variant) == ("drawing", "trim")
        assert str(best.transform).startswith("trim")


# --- the list's crop set --------------------------------------------------------------------


def test_every_crop_of_up_to_a_tenth_per_side_is_near_a_stored_one() -> None:
    """Each edge of any crop cutting 0-10% off each side lies within 2.5% of the same edge
    of some crop in LIST_CROPS (the grid of 2.5% and 7.5% cuts)."""
    rng = np.random.default_rng(7)
    stored = np.array([(left, top, 1 - right, 1 - bottom)
                       for left, top, right, bottom in LIST_CROPS.values()])
    for cuts in rng.uniform(0, 0.1, (2000, 4)):
        assert np.abs(stored - cuts).max(axis=1).min() <= 0.025 + 1e-9


def test_an_off_centre_crop_matches_a_stored_crop_by_phash(picture: Image.Image) -> None:
    d = hash_image(encode(picture, "png"), fast=False, variants=False, crops=True)
    rows = [("pdq", str(d.pdq), None)]
    rows += [(t, v.perceptual()[t], v.name) for v in d.variants for t in ("pdq", "phash")]
    refs = [KnownRef(i + 1, "list", t, value, "item-1", variant=name)
            for i, (t, value, name) in enumerate(rows)]
    w, h = picture.size
    cropped = picture.crop((0, round(0.08 * h), w - round(0.06 * w), h - round(0.01 * h)))
    crawled = hash_image(encode(cropped, "jpeg"))
    found = Matcher.build(refs).match(crawled)
    assert (found[0].label, found[0].tier) == ("item-1", "high")
    assert str(found[0].known_variant).startswith("crop-")


def test_a_flat_graphic_cut_at_all_is_cut_to_its_drawing_on_every_side() -> None:
    """A margin thinner than MIN_CUT (3 px at the top) goes with the wide ones: the
    original's thin margin and a framed copy's frame-plus-margin end at the same line."""
    img = Image.new("RGB", (600, 400), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((80, 3, 520, 330), outline=(0, 0, 0), width=2)
    draw.line((100, 40, 500, 300), fill=(0, 0, 0), width=2)
    (trim, *_) = find_regions(img.convert("L"))
    assert near(trim.box, (80, 3, 521, 331), slack=1), trim.box


def test_sparse_strokes_end_the_trim_alike_on_the_original_and_a_framed_jpeg() -> None:
    """Strokes one pixel wide reaching towards the margins (one drawn pixel per line, which
    the thumbnail averages away): the copy's trim meets the original's to a pixel."""
    img = Image.new("RGB", (690, 330), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((150, 60, 500, 260), outline=(0, 0, 0), width=2)
    draw.line((150, 60, 40, 2), fill=(40, 40, 40), width=1)  # towards the top-left
    draw.line((500, 260, 520, 318), fill=(40, 40, 40), width=1)  # down to near the bottom
    (want, *_) = find_regions(img.convert("L"))
    for share in (0.05, 0.1):
        framed = frame(img, share)
        dx, dy = round(img.width * share), round(img.height * share)
        with Image.open(io.BytesIO(encode(framed, "jpeg", quality=80))) as copy:
            (got, *_) = find_regions(copy.convert("L"))
        assert near(got.box, shifted(want.box, dx, dy), slack=1), (share, got.box, want.box)


# --- captions on graphics whose own edges look like a band, or that are not flat -----------


Box = tuple[int, int, int, int]


def _served_regions(img: Image.Image, scale: float = 1.0) -> list[tuple[str, Box]]:
    """find_regions on `img` as a re-post serves it: resized by `scale`, JPEG q80, decoded."""
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)),
                         Image.Resampling.LANCZOS)
    with Image.open(io.BytesIO(encode(img.convert("RGB"), "jpeg", quality=80))) as served:
        return [(r.name, r.box) for r in find_regions(served.convert("L"))]


def _list_trim(img: Image.Image) -> tuple[int, int, int, int]:
    """The original's `trim` (what a crop-augmented list stores)."""
    return next(r.box for r in find_regions(img.convert("L")) if r.name == "trim")


def _near_share(box: tuple[int, int, int, int], want: tuple[int, int, int, int],
                w: int, h: int, share: float = 0.01) -> bool:
    slack = (share * w, share * h, share * w, share * h)
    return all(abs(a - b) <= s for a, b, s in zip(box, want, slack, strict=True))


@pytest.fixture(scope="module")
def screenshot() -> Image.Image:
    """bench_variants' seed-0 `screenshot-7`: a grey title bar with text along its top edge
    (a band as much as a pasted caption is), plain margins under its last panel."""
    return sample("screenshot", 207, 7).convert("RGB")


@pytest.fixture(scope="module")
def line_drawing() -> Image.Image:
    """bench_variants' seed-0 `line_art-14`: dense strokes on white, flatness ~0.6 (below
    FLAT_AT: not a flat graphic), white margins of 4-16 px."""
    return sample("line_art", 214, 14).convert("RGB")


def test_a_caption_under_a_screenshot_with_a_title_bar_is_removed(screenshot: Image.Image) -> None:
    """Both the title bar (top) and the pasted caption (bottom) look like bands: each is cut
    in turn, and the caption's cut, trimmed twice (the gap, then the page's own margin under
    its last panel), meets the list's trim."""
    captioned = caption(screenshot, 0.08, "bottom", text="example.test some words here")
    trim = _list_trim(screenshot)
    regions = _served_regions(captioned)
    assert any(name == "trim+uncaption-bottom" and _near_share(box, trim, *captioned.size)
               for name, box in regions), (trim, regions)


def _dark_band_at_75(
    picture: Image.Image, share: float
) -> tuple[tuple[int, ...], list[tuple[str, Box]], int, int]:
    """A dark caption band of `share` over the top of `picture`, served at 75%: the
    original's list trim moved under the band and scaled (what a region must meet), the
    regions found on the served copy, and the copy's size."""
    captioned = caption(picture, share, "top", text="example.test some words here",
                        fill=(20, 20, 20), ink=(250, 250, 250))
    band = captioned.height - picture.height
    want = tuple(round(v * 0.75) for v in shifted(_list_trim(picture), 0, band))
    regions = _served_regions(captioned, 0.75)
    return want, regions, round(captioned.width * 0.75), round(captioned.height * 0.75)


def test_a_dark_band_over_a_screenshot_leaves_a_flat_graphic_to_trim(
    screenshot: Image.Image,
) -> None:
    """A dark band keeps the whole copy from looking flat; the picture left is judged on its
    own, so its title bar's plain top is trimmed as on the original."""
    want, regions, w, h = _dark_band_at_75(screenshot, 0.15)
    assert any(_near_share(box, want, w, h) for _name, box in regions), (want, regions)  # type: ignore[arg-type]


def test_a_band_over_a_line_drawing_uncovers_its_own_margin(line_drawing: Image.Image) -> None:
    """Not flat, but a drawing on white: the band edge's JPEG ringing no longer hides the
    drawing's own white margin along the band's side."""
    want, regions, w, h = _dark_band_at_75(line_drawing, 0.08)
    assert any(name == "trim+uncaption-top" and _near_share(box, want, w, h)  # type: ignore[arg-type]
               for name, box in regions), (want, regions)


def test_a_white_caption_on_a_line_drawing_is_cut_at_its_gap(line_drawing: Image.Image) -> None:
    """A caption in the drawing's own white: found by its text block and gap although the
    drawing is less flat than FLAT_AT (it has a background)."""
    captioned = caption(line_drawing, 0.12, "bottom", text="example.test some words here")
    trim = _list_trim(line_drawing)
    regions = _served_regions(captioned)
    assert any(name == "trim+uncaption-bottom" and _near_share(box, trim, *captioned.size)
               for name, box in regions), (trim, regions)


def test_a_pillarboxed_screenshot_keeps_no_margin_the_original_lost() -> None:
    """Grey bars left and right make the bottom edge line bar, margin, bar (not plain): the
    picture between the bars is trimmed once more, down to the original's trim."""
    shot = sample("screenshot", 212, 12).convert("RGB")  # bench_variants' seed-0 screenshot-12
    boxed = letterbox(shot, 16 / 9, (128, 128, 128))
    dx = (boxed.width - shot.width) // 2
    want = shifted(_list_trim(shot), dx, 0)
    regions = _served_regions(boxed)
    assert any(name == "trim" and _near_share(box, want, *boxed.size, share=0.005)
               for name, box in regions), (want, regions)


@pytest.mark.parametrize(("kind", "seed", "k", "share"), [("chart", 200, 0, 0.15),
                                                          ("diagram", 201, 1, 0.05)])
def test_a_grainy_white_frame_on_a_white_graphic_ends_at_the_drawing(
    kind: str, seed: int, k: int, share: float
) -> None:
    """bench_variants' seed-0 chart-0 and diagram-1 in a noisy white frame: frame and margin
    merge, and the trim ends at the first pixel beyond the grain, the original's list trim
    (it ended 3-7 px inside the drawing when 3% of a line could be off)."""
    drawing = sample(kind, seed, k).convert("RGB")
    framed = frame(drawing, share, (255, 255, 255), noise=8.0, seed=7)
    dx, dy = (framed.width - drawing.width) // 2, (framed.height - drawing.height) // 2
    want = shifted(_list_trim(drawing), dx, dy)
    regions = _served_regions(framed)
    assert any(name == "trim" and near(box, want, slack=2) for name, box in regions), (
        want, regions)


def test_a_wide_text_card_letterboxed_into_a_tall_frame_is_trimmed() -> None:
    """A 2.5:1 text card in a phone's tall 0.6 frame keeps 24% of the height between its
    bars (bench_variants' seed-1 text cards: 20-25%): still cut out, to the original's trim."""
    card = text_card(3, (900, 360)).convert("RGB")
    boxed = letterbox(card, 0.6, (0, 0, 0))
    dy = (boxed.height - card.height) // 2
    assert card.height / boxed.height < 0.25
    want = shifted(_list_trim(card), 0, dy)
    regions = _served_regions(boxed)
    assert any(name == "trim" and _near_share(box, want, *boxed.size)
               for name, box in regions), (want, regions)
