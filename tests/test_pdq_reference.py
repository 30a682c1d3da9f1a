"""PDQ against Meta's published hashes (ThreatExchange test data, read-only, outside the repo)."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from matchers.decode import draft_scale
from matchers.hashing import hash_image
from matchers.hashtypes import PDQ_MATCH_THRESHOLD, PDQ_QUALITY_THRESHOLD
from tests.reference import PDQ_REFERENCE_DIR, SKIP_REASON

REFERENCE_DIR = PDQ_REFERENCE_DIR
CSV_PATH = REFERENCE_DIR / "PDQMD5TestData.csv"
META_TOLERANCE = 10  # Meta's bar: a correct PDQ implementation is within 10 bits of theirs
# Meta's hasher resizes images larger than this (nearest neighbour, to 512x512) before
# hashing; Trawl, like pdqhash and HMA, hashes the full image. At or below it both see the
# same pixels, so the hashes must agree bit for bit - which also pins the bit order.
META_DOWNSAMPLE_DIMS = 512


def _rows() -> list[tuple[str, str]]:
    if not CSV_PATH.is_file():
        return []
    with CSV_PATH.open(newline="") as fh:
        rows = [
            (row["FilePath"].split("/data/")[-1], row["Hash"])
            for row in csv.DictReader(fh)
            if len(row["Hash"]) == 64  # the MD5 rows are for videos
        ]
    return [(rel, value) for rel, value in rows if (REFERENCE_DIR / rel).is_file()]


ROWS = _rows()
pytestmark = pytest.mark.skipif(
    not ROWS,
    reason=SKIP_REASON,
)


def distance(a: str | None, b: str) -> int:
    assert a is not None
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_the_reference_set_is_all_there() -> None:
    assert len(ROWS) >= 15  # 12 bridge-mods images and 3 misc images; b.jpg has no image


@pytest.mark.parametrize(("rel", "expected"), ROWS, ids=[rel for rel, _ in ROWS])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_pdq_is_within_metas_tolerance(rel: str, expected: str, fast: bool) -> None:
    d = hash_image((REFERENCE_DIR / rel).read_bytes(), fast=fast)
    assert d.status == "ok", d.error
    assert distance(d.pdq, expected) <= META_TOLERANCE
    with Image.open(REFERENCE_DIR / rel) as img:
        reduced = fast and draft_scale(*img.size) > 1  # e.g. 512x512 is decoded at 256x256
        if max(img.size) <= META_DOWNSAMPLE_DIMS and not reduced:
            assert d.pdq == expected


def test_bit_order_matches_metas_hex() -> None:
    """small.jpg's hash has a recognisable run structure: any word or bit reversal breaks it."""
    rel, expected = next(row for row in ROWS if row[0].endswith("small.jpg"))
    assert expected.startswith("0007001f003f")
    assert hash_image((REFERENCE_DIR / rel).read_bytes()).pdq == expected


def test_edits_of_the_bridge_photo_match_the_original() -> None:
    """Meta's own edits (blur, contrast, sharpen, resize...) all stay within PDQ's threshold."""
    original = hash_image((REFERENCE_DIR / "bridge-mods" / "aaa-orig.jpg").read_bytes())
    for rel, _ in ROWS:
        if rel.startswith("bridge-mods/"):
            edited = hash_image((REFERENCE_DIR / rel).read_bytes())
            assert original.pdq is not None
            assert distance(edited.pdq, original.pdq) <= PDQ_MATCH_THRESHOLD, rel
            assert edited.pdq_quality is not None
            assert edited.pdq_quality >= PDQ_QUALITY_THRESHOLD
