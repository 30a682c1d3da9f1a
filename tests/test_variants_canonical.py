"""Canonical hashes of graphics: PDQ of a 64x64 box thumbnail, stored by crop-augmented lists
and looked up by a crawled graphic's own, meeting only each other."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image

from crawler.cli.main import cli
from crawler.sitegen.images import caption, encode, frame, photo, sample
from matchers.confidence import CANON_THRESHOLD
from matchers.decision import Matcher
from matchers.digests import Digests, VariantHashes, format_variants, is_canonical, parse_variants
from matchers.hashing import hash_image
from matchers.lists import parse_known_list
from matchers.reftable import KnownRef
from matchers.variants import CANON_FLAT, LIST_CROPS, canonical_variant

# bench_variants' seed-0 `diagram-11`: resized to 75% and served as JPEG q80 its PDQ moves
# 32 bits, past the threshold (31); its canonical hash moves far less.
DRIFTING = ("diagram", 211, 11)


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def dist(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def served(img: Image.Image) -> bytes:
    small = img.resize((round(img.width * 0.75), round(img.height * 0.75)),
                       Image.Resampling.LANCZOS)
    return encode(small.convert("RGB"), "jpeg", quality=80)


@pytest.fixture(scope="module")
def drawing() -> Image.Image:
    return sample(*DRIFTING).convert("RGB")


def refs_of(d: Digests, label: str, *, canonical: bool = True) -> list[KnownRef]:
    """A list as bench_variants and `trawl hash --variants crops` make it."""
    rows: list[tuple[str, str, str | None]] = [("md5", d.md5, None), ("pdq", str(d.pdq), None)]
    rows += [(t, value, v.name) for v in d.variants for t, value in v.perceptual().items()
             if t in ("pdq", "phash") and (canonical or not is_canonical(v.name))]
    return [KnownRef(i + 1, "list", t, value, label, variant=name)
            for i, (t, value, name) in enumerate(rows)]


def test_a_photo_gets_no_canonical_hashes() -> None:
    picture = photo(1).convert("RGB")
    assert not any(is_canonical(v.name) for v in hash_image(encode(picture, "jpeg")).variants)
    listed = hash_image(encode(picture, "png"), fast=False, variants=False, crops=True)
    assert [v.name for v in listed.variants] == list(LIST_CROPS)


def test_a_graphic_gets_its_canonical_hash_and_a_list_stores_its_forms(
    drawing: Image.Image,
) -> None:
    crawled = hash_image(served(drawing))
    assert "canon" in [v.name for v in crawled.variants]
    listed = hash_image(encode(drawing, "png"), fast=False, variants=False, crops=True)
    names = [v.name for v in listed.variants]
    assert names[: len(LIST_CROPS)] == list(LIST_CROPS)
    canonical = [name for name in names if is_canonical(name)]
    assert canonical[0] == "canon"
    assert {f"canon-{name}" for name in LIST_CROPS} <= set(canonical)
    # Stored and looked up by PDQ only (its pHash and dHash are kept for the stored form).
    canon = next(v for v in listed.variants if v.name == "canon")
    assert canon.perceptual() == {"pdq": canon.pdq}
    (back,) = parse_variants(format_variants((canon,)))
    assert (back.name, back.pdq, back.pdq_quality) == (canon.name, canon.pdq, canon.pdq_quality)


def test_the_canonical_hash_holds_where_pdq_drifts(drawing: Image.Image) -> None:
    """Golden: resized to 75% and re-encoded, the drawing's PDQ moves past its threshold,
    its canonical hash (box thumbnail, size taken out) stays near."""
    grey = drawing.convert("L")
    with Image.open(io.BytesIO(served(drawing))) as opened:
        copy = opened.convert("L")
    original = hash_image(encode(drawing, "png"), fast=False, variants=False)
    crawled = hash_image(served(drawing))
    assert dist(str(original.pdq), str(crawled.pdq)) > 31
    a = canonical_variant(grey, "canon", 0.9)
    b = canonical_variant(copy, "canon", 0.9)
    assert dist(a.pdq, b.pdq) <= 12
    assert a.pdq_quality >= 50


def test_a_resized_graphic_is_found_through_its_canonical_hash(drawing: Image.Image) -> None:
    listed = hash_image(encode(drawing, "png"), fast=False, variants=False, crops=True)
    crawled = hash_image(served(drawing))
    without = Matcher.build(refs_of(listed, "drawing", canonical=False))
    assert not any(m.tier == "high" for m in without.match(crawled))
    found = Matcher.build(refs_of(listed, "drawing")).match(crawled)
    best = found[0]
    assert (best.label, best.tier, best.hash_type) == ("drawing", "high", "pdq")
    assert is_canonical(best.transform)
    assert is_canonical(best.known_variant)
    assert best.threshold == CANON_THRESHOLD
    # Framed as well: the trimmed picture's canonical hash meets the list's.
    framed = hash_image(served(frame(drawing, 0.1, (40, 90, 160))))
    best = Matcher.build(refs_of(listed, "drawing")).match(framed)[0]
    assert (best.label, best.tier) == ("drawing", "high")


def test_a_captioned_text_card_at_75_is_found_through_its_trims_canonical_hash() -> None:
    """Golden (bench_variants' seed-0 `text_card-3`, a dark caption band over it, resized to
    75%, JPEG q80): the band is cut right, but the picture's canonical form lands 18 bits
    from the list's `canon-trim`, past the former threshold of 16."""
    card = sample("text_card", 203, 3).convert("RGB")
    listed = hash_image(encode(card, "png"), fast=False, variants=False, crops=True)
    copy = caption(card, 0.12, "top", text="example.test some words here",
                   fill=(20, 20, 20), ink=(250, 250, 250))
    crawled = hash_image(served(copy))
    stored = next(v.pdq for v in listed.variants if v.name == "canon-trim")
    nearest = min(dist(v.pdq, stored) for v in crawled.variants if is_canonical(v.name))
    assert 16 < nearest <= CANON_THRESHOLD
    best = Matcher.build(refs_of(listed, "card")).match(crawled)[0]
    assert (best.label, best.tier, best.known_variant) == ("card", "high", "canon-trim")
    assert best.transform.startswith("trim+uncaption-top")


def _variant(name: str, pdq: str) -> VariantHashes:
    return VariantHashes(name, pdq, 100, "0" * 16, "0" * 16, 0.9, 600, 400)


def test_canonical_rows_meet_only_canonical_variants() -> None:
    value, other = "a5" * 32, "3c" * 32
    canon_list = Matcher.build([KnownRef(1, "l", "pdq", other, "item"),
                                KnownRef(2, "l", "pdq", value, "item", variant="canon")])
    plain_list = Matcher.build([KnownRef(1, "l", "pdq", value, "item")])
    query = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=600,
                    height=400, pdq=value, pdq_quality=100, flatness=0.9)
    # The image's own PDQ and a trim's do not meet a canonical row ...
    assert canon_list.match(query) == []
    assert canon_list.match(replace(query, pdq="0" * 64),
                            variants=[_variant("trim", value)]) == []
    # ... a canonical variant does (and nothing else: not the image's own PDQ row).
    hit = canon_list.match(query, variants=[_variant("trim+canon", value)])
    assert [(m.known_variant, m.transform, m.tier) for m in hit] == [
        ("canon", "trim+canon", "high")]
    away = "a5" * 31 + "5a"  # 8 bits off: within CANON_THRESHOLD
    assert plain_list.match(replace(query, pdq="0" * 64),
                            variants=[_variant("canon", away)]) == []


def test_canonical_flatness_gate_is_below_the_graphic_class() -> None:
    from matchers.confidence import FLAT_AT

    assert 0.57 < CANON_FLAT < FLAT_AT  # photos (95% below 0.57) rarely pay for it


def test_a_crop_list_with_canonical_forms_round_trips(drawing: Image.Image, tmp_path: Path) -> None:
    folder = tmp_path / "held"
    folder.mkdir()
    (folder / "drawing.png").write_bytes(encode(drawing, "png"))
    made = run("hash", "--format", "csv", "--variants", "crops", str(folder))
    assert made.exit_code == 0, made.output
    rows = list(csv.DictReader(io.StringIO(made.output)))
    canonical = [r for r in rows if is_canonical(r["variant"] or None)]
    assert canonical
    assert {r["hash_type"] for r in canonical} == {"pdq"}
    assert len({r["variant"] for r in canonical}) == len(canonical)
    listed = tmp_path / "held.csv"
    listed.write_text(made.output, encoding="utf-8")
    parsed = parse_known_list(listed)
    assert {e.variant for e in parsed.entries} >= {"canon", "canon-crop-centre-90"}
    refs = [KnownRef(i + 1, "held", e.hash_type, e.value, e.label, variant=e.variant)
            for i, e in enumerate(parsed.entries)]
    matcher = Matcher.build(refs)
    matcher.save(tmp_path / "m.bin")
    crawled = hash_image(served(drawing))
    best = Matcher.load(tmp_path / "m.bin").match(crawled)[0]
    assert (best.label, best.tier) == ("drawing.png", "high")
    assert is_canonical(best.known_variant)
