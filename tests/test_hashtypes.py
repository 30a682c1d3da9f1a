"""The hash-type registry: names, widths, thresholds and strict hex parsing."""

from __future__ import annotations

import csv
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from matchers.hashtypes import (
    EXACT_TYPES,
    HASH_TYPES,
    PDQ_MATCH_THRESHOLD,
    PDQ_QUALITY_THRESHOLD,
    PERCEPTUAL_TYPES,
    PHASH_MATCH_THRESHOLD,
    HashType,
    build_registry,
    get_hash_type,
)
from tests.reference import PDQ_REFERENCE_DIR, SKIP_REASON

PDQ_REFERENCE = PDQ_REFERENCE_DIR


def test_registry_has_the_six_types() -> None:
    assert list(HASH_TYPES) == ["md5", "sha1", "sha256", "phash", "dhash", "pdq"]
    assert {name: t.bits for name, t in HASH_TYPES.items()} == {
        "md5": 128,
        "sha1": 160,
        "sha256": 256,
        "phash": 64,
        "dhash": 64,
        "pdq": 256,
    }
    assert EXACT_TYPES == ("md5", "sha1", "sha256")
    assert PERCEPTUAL_TYPES == ("phash", "dhash", "pdq")


def test_thresholds() -> None:
    assert PDQ_MATCH_THRESHOLD == 31
    assert PDQ_QUALITY_THRESHOLD == 50
    assert HASH_TYPES["pdq"].default_threshold == PDQ_MATCH_THRESHOLD
    assert HASH_TYPES["pdq"].quality_threshold == PDQ_QUALITY_THRESHOLD
    assert HASH_TYPES["phash"].default_threshold == PHASH_MATCH_THRESHOLD
    # pHash puts unrelated flat graphics a few bits apart: the default must stay tight.
    assert 4 <= PHASH_MATCH_THRESHOLD <= 8
    for name in EXACT_TYPES:
        assert HASH_TYPES[name].default_threshold == 0
        assert HASH_TYPES[name].kind == "exact"
        assert HASH_TYPES[name].quality_threshold is None


def test_get_hash_type_is_case_insensitive_and_lists_known_names() -> None:
    assert get_hash_type(" PDQ ") is HASH_TYPES["pdq"]
    with pytest.raises(ValueError, match="unknown hash type 'photodna'") as info:
        get_hash_type("photodna")
    for name in HASH_TYPES:
        assert name in str(info.value)


def test_registry_refuses_duplicate_names() -> None:
    twin = HashType("md5", 128, "exact", 0, "another md5")
    with pytest.raises(ValueError, match=r"two hash types .* 'md5'"):
        build_registry([HASH_TYPES["md5"], twin])
    with pytest.raises(ValueError, match="lowercase identifier"):
        build_registry([HashType("Bad Name", 64, "perceptual", 4, "x")])


def test_a_new_type_is_one_value() -> None:
    vpdq_frame = HashType("vpdq", 256, "perceptual", 31, "vPDQ frame", quality_threshold=50)
    registry = build_registry([*HASH_TYPES.values(), vpdq_frame])
    assert registry["vpdq"].parse("AB" * 32) == "ab" * 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 60}, "multiple of 8"),
        ({"kind": "exact", "default_threshold": 3}, "distance 0 only"),
        ({"default_threshold": 64}, "threshold outside"),
    ],
)
def test_hash_type_validates_its_definition(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "x",
        "bits": 64,
        "kind": "perceptual",
        "default_threshold": 4,
        "description": "x",
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        HashType(**fields)  # type: ignore[arg-type]


def test_parse_normalises() -> None:
    md5 = HASH_TYPES["md5"]
    assert md5.parse("  D41D8CD98F00B204E9800998ECF8427E\t") == "d41d8cd98f00b204e9800998ecf8427e"
    assert md5.is_valid("d41d8cd98f00b204e9800998ecf8427e")
    assert not md5.is_valid("D41D8CD98F00B204E9800998ECF8427E")  # not normalised


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("d41d8cd98f00b204e9800998ecf8427", "has 31 hex characters, want 32"),
        ("d41d8cd98f00b204e9800998ecf8427e0", "has 33 hex characters, want 32"),
        ("g41d8cd98f00b204e9800998ecf8427e", "non-hex characters 'g'"),
        ("0xd41d8cd98f00b204e9800998ecf842", "non-hex characters 'x'"),
        ("", "empty value"),
        ("   ", "empty value"),
    ],
)
def test_parse_errors_name_the_value(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        HASH_TYPES["md5"].parse(text)
    if text.strip():
        assert repr(text) in str(info.value)


def test_long_bad_values_are_shortened_in_messages() -> None:
    with pytest.raises(ValueError, match=r"\.\.\. \(100000 characters\)") as info:
        HASH_TYPES["pdq"].parse("z" * 100_000)
    assert len(str(info.value)) < 300


def test_bytes_round_trip_and_distance() -> None:
    pdq = HASH_TYPES["pdq"]
    value = "f" * 62 + "00"
    assert pdq.format(pdq.to_bytes(value)) == value
    assert pdq.distance(value, "f" * 64) == 8
    assert HASH_TYPES["phash"].distance("0000000000000000", "8000000000000001") == 2
    with pytest.raises(ValueError, match="32 bytes, got 8 bytes"):
        pdq.format(bytes(8))


def _generated_image() -> Image.Image:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((128, 128), Image.Resampling.BICUBIC)


def test_widths_match_the_real_hashers() -> None:
    image = _generated_image()
    assert HASH_TYPES["phash"].parse(str(imagehash.phash(image)))
    assert HASH_TYPES["dhash"].parse(str(imagehash.dhash(image)))
    bits, quality = pdqhash.compute(np.asarray(image))
    assert len(bits) == HASH_TYPES["pdq"].bits
    assert 0 <= quality <= 100
    value = np.packbits(bits.astype(np.uint8)).tobytes().hex()
    assert HASH_TYPES["pdq"].parse(value) == value


def test_meta_reference_edits_match_within_the_pdq_threshold() -> None:
    table = PDQ_REFERENCE / "PDQMD5TestData.csv"
    if not table.exists():
        pytest.skip(SKIP_REASON)
    pdq = HASH_TYPES["pdq"]
    with table.open(newline="") as handle:
        rows = [(Path(r["FilePath"]), r["Hash"]) for r in csv.DictReader(handle)]
    hashes = {p.name: pdq.parse(h) for p, h in rows if len(h) == pdq.hex_length}
    edits = [p.name for p, _ in rows if p.parent.name == "bridge-mods"]
    original = hashes["aaa-orig.jpg"]
    assert len(edits) == 12
    for name in edits:
        assert pdq.distance(original, hashes[name]) <= PDQ_MATCH_THRESHOLD, name
    for unrelated in ("c.png", "small.jpg", "wee.jpg"):
        assert pdq.distance(original, hashes[unrelated]) > PDQ_MATCH_THRESHOLD, unrelated
