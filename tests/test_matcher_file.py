"""A matcher built from column batches, saved and memory-mapped, answers as the one built."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from matchers import reftable
from matchers.decision import KnownRef, Matcher, MatcherBuilder
from matchers.digests import Digests
from matchers.matcherfile import FORMAT_VERSION, MatcherFileError, saved_stamp


def flipped(value: str, bits: int) -> str:
    width = len(value) * 4
    return format(int(value, 16) ^ ((1 << bits) - 1), f"0{width // 4}x")


def known_refs(seed: int = 3, items: int = 60) -> list[KnownRef]:
    """Items with md5 + pHash + PDQ each (some shared labels, some without), two lists."""
    rng = np.random.default_rng(seed)
    refs: list[KnownRef] = []
    for item in range(items):
        list_name = "iwf" if item % 3 else "ncmec"
        label = None if item % 7 == 0 else ("shared" if item % 11 == 0 else f"case-{item}.jpg")
        category = None if item % 2 else f"B{item % 3}"
        values = {
            "md5": bytes(rng.integers(0, 256, 16, dtype=np.uint8)).hex(),
            "phash": bytes(rng.integers(0, 256, 8, dtype=np.uint8)).hex(),
            "pdq": bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex(),
        }
        for number, (hash_type, value) in enumerate(values.items()):
            refs.append(KnownRef(1000 + 3 * item + number, list_name, hash_type, value,
                                 label, category))
    return refs


def queries(refs: list[KnownRef]) -> list[Digests]:
    by_label: dict[str | None, dict[str, str]] = {}
    out = []
    for ref in refs:
        item = f"{ref.list_name}/{ref.label}/{(ref.id - 1000) // 3}"
        by_label.setdefault(item, {})[ref.hash_type] = ref.value
    for number, values in enumerate(by_label.values()):
        base = Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                       height=600, pdq_quality=90, flatness=0.2)
        out.append(replace(
            base,
            md5=values["md5"] if number % 2 else "1" * 32,
            phash=flipped(values["phash"], number % 5),
            pdq=flipped(values["pdq"], number % 40),
        ))
    unrelated = Digests(md5="2" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=800,
                        height=600, phash="5" * 16, pdq="3" * 64, pdq_quality=90)
    return [*out, unrelated]


def answers(matcher: Matcher, digests: list[Digests]) -> list[list[object]]:
    return [matcher.match(d) for d in digests]


def built_in_batches(refs: list[KnownRef], batch: int, stamp: str | None = None) -> Matcher:
    names = sorted({ref.list_name for ref in refs})
    list_ids = {name: 10 + number for number, name in enumerate(names)}
    builder = MatcherBuilder({number: name for name, number in list_ids.items()}, capacity=7)
    for start in range(0, len(refs), batch):
        part = refs[start : start + batch]
        builder.add(
            ids=[r.id for r in part],
            list_ids=[list_ids[r.list_name] for r in part],
            hash_types=[r.hash_type for r in part],
            values=[r.value for r in part],
            labels=[r.label for r in part],
            categories=[r.category for r in part],
        )
    return builder.build(stamp=stamp)


def test_batches_build_the_same_matcher_as_refs() -> None:
    refs = known_refs()
    digests = queries(refs)
    expected = answers(Matcher.build(refs), digests)
    assert any(expected)
    assert not all(expected)
    assert answers(built_in_batches(refs, 17), digests) == expected
    assert answers(built_in_batches(refs[::-1], 1000), digests) == expected


def test_save_and_load_answer_identically(tmp_path: Path) -> None:
    refs = known_refs()
    digests = queries(refs)
    built = built_in_batches(refs, 50, stamp="db-1:7")
    path = tmp_path / "known.matcher"
    size = built.save(path)
    assert path.stat().st_size == size
    loaded = Matcher.load(path)
    assert loaded.stamp == "db-1:7" == saved_stamp(path)
    assert len(loaded) == len(built) == len(refs)
    assert answers(loaded, digests) == answers(built, digests)
    wider = Matcher.load(path, thresholds={"phash": 10}, dihedral=False)
    assert wider.thresholds["phash"] == 10
    assert answers(wider, digests) == answers(
        Matcher.build(refs, thresholds={"phash": 10}, dihedral=False), digests
    )


def test_large_lists_round_trip_with_multi_index_tables(tmp_path: Path) -> None:
    """Enough codes that pHash and PDQ get real chunk tables, not a scan."""
    rng = np.random.default_rng(5)
    n = 12_000
    values = {"phash": rng.integers(0, 256, (n, 8), dtype=np.uint8),
              "pdq": rng.integers(0, 256, (n, 32), dtype=np.uint8)}
    builder = MatcherBuilder({1: "big"}, capacity=10)
    for number, (hash_type, codes) in enumerate(values.items()):
        builder.add(ids=np.arange(n) + number * n + 1, list_ids=np.ones(n, np.int64),
                    hash_types=[hash_type] * n, values=[bytes(c).hex() for c in codes])
    built = builder.build(stamp="s")
    path = tmp_path / "big.matcher"
    built.save(path)
    loaded = Matcher.load(path)
    probes = [
        Digests(md5="0" * 32, sha1="0" * 40, sha256="0" * 64, size=1, width=500, height=500,
                phash=flipped(bytes(values["phash"][i]).hex(), i % 7),
                pdq=flipped(bytes(values["pdq"][i]).hex(), i % 33), pdq_quality=80)
        for i in range(0, n, 97)
    ]
    found = answers(built, probes)
    assert sum(len(f) for f in found) > len(probes)
    assert answers(loaded, probes) == found


def test_empty_matcher_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "empty.matcher"
    Matcher.empty().save(path)
    loaded = Matcher.load(path)
    assert len(loaded) == 0
    assert loaded.match(queries(known_refs(items=2))[0]) == []


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "known.matcher"
    Matcher.build(known_refs(items=3)).save(path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, FORMAT_VERSION + 1)
    path.write_bytes(bytes(data))
    with pytest.raises(MatcherFileError, match=f"format {FORMAT_VERSION + 1}.*must be rebuilt"):
        Matcher.load(path)
    with pytest.raises(MatcherFileError, match="format"):
        saved_stamp(path)


@pytest.mark.parametrize("keep", [0, 10, 100, -9, -1])
def test_truncated_file_is_refused(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "known.matcher"
    Matcher.build(known_refs(items=5)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(MatcherFileError, match=r"truncated|not a Trawl index"):
        Matcher.load(path)


def test_missing_or_foreign_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MatcherFileError, match="cannot open"):
        Matcher.load(tmp_path / "nothing.matcher")
    other = tmp_path / "other.matcher"
    other.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(MatcherFileError, match="not a Trawl index file"):
        Matcher.load(other)


def test_loaded_arrays_are_read_only(tmp_path: Path) -> None:
    path = tmp_path / "known.matcher"
    Matcher.build(known_refs(items=5)).save(path)
    loaded = Matcher.load(path)
    table = loaded._table
    assert not table.ids.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        table.ids[0] = 1


def test_bad_values_and_ids_name_the_known_hash() -> None:
    builder = MatcherBuilder({4: "iwf"})
    with pytest.raises(ValueError, match=r"known hash 9 in list 'iwf'.*not a valid pdq hash"):
        builder.add(ids=[8, 9], list_ids=[4, 4], hash_types=["pdq", "pdq"],
                    values=["ab" * 32, "ab" * 31 + "zz"])
    builder = MatcherBuilder({4: "iwf"})
    with pytest.raises(ValueError, match=r"known hash 9 in list 'iwf'.*unknown hash type"):
        builder.add(ids=[8, 9], list_ids=[4, 4], hash_types=["md5", "photodna"],
                    values=["ab" * 16, "ab" * 16])
    with pytest.raises(ValueError, match="list id 5"):
        MatcherBuilder({4: "iwf"}).add(ids=[1], list_ids=[5], hash_types=["md5"],
                                       values=["ab" * 16])
    builder = MatcherBuilder({4: "iwf"})
    builder.add(ids=[1, 1], list_ids=[4, 4], hash_types=["md5", "sha1"],
                values=["ab" * 16, "cd" * 20])
    with pytest.raises(ValueError, match="id 1 appears twice"):
        builder.build()


def test_upper_case_and_spaced_values_are_normalised() -> None:
    builder = MatcherBuilder({1: "l"})
    builder.add(ids=[1, 2], list_ids=[1, 1], hash_types=["PDQ", "md5"],
                values=[" " + "AB" * 32, "CD" * 16])
    matcher = builder.build()
    found = matcher.match(Digests(md5="cd" * 16, sha1="0" * 40, sha256="0" * 64, size=1,
                                  pdq="ab" * 32, pdq_quality=100, width=100, height=100))
    assert sorted((m.hash_type, m.value) for m in found) == [("md5", "cd" * 16),
                                                             ("pdq", "ab" * 32)]


def test_label_hash_collisions_do_not_join_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one bit of label hash nearly every label collides; grouping must not change."""
    refs = known_refs(items=30)
    digests = queries(refs)
    expected = answers(Matcher.build(refs), digests)
    monkeypatch.setattr(reftable, "_LABEL_BITS", 1)
    assert answers(Matcher.build(refs), digests) == expected
