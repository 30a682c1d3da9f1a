"""Crop-augmented lists end to end: `trawl hash --variants crops`, the list file, migration
0006, the import, the matcher file and the match naming the item and its variant."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from crawler.adapter import build_matcher
from crawler.cli.main import cli
from crawler.sitegen.images import crop_sides, encode, photo
from matchers.decision import Matcher
from matchers.digests import Digests, VariantHashes
from matchers.hashing import hash_image
from matchers.lists import ListFormatError, parse_known_list
from matchers.reftable import MAX_ITEM_HASHES, MAX_VARIANT_HASHES, KnownRef
from matchers.variants import LIST_CANON_CROPS, LIST_CROPS
from storage.db import alembic_config, open_store, schema_revision
from storage.known import KnownHashIn, import_known_list, iter_known_hashes
from storage.media import iter_media_digests
from storage.migrations import HEAD_REVISION

T = datetime(2026, 1, 2, 3, 4, 5)


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two images a hotline holds, as files."""
    folder = tmp_path_factory.mktemp("held")
    for seed in (1, 2):
        (folder / f"item-{seed}.png").write_bytes(encode(photo(seed), "png"))
    return folder


def test_hash_with_crops_writes_each_crop_as_a_variant_of_its_item(held: Path) -> None:
    made = run("hash", "--format", "csv", "--variants", "crops", str(held))
    assert made.exit_code == 0, made.output
    rows = list(csv.DictReader(io.StringIO(made.output)))
    assert list(rows[0]) == ["hash_type", "hash", "label", "variant"]
    for label in ("item-1.png", "item-2.png"):
        mine = [r for r in rows if r["label"] == label]
        assert [(r["hash_type"], r["variant"]) for r in mine] == [
            ("md5", ""), ("sha256", ""), ("pdq", ""),
            *((t, name) for name in LIST_CROPS for t in ("pdq", "phash")),
        ]
    # Without --variants the file is as it always was.
    plain = run("hash", "--format", "csv", str(held))
    assert plain.output.splitlines()[0] == "hash_type,hash,label"
    assert len(plain.output.splitlines()) == 1 + 2 * 3


def test_crop_list_round_trips_and_a_cropped_copy_names_item_and_crop(
    held: Path, db_url: str, tmp_path: Path
) -> None:
    made = run("hash", "--format", "csv", "--variants", "crops", "--type", "pdq",
               "--type", "phash", str(held))
    listed = tmp_path / "held.csv"
    listed.write_text(made.output, encoding="utf-8")
    parsed = parse_known_list(listed)
    assert {e.variant for e in parsed.entries} == {None, *LIST_CROPS}
    imported = run("--db", db_url, "--as", "alice", "hashes", "import", str(listed))
    assert imported.exit_code == 0, imported.output

    store = open_store(db_url)
    try:
        stored = list(iter_known_hashes(store))
        assert {(r.label, r.variant) for r in stored} >= {
            ("item-1.png", None), ("item-1.png", "crop-centre-90")}
        matcher = build_matcher(store)
    finally:
        store.close()
    copy = hash_image(encode(crop_sides(photo(1), 0.05), "jpeg"))
    best = matcher.match(copy)[0]
    assert (best.label, best.known_variant, best.tier) == ("item-1.png", "crop-centre-90", "high")
    assert {m.label for m in matcher.match(copy)} == {"item-1.png"}
    # The saved matcher file carries the variants too.
    again = Matcher.load(tmp_path / "m.bin") if matcher.save(tmp_path / "m.bin") else None
    assert again is not None
    assert again.match(copy)[0].known_variant == "crop-centre-90"


def test_a_bad_variant_name_is_refused_with_its_line(tmp_path: Path) -> None:
    listed = tmp_path / "bad.csv"
    listed.write_text("hash_type,hash,label,variant\n"
                      f"pdq,{'a' * 64},x,crop-centre-90\n"
                      f"pdq,{'b' * 64},x,crop centre; 90\n", encoding="utf-8")
    with pytest.raises(ListFormatError, match=r"line 3.*variant"):
        parse_known_list(listed)


def test_a_matcher_built_from_refs_keeps_the_variant(tmp_path: Path) -> None:
    value = "f" * 64
    matcher = Matcher.build([KnownRef(1, "l", "pdq", "0" * 64, "item"),
                             KnownRef(2, "l", "pdq", value, "item", variant="trim")])
    path = tmp_path / "m.bin"
    matcher.save(path)
    found = Matcher.load(path)._table.ref(1)  # rows: sorted by type, item, id
    assert (found.id, found.variant) == (2, "trim")


def test_migration_0006_upgrades_a_0005_database_holding_rows(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0005")
            # No explicit ids: PostgreSQL's sequences must stay in step for the import below.
            conn.execute(sa.text(
                "INSERT INTO known_lists (name, format, imported_at, entry_count, "
                "duplicate_count) VALUES ('iwf', 'csv', :t, 2, 0)"), {"t": T})
            for hash_type, value in (("md5", "1" * 32), ("pdq", "3" * 64)):
                conn.execute(sa.text(
                    "INSERT INTO known_hashes (list_id, hash_type, value, label, category) "
                    "SELECT id, :type, :value, 'item-1', 'A1' FROM known_lists"),
                    {"type": hash_type, "value": value})
            conn.execute(sa.text(
                "INSERT INTO media (url, url_key, host, sha256, md5, sha1, pdq, fetch_status, "
                "first_seen, last_seen) VALUES ('http://img.test/a.jpg', :key, 'img.test', "
                ":sha, :md5, :sha1, :pdq, 'ok', :t, :t)"),
                {"key": "a" * 64, "sha": "2" * 64, "md5": "1" * 32, "sha1": "4" * 40,
                 "pdq": "3" * 64, "t": T})
            conn.execute(sa.text(
                "INSERT INTO observations (media_id, page_url, page_key, seen_at) "
                "SELECT id, 'http://site.test/', :key, :t FROM media"), {"key": "b" * 64, "t": T})
    finally:
        store.close()
    store = open_store(fresh_db_url)  # upgrades to the head
    try:
        assert schema_revision(store) == HEAD_REVISION
        rows = list(iter_known_hashes(store))
        assert [(r.hash_type, r.label, r.category, r.variant) for r in rows] == [
            ("md5", "item-1", "A1", None), ("pdq", "item-1", "A1", None)]
        (seen,) = list(iter_media_digests(store))
        assert (seen.url, seen.pdq, seen.variant_hashes) == ("http://img.test/a.jpg", "3" * 64,
                                                             None)
        import_known_list(store, name="iwf", fmt="csv", source_file=None, actor="alice",
                          entries=[KnownHashIn("pdq", "4" * 64, "item-1",
                                               variant="crop-centre-90")])
        assert [r.variant for r in iter_known_hashes(store)] == [None, None, "crop-centre-90"]
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0005")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("known_hashes")}
            count = conn.execute(sa.text("SELECT COUNT(*) FROM known_hashes")).scalar_one()
            media = conn.execute(sa.text("SELECT COUNT(*) FROM media")).scalar_one()
            seen = conn.execute(sa.text("SELECT COUNT(*) FROM observations")).scalar_one()
        assert "variant" not in columns
        assert (count, media, seen) == (3, 1, 1)
    finally:
        store.close()


def _phash_at(value: str, distance: int) -> str:
    bits = int(value, 16) ^ ((1 << distance) - 1)
    return f"{bits:016x}"


@pytest.mark.parametrize(("flatness", "found"), [(0.4, True), (0.95, False)])
def test_a_stored_crop_met_by_phash_alone_counts_on_a_photo_not_on_a_graphic(
    flatness: float, found: bool
) -> None:
    """A crop list stores ~22 crops per item, so a flat graphic's pHash meets one of them by
    chance far sooner than the item (a generated screenshot decoy did, at distance 6): on a
    graphic, a stored crop met by pHash or dHash alone is no match; PDQ, or the item's own
    hash, keeps it. On a photo pHash is trusted, so the crop is found."""
    from matchers.decision import CROP_VARIANT_PREFIX

    assert all(name.startswith(CROP_VARIANT_PREFIX) for name in LIST_CROPS)
    query = "8f3a5c7e1b2d4f60"
    crop = KnownRef(7, "l", "phash", _phash_at(query, 5), "item", variant="crop-centre-90")
    d = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                height=600, phash=query)
    matches = Matcher.build([crop]).match(d, flatness=flatness)
    assert bool(matches) is found
    if found:
        assert matches[0].known_variant == "crop-centre-90"
    # The item's own full-image hash, met the same way, stays a match on the graphic too.
    own = KnownRef(8, "l", "phash", _phash_at(query, 5), "item2")
    assert [m.known_id for m in Matcher.build([own]).match(d, flatness=flatness)] == [8]


def _pdq_at(value: str, distance: int) -> str:
    bits = int(value, 16) ^ ((1 << distance) - 1)
    return f"{bits:064x}"


@pytest.mark.parametrize("rows_per_crop", [1, 22])
@pytest.mark.parametrize(("flatness", "pdq_distance", "found"), [
    (0.95, 120, False),  # a graphic: pHash and dHash agreeing on one crop are not enough
    (0.95, 20, True),  # the same crop's PDQ within its threshold keeps it
    (0.4, 120, True),  # a photo: pHash is trusted
])
def test_a_stored_crop_met_by_phash_and_dhash_together_is_no_match_on_a_graphic(
    rows_per_crop: int, flatness: float, pdq_distance: int, found: bool
) -> None:
    """Two 64-bit hashes agreeing on the same stored crop do not make a graphic's match:
    bench/calib_crops.py (bench/RESULTS.md, branch gcrop11) found 416 unrelated (graphic,
    item) pairs among 1.1M with pHash <= 6 and dHash <= 8 on one crop (80 with dHash <= 4),
    most of them pie charts, banners and screenshots that share a layout. rows_per_crop=22:
    the item holds a real crop list's rows (66, more than MAX_ITEM_HASHES: one item all the
    same, its variant rows bounded by MAX_VARIANT_HASHES); 1: only the one crop's rows."""
    query, pdq = "8f3a5c7e1b2d4f60", "5a" * 32
    d = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                height=600, phash=query, dhash="13579bdf02468ace", pdq=pdq, pdq_quality=100)
    names = list(LIST_CROPS)[:rows_per_crop]
    refs = []
    for name in names:
        near = name == names[0]
        refs += [
            KnownRef(len(refs) + 1, "l", "phash", _phash_at(query, 5 if near else 40), "item",
                     variant=name),
            KnownRef(len(refs) + 2, "l", "dhash",
                     _phash_at(d.dhash or "", 3 if near else 40), "item", variant=name),
            KnownRef(len(refs) + 3, "l", "pdq", _pdq_at(pdq, pdq_distance if near else 128),
                     "item", variant=name),
        ]
    matches = Matcher.build(refs).match(d, flatness=flatness, pdq_dihedral=())
    assert bool(matches) is found
    if found:
        assert {m.known_variant for m in matches} == {names[0]}
        assert any(m.tier == "high" for m in matches)


# --- one item of a crop list is one item: one grade for all its matches ----------------------


def test_max_variant_hashes_is_what_one_image_of_a_crop_list_stores() -> None:
    """The bound is derived from the crops a list stores: PDQ, pHash and dHash (the most
    `trawl hash --variants crops` writes) of each crop and of the trim, and the canonical
    PDQ of the image, its trim and each canonical crop."""
    assert (len(LIST_CROPS) + 1) * 3 + len(LIST_CANON_CROPS) + 2 == MAX_VARIANT_HASHES


def test_a_crop_list_items_matches_carry_one_grade(held: Path) -> None:
    """A real crop list's item (70 rows: md5, PDQ, pHash and dHash of the image and of its 22
    crops) met by an off-centre crop through several crops and types: every match names the
    item, all carry one grade (its types corroborate each other), not one per row (before:
    pHash high, dHash low, each with its own confidence)."""
    made = run("hash", "--format", "csv", "--variants", "crops", "--type", "md5", "--type",
               "pdq", "--type", "phash", "--type", "dhash", str(held))
    rows = list(csv.DictReader(io.StringIO(made.output)))
    refs = [KnownRef(n, "l", r["hash_type"], r["hash"], r["label"], variant=r["variant"] or None)
            for n, r in enumerate(rows, 1)]
    mine = [ref.id for ref in refs if ref.label == "item-1.png"]
    assert len(mine) > MAX_ITEM_HASHES
    matcher = Matcher.build(refs)
    members = matcher._table.item(0)
    assert members is not None
    assert sorted(matcher._table.ref(int(r)).id for r in members) in (
        mine, [ref.id for ref in refs if ref.label == "item-2.png"])
    copy = hash_image(encode(crop_sides(photo(1), 0.05, left=0.2, top=0.7), "jpeg"))
    matches = matcher.match(copy)
    assert {m.label for m in matches} == {"item-1.png"}
    assert {m.hash_type for m in matches} >= {"phash", "dhash"}
    assert len({m.known_variant for m in matches}) > 1  # several stored crops met
    assert {(m.confidence, m.tier) for m in matches} == {(matches[0].confidence, "high")}
    for m in matches:
        assert m.corroborated_by == tuple(sorted({x.hash_type for x in matches} - {m.hash_type}))


@pytest.mark.parametrize("variant", [None, "crop-centre-90"])
@pytest.mark.parametrize(("images", "joined"), [(50, False), (2, True)])
def test_a_label_shared_by_100_rows_is_not_one_item(
    variant: str | None, images: int, joined: bool
) -> None:
    """50 images' PDQ and pHash under one label (a category, or a whole list under one name):
    100 rows, full-image or stored crops alike, are not one image's, so image 0's PDQ and
    image 1's pHash met by one query do not corroborate each other. Two images' four rows
    are joined (as a label over a few images always was)."""
    query, pdq = "8f3a5c7e1b2d4f60", "5a" * 32
    refs = []
    for i in range(images):
        refs += [
            KnownRef(2 * i + 1, "l", "pdq", _pdq_at(pdq, 3 if i == 0 else 128), "category-a",
                     variant=variant),
            KnownRef(2 * i + 2, "l", "phash", _phash_at(query, 2 if i == 1 else 40),
                     "category-a", variant=variant),
        ]
    d = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                height=600, phash=query, pdq=pdq, pdq_quality=100)
    matcher = Matcher.build(refs)
    assert (matcher._table.item(0) is not None) is joined
    matches = matcher.match(d, flatness=0.4, pdq_dihedral=())
    assert sorted((m.known_id, m.corroborated_by) for m in matches) == (
        [(1, ("phash",)), (4, ("pdq",))] if joined else [(1, ()), (4, ())])
    assert (len({m.confidence for m in matches}) == 1) is joined


def _stored_crops(first: int, query: str, near: int) -> list[KnownRef]:
    """Item "item"'s stored crops after `first` rows: a pHash `near` bits from `query` for the
    centre 90% crop (40 for the others) and a PDQ far from everything, per LIST_CROPS name."""
    refs: list[KnownRef] = []
    for name in LIST_CROPS:
        distance = near if name == "crop-centre-90" else 40
        refs += [KnownRef(first + len(refs) + 1, "l", "phash", _phash_at(query, distance),
                          "item", variant=name),
                 KnownRef(first + len(refs) + 2, "l", "pdq", "a5" * 32, "item", variant=name)]
    return refs


def test_an_item_whose_direct_hit_is_dropped_is_found_through_a_variant() -> None:
    """A graphic whose own pHash meets one of an item's stored crops by chance (a hit dropped:
    `_crop_by_weak_types_alone`) and whose trimmed picture meets the item's PDQ: the item is
    found through the trim. The dropped hit does not count as the image's own match, which
    would keep the whole item, now grouped with its crops, from variant matching."""
    query, pdq = "8f3a5c7e1b2d4f60", "5a" * 32
    refs = [KnownRef(1, "l", "md5", "1" * 32, "item"),
            KnownRef(2, "l", "pdq", _pdq_at(pdq, 20), "item")]
    refs += _stored_crops(len(refs), query, near=5)
    matcher = Matcher.build(refs)
    assert matcher._table.item(0) is not None
    d = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                height=600, phash=query, pdq=_pdq_at(pdq, 120), pdq_quality=100)
    trim = VariantHashes(name="trim", pdq=pdq, pdq_quality=100, phash=_phash_at(query, 30),
                         dhash="13579bdf02468ace", flatness=0.95, width=700, height=500)
    assert matcher.match(d, flatness=0.95, pdq_dihedral=(), variants=()) == []
    matches = matcher.match(d, flatness=0.95, pdq_dihedral=(), variants=[trim])
    assert [(m.known_id, m.transform, m.tier) for m in matches] == [(2, "trim", "high")]


def test_an_item_met_weakly_is_named_once_by_its_better_variant() -> None:
    """A photo whose own pHash meets one of an item's stored crops at the threshold, with
    its PDQ far from all the item's PDQs (a contradiction), and whose trimmed picture meets
    the item's own PDQ: the item is named once, through the trim, whose grade is higher
    (tests/test_crawl_variants.py's letterboxed copy). Without variants the weak crop match
    stands."""
    query, pdq = "8f3a5c7e1b2d4f60", "5a" * 32
    refs = [KnownRef(1, "l", "pdq", pdq, "item")]
    refs += _stored_crops(len(refs), query, near=6)
    matcher = Matcher.build(refs)
    d = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                height=600, phash=query, pdq=_pdq_at(pdq, 120), pdq_quality=100)
    trim = VariantHashes(name="trim", pdq=pdq, pdq_quality=100, phash=_phash_at(query, 30),
                         dhash="13579bdf02468ace", flatness=0.4, width=700, height=500)
    (direct,) = matcher.match(d, flatness=0.4, pdq_dihedral=(), variants=())
    assert (direct.known_variant, direct.transform, direct.tier) == ("crop-centre-90", None,
                                                                     "high")
    (best,) = matcher.match(d, flatness=0.4, pdq_dihedral=(), variants=[trim])
    assert (best.known_id, best.transform, best.tier) == (1, "trim", "high")
    assert best.confidence > direct.confidence
