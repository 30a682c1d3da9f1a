"""The match decision on generated images: edits match high, unrelated graphics stay out."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from PIL import Image

from crawler.sitegen import images as gen
from matchers.confidence import FLAT_AT, HIGH_TIER_FLOOR, classify, flatness
from matchers.decision import MAX_ITEM_HASHES, KnownRef, Match, Matcher
from matchers.digests import Digests
from matchers.hashing import hash_image
from matchers.hashtypes import PDQ_MATCH_THRESHOLD, PDQ_QUALITY_THRESHOLD, PHASH_MATCH_THRESHOLD

PHOTO_SIZE = (480, 360)
PHOTO_SEEDS = range(6)
KNOWN_GRAPHICS = range(10)  # seeds of the known charts, text cards, line art and icons
UNRELATED = range(100, 120)  # seeds of unrelated images of every kind
GRAPHIC_KINDS = ("chart", "text_card", "line_art", "icon")
ALL_TYPES = ("md5", "sha256", "phash", "dhash", "pdq")


@dataclass(frozen=True)
class Hashed:
    """An image's digests plus what the decision reads beside them (overridable per lookup)."""

    digests: Digests
    flatness: float
    dihedral: tuple[str, ...]


def hashed(data: bytes) -> Hashed:
    """hash_image's digests, with the flatness and orientations it computed itself."""
    d = hash_image(data)
    assert d.flatness is not None
    assert len(d.pdq_dihedral) == 7
    return Hashed(d, d.flatness, d.pdq_dihedral)


def lookup(matcher: Matcher, image: Hashed, *, dihedral: bool = False) -> list[Match]:
    return matcher.match(
        image.digests, flatness=image.flatness, pdq_dihedral=image.dihedral if dihedral else ()
    )


def refs_for(items: dict[str, Digests], types: tuple[str, ...]) -> list[KnownRef]:
    """One known list holding `types` of each image, labelled with the image's name."""
    refs: list[KnownRef] = []
    for label, digests in items.items():
        for name in types:
            value = getattr(digests, name)
            if value is not None:
                refs.append(KnownRef(len(refs) + 1, "known", name, value, label, "test"))
    return refs


@functools.cache
def picture(kind: str, seed: int) -> Image.Image:
    if kind == "photo":
        return gen.photo(seed, PHOTO_SIZE)
    return gen.KINDS[kind](seed)


def original(kind: str, seed: int) -> bytes:
    """As a site would serve it: photos as JPEG, graphics as PNG."""
    return gen.encode_as_served(kind, picture(kind, seed))


def labels(matches: list[Match], tier: str | None = None) -> set[str | None]:
    return {m.label for m in matches if tier is None or m.tier == tier}


@pytest.fixture(scope="module")
def known() -> dict[str, Digests]:
    """6 photos and 10 of each graphic kind, hashed as hash lists are made (reference)."""
    names = [("photo", s) for s in PHOTO_SEEDS]
    names += [(k, s) for k in GRAPHIC_KINDS for s in KNOWN_GRAPHICS]
    return {f"{k}-{s}": hash_image(original(k, s), fast=False) for k, s in names}


@pytest.fixture(scope="module")
def matcher(known: dict[str, Digests]) -> Matcher:
    return Matcher.build(refs_for(known, ALL_TYPES))


# --- edits stay within the thresholds and reach the high tier ---------------------------------


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = gen.EDITS


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_photos_match_their_source_in_the_high_tier(matcher: Matcher, edit: str) -> None:
    for seed in PHOTO_SEEDS:
        copy = EDITS[edit](picture("photo", seed))
        matches = lookup(matcher, hashed(gen.encode(copy, "png")))
        assert f"photo-{seed}" in labels(matches, "high"), (edit, seed, matches)
        assert labels(matches) == {f"photo-{seed}"}, "an edited photo matched another image"


@pytest.mark.parametrize("edit", ["jpeg60", "grayscale", "resize50"])
def test_edited_graphics_still_match_in_some_tier(matcher: Matcher, edit: str) -> None:
    for kind, seed in itertools.product(("chart", "text_card", "line_art"), range(5)):
        copy = EDITS[edit](picture(kind, seed))
        assert f"{kind}-{seed}" in labels(lookup(matcher, hashed(gen.encode(copy, "png"))))


def test_rotated_photo_matches_only_with_dihedral_pdq(matcher: Matcher) -> None:
    for seed in PHOTO_SEEDS:
        turned = gen.rotate90(picture("photo", seed))
        image = hashed(gen.encode(turned, "jpeg", quality=90))
        assert f"photo-{seed}" not in labels(lookup(matcher, image))
        matches = lookup(matcher, image, dihedral=True)
        found = [m for m in matches if m.label == f"photo-{seed}"]
        assert [(m.hash_type, m.tier, m.transform) for m in found] == [
            ("pdq", "high", "rotate_270")  # turning the query back 270 degrees restores it
        ]
        assert found[0].distance <= PDQ_MATCH_THRESHOLD


# --- unrelated images ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def unrelated(matcher: Matcher) -> dict[str, list[Match]]:
    """Fresh photos, charts, text cards, line art and icons, looked up in the known set."""
    kinds = ("photo", *GRAPHIC_KINDS)
    return {
        f"{k}-{s}": lookup(matcher, hashed(original(k, s)), dihedral=True)
        for k in kinds
        for s in (UNRELATED if k != "photo" else UNRELATED[:6])
    }


def test_unrelated_flat_graphics_never_reach_the_high_tier(
    unrelated: dict[str, list[Match]],
) -> None:
    for query, matches in unrelated.items():
        assert labels(matches, "high") == set(), (query, matches)
    # Icons of one shape differ only in colour, so they do collide - in the low tier.
    assert any(matches for query, matches in unrelated.items() if query.startswith("icon"))


def test_false_match_rate_over_unrelated_pairs_is_bounded(
    known: dict[str, Digests], unrelated: dict[str, list[Match]]
) -> None:
    """86 unrelated images x 46 known ones: 3,956 pairs, every one compared.

    The bound: no pair in the high tier (bench/bench_decision.py measures the rate at
    scale), and under 3% of pairs in the low tier, every one of them an icon.
    """
    pairs = len(unrelated) * len(known)
    low = {(query, m.label) for query, matches in unrelated.items() for m in matches}
    assert all(m.tier == "low" for matches in unrelated.values() for m in matches)
    assert len(low) < 0.03 * pairs
    assert {query.split("-")[0] for query, _ in low} <= {"icon"}


# --- exact matches, thresholds, quality gate, ordering ---------------------------------------


def test_exact_match_has_confidence_one_and_grades_the_whole_item(matcher: Matcher) -> None:
    matches = lookup(matcher, hashed(original("photo", 3)))
    assert {(m.hash_type, m.distance) for m in matches} >= {("md5", 0), ("sha256", 0)}
    assert all(m.confidence == 1.0 and m.tier == "high" for m in matches)
    assert labels(matches) == {"photo-3"}
    exact = next(m for m in matches if m.hash_type == "md5")
    assert exact.image_class is None
    assert exact.threshold == 0
    assert set(exact.corroborated_by) == {"sha256", "phash", "dhash", "pdq"}


def _hex_at_distance(base: str, distance: int) -> str:
    bits = len(base) * 4
    return format(int(base, 16) ^ ((1 << distance) - 1), f"0{bits // 4}x")


def _digests(**fields: object) -> Digests:
    base = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800, height=600)
    return replace(base, **fields)  # type: ignore[arg-type]


def test_every_known_hash_within_the_threshold_comes_back_with_its_distance() -> None:
    query = "8f3a5c7e1b2d4f60"
    refs = [
        KnownRef(100 + d, "list", "phash", _hex_at_distance(query, d), None, None)
        for d in range(0, 13)
    ]
    matcher = Matcher.build(refs)
    found = {m.known_id: m.distance for m in matcher.match(_digests(phash=query))}
    assert found == {100 + d: d for d in range(PHASH_MATCH_THRESHOLD + 1)}
    assert all(m.threshold == PHASH_MATCH_THRESHOLD for m in matcher.match(_digests(phash=query)))
    wider = Matcher.build(refs, thresholds={"phash": 10})
    assert {m.known_id for m in wider.match(_digests(phash=query))} == {100 + d for d in range(11)}


def test_pdq_below_quality_50_is_ignored() -> None:
    pdq = "a5" * 32
    matcher = Matcher.build([KnownRef(1, "list", "pdq", pdq.upper(), "x", None)])
    low = _digests(pdq=pdq, pdq_quality=PDQ_QUALITY_THRESHOLD - 1)
    ok = _digests(pdq=pdq, pdq_quality=PDQ_QUALITY_THRESHOLD)
    assert matcher.match(low) == []
    assert [(m.known_id, m.value, m.distance) for m in matcher.match(ok)] == [(1, pdq, 0)]
    assert matcher.match(replace(ok, pdq_quality=None)) == []


def test_low_quality_pdq_of_a_real_image_is_not_used() -> None:
    """A nearly blank card: PDQ says quality < 50, so only pHash/dHash may match it."""
    card = Image.new("RGB", (400, 300), (250, 250, 250))
    card.putpixel((200, 150), (0, 0, 0))
    image = hashed(gen.encode(card, "png"))
    assert image.digests.pdq_quality is not None
    assert image.digests.pdq_quality < PDQ_QUALITY_THRESHOLD
    matcher = Matcher.build(refs_for({"blank": image.digests}, ("pdq", "phash")))
    assert {m.hash_type for m in lookup(matcher, image)} == {"phash"}


def test_matches_are_ordered_by_confidence_high_tier_first() -> None:
    pdq, phash = "c3" * 32, "0f0f0f0f0f0f0f0f"
    refs = [
        KnownRef(1, "a", "pdq", _hex_at_distance(pdq, 30), "far-pdq", None),
        KnownRef(2, "a", "pdq", _hex_at_distance(pdq, 2), "near-pdq", None),
        KnownRef(3, "a", "phash", _hex_at_distance(phash, 5), "phash-only", None),
        KnownRef(4, "a", "md5", "ab" * 16, "exact", None),
        KnownRef(5, "b", "pdq", _hex_at_distance(pdq, 2), "both", None),
        KnownRef(6, "b", "phash", _hex_at_distance(phash, 1), "both", None),
    ]
    matcher = Matcher.build(refs)
    d = _digests(md5="ab" * 16, pdq=pdq, pdq_quality=100, phash=phash)
    matches = matcher.match(d, flatness=0.9)  # a flat graphic: pHash alone is not enough
    assert [m.label for m in matches] == [
        "exact",
        "both",
        "both",
        "near-pdq",
        "far-pdq",
        "phash-only",
    ]
    confidences = [m.confidence for m in matches]
    assert confidences == sorted(confidences, reverse=True)
    assert [m.tier for m in matches] == ["high"] * 5 + ["low"]
    assert matches[0].confidence == 1.0
    assert all(HIGH_TIER_FLOOR <= c < 1.0 for c in confidences[1:5])
    assert confidences[5] < HIGH_TIER_FLOOR


# --- corroboration, contradiction, image classes ----------------------------------------------


def test_agreeing_types_of_one_item_corroborate() -> None:
    pdq, phash = "5a" * 32, "1234567890abcdef"
    alone = Matcher.build([KnownRef(1, "l", "pdq", _hex_at_distance(pdq, 12), "x", None)])
    both = Matcher.build(
        [
            KnownRef(1, "l", "pdq", _hex_at_distance(pdq, 12), "x", None),
            KnownRef(2, "l", "phash", _hex_at_distance(phash, 3), "x", None),
        ]
    )
    d = _digests(pdq=pdq, pdq_quality=90, phash=phash)
    single = alone.match(d, flatness=0.3)[0]
    joint = both.match(d, flatness=0.3)
    assert {m.hash_type: m.corroborated_by for m in joint} == {"pdq": ("phash",), "phash": ("pdq",)}
    assert joint[0].confidence == joint[1].confidence > single.confidence
    assert single.corroborated_by == ()


def test_a_weak_type_inherits_the_grade_of_its_item() -> None:
    """dHash alone never reaches the high tier; beside a PDQ hit on the same item it does."""
    pdq, dhash = "5a" * 32, "00ff00ff00ff00ff"
    weak = KnownRef(1, "l", "dhash", _hex_at_distance(dhash, 2), "x", None)
    d = _digests(pdq=pdq, pdq_quality=90, dhash=dhash)
    (alone,) = Matcher.build([weak]).match(d, flatness=0.3)
    assert alone.tier == "low"
    joined = Matcher.build([weak, KnownRef(2, "l", "pdq", pdq, "x", None)]).match(d, flatness=0.3)
    assert [(m.hash_type, m.tier, m.corroborated_by) for m in joined] == [
        ("pdq", "high", ("dhash",)),
        ("dhash", "high", ("pdq",)),
    ]


def test_flatness_must_be_a_share() -> None:
    matcher = Matcher.build([KnownRef(1, "l", "phash", "1234567890abcdef", None, None)])
    with pytest.raises(ValueError, match="between 0 and 1"):
        matcher.match(_digests(phash="1234567890abcdef"), flatness=1.5)


def test_a_label_shared_by_many_hashes_does_not_join_them() -> None:
    phash = "1234567890abcdef"
    refs = [KnownRef(1, "l", "pdq", "5a" * 32, "category-a", None)]
    refs += [
        KnownRef(10 + i, "l", "phash", _hex_at_distance(phash, 40 + i % 10), "category-a", None)
        for i in range(MAX_ITEM_HASHES)
    ]
    d = _digests(pdq="5a" * 32, pdq_quality=90, phash=phash)
    (match,) = Matcher.build(refs).match(d, flatness=0.3)
    assert match.hash_type == "pdq"
    assert match.corroborated_by == ()


def test_a_far_hash_of_the_same_item_lowers_confidence_but_not_the_tier() -> None:
    pdq, phash = "5a" * 32, "1234567890abcdef"
    refs = [KnownRef(1, "l", "phash", _hex_at_distance(phash, 2), "x", None)]
    d = _digests(phash=phash, pdq=pdq, pdq_quality=90)
    agreeing = Matcher.build(refs).match(d, flatness=0.3)
    refs.append(KnownRef(2, "l", "pdq", _hex_at_distance(pdq, 120), "x", None))
    contradicted = Matcher.build(refs).match(d, flatness=0.3)
    assert [m.tier for m in agreeing] == [m.tier for m in contradicted] == ["high"]
    assert contradicted[0].confidence < agreeing[0].confidence


@pytest.mark.parametrize(
    ("size", "flat", "image_class", "phash_tier", "pdq_tier"),
    [
        ((800, 600), 0.4, "photo", "high", "high"),
        ((150, 120), 0.4, "photo", "high", "high"),  # a thumbnail of a photo
        ((800, 600), 0.9, "graphic", "low", "high"),
        ((128, 128), 0.9, "icon", "low", "low"),
        ((48, 48), 0.4, "tiny", "low", "low"),
        ((800, 600), None, "unknown", "low", "high"),
        ((128, 128), None, "unknown_small", "low", "low"),
    ],
)
def test_tier_of_a_single_type_match_by_image_class(
    size: tuple[int, int], flat: float | None, image_class: str, phash_tier: str, pdq_tier: str
) -> None:
    phash, pdq = "1234567890abcdef", "5a" * 32
    matcher = Matcher.build(
        [KnownRef(1, "l", "phash", phash, "p", None), KnownRef(2, "l", "pdq", pdq, "q", None)]
    )
    d = _digests(phash=phash, pdq=pdq, pdq_quality=100, width=size[0], height=size[1])
    tiers = {m.hash_type: (m.tier, m.image_class) for m in matcher.match(d, flatness=flat)}
    assert tiers == {"phash": (phash_tier, image_class), "pdq": (pdq_tier, image_class)}
    assert classify(size[0], size[1], flat) == image_class


def test_flatness_separates_photos_from_flat_graphics() -> None:
    for seed in range(6):
        assert flatness(gen.photo(seed, (320, 240))) < FLAT_AT
        for kind in ("chart", "text_card", "icon"):
            assert flatness(gen.KINDS[kind](seed)) >= FLAT_AT, (kind, seed)


# --- lookups the crawler makes ---------------------------------------------------------------


def test_undecodable_images_match_by_exact_digests_only() -> None:
    phash = "1234567890abcdef"
    matcher = Matcher.build(
        [
            KnownRef(1, "l", "phash", phash, None, None),
            KnownRef(2, "l", "sha1", "cd" * 20, None, None),
        ]
    )
    broken = _digests(status="undecodable", sha1="cd" * 20, phash=phash)
    assert [(m.known_id, m.hash_type, m.confidence) for m in matcher.match(broken)] == [
        (2, "sha1", 1.0)
    ]


def test_empty_matcher_matches_nothing() -> None:
    empty = Matcher.empty()
    assert len(empty) == 0
    assert empty.match(_digests(phash="1234567890abcdef")) == []


def test_len_counts_known_hashes() -> None:
    refs = [KnownRef(i, "l", "md5", f"{i:032x}", None, None) for i in range(1, 6)]
    assert len(Matcher.build(refs)) == 5


@pytest.mark.parametrize(
    ("refs", "thresholds", "message"),
    [
        ([KnownRef(7, "iwf", "pdq", "zz" * 32, None, None)], None, "known hash 7 in list 'iwf'"),
        ([KnownRef(7, "iwf", "photodna", "00", None, None)], None, "unknown hash type 'photodna'"),
        (
            [
                KnownRef(7, "a", "md5", "0" * 32, None, None),
                KnownRef(7, "b", "md5", "1" * 32, None, None),
            ],
            None,
            "known hash id 7 appears twice",
        ),
        ([], {"md5": 3}, "md5 is an exact hash type"),
        ([], {"phash": 64}, "between 0 and 63"),
        ([], {"pdq": "31"}, "must be an integer"),
    ],
)
def test_build_refuses_bad_input_with_a_sentence(
    refs: list[KnownRef], thresholds: dict[str, int] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Matcher.build(refs, thresholds=thresholds)


def test_dihedral_hashes_must_be_the_seven_other_orientations() -> None:
    matcher = Matcher.build([KnownRef(1, "l", "pdq", "5a" * 32, None, None)])
    d = _digests(pdq="5a" * 32, pdq_quality=90)
    with pytest.raises(ValueError, match="7 non-original orientations"):
        matcher.match(d, pdq_dihedral=["5a" * 32])
