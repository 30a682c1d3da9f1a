"""Indexes return exactly what brute force returns, on random and clustered codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.index import (
    BruteForceIndex,
    ExactIndex,
    HammingIndex,
    brute_force_search,
    codes_to_hex,
    hex_to_codes,
)
from matchers.mih import SMALL_INDEX_BYTES, choose_chunks, chunk_widths, probe_radii


def flip(code: np.ndarray, bits: list[int]) -> np.ndarray:
    out = code.copy()
    for bit in bits:
        out[bit // 8] ^= 0x80 >> (bit % 8)
    return out


def random_codes(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    return rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)


def clustered_codes(
    rng: np.random.Generator, n: int, bits: int, centres: int, spread: int
) -> np.ndarray:
    """Near-duplicates: each code is a centre with up to `spread` random bits flipped."""
    base = random_codes(rng, centres, bits)
    rows = base[rng.integers(0, centres, n)]
    for row in rows:
        for bit in rng.choice(bits, rng.integers(0, spread + 1), replace=False):
            row[bit // 8] ^= 0x80 >> (bit % 8)
    return rows


def queries_near(
    rng: np.random.Generator, codes: np.ndarray, count: int, spread: int
) -> np.ndarray:
    bits = codes.shape[1] * 8
    picked = codes[rng.integers(0, len(codes), count)]
    flips = [list(rng.choice(bits, rng.integers(0, spread + 1), replace=False)) for _ in picked]
    return np.array([flip(q, f) for q, f in zip(picked, flips, strict=True)])


def assert_same_as_brute_force(
    index: HammingIndex, codes: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int
) -> int:
    many = index.search_many(queries, radius)
    found = 0
    for query, batch in zip(queries, many, strict=True):
        expected = brute_force_search(codes, query, radius, ids=ids)
        assert index.search(query.tobytes(), radius) == expected
        assert index.search(query, radius) == expected  # an array row takes the general path
        assert batch == expected
        found += len(expected)
    return found


# --- hex <-> codes ------------------------------------------------------------------


def test_hex_round_trip_keeps_bit_order() -> None:
    values = ["8000000000000001", "00ff00ff00ff00ff", "FFFFFFFFFFFFFFFF"]
    codes = hex_to_codes(values, 64)
    assert codes.dtype == np.uint8
    assert codes.shape == (3, 8)
    assert codes[0].tolist() == [0x80, 0, 0, 0, 0, 0, 0, 1]
    assert codes_to_hex(codes) == [v.lower() for v in values]


def test_hex_to_codes_empty() -> None:
    assert hex_to_codes([], 256).shape == (0, 32)
    assert codes_to_hex(np.empty((0, 32), dtype=np.uint8)) == []


@pytest.mark.parametrize(
    "bad", ["abc", "0123456789abcdeg", "0123456789abcdef0", "01234567 9abcdef", ""]
)
def test_hex_to_codes_names_the_bad_value(bad: str) -> None:
    with pytest.raises(ValueError, match=r"value 1 .* not a 64-bit hash") as info:
        hex_to_codes(["0123456789abcdef", bad, "0123456789abcdef"], 64)
    assert repr(bad) in str(info.value)


def test_codes_to_hex_rejects_non_uint8() -> None:
    with pytest.raises(ValueError, match="uint8"):
        codes_to_hex(np.zeros((2, 8), dtype=np.int64))


# --- brute force ----------------------------------------------------------------------


def test_brute_force_distances_and_order() -> None:
    zero = np.zeros(8, dtype=np.uint8)
    codes = np.array([flip(zero, [0, 1, 2]), zero, flip(zero, [63]), flip(zero, list(range(10)))])
    ids = np.array([30, 10, 20, 40])
    assert brute_force_search(codes, zero.tobytes(), 3, ids=ids) == [(10, 0), (20, 1), (30, 3)]
    assert brute_force_search(codes, zero, 2) == [(1, 0), (2, 1)]
    assert brute_force_search(codes, zero, 64, ids=ids)[-1] == (40, 10)


def test_brute_force_rejects_mismatched_query() -> None:
    codes = np.zeros((3, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        brute_force_search(codes, b"\x00" * 32, 3)
    with pytest.raises(ValueError, match="one id per code"):
        brute_force_search(codes, b"\x00" * 8, 3, ids=[1, 2])
    with pytest.raises(ValueError, match="radius"):
        brute_force_search(codes, b"\x00" * 8, -1)


# --- chunk planning -------------------------------------------------------------------


def test_probe_radii_satisfy_pigeonhole() -> None:
    for chunks in range(1, 20):
        for radius in range(0, 70):
            reach = probe_radii(chunks, radius)
            assert sum(s + 1 for s in reach) == radius + 1
            assert reach == sorted(reach, reverse=True)
            assert min(reach) >= -1


def test_chunk_widths_cover_all_bits() -> None:
    for bits in (64, 144, 256):
        for chunks in range(3, 20):
            widths = chunk_widths(bits, chunks)
            assert sum(widths) == bits
            assert max(widths) - min(widths) <= 1


def test_chosen_chunking_for_the_targets() -> None:
    # The configurations bench/bench_matching.py measures (see bench/RESULTS.md).
    assert choose_chunks(64, 8, 1_000_000) == 3
    assert choose_chunks(256, 31, 1_000_000) == 14
    assert choose_chunks(256, 31, 10_000_000) == 12


# --- HammingIndex == brute force ------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "radius", "chunks"),
    [(64, 6, None), (64, 8, None), (64, 8, 3), (256, 31, None), (256, 31, 14), (144, 10, None)],
)
def test_index_equals_brute_force_on_random_codes(
    bits: int, radius: int, chunks: int | None
) -> None:
    rng = np.random.default_rng(bits + radius)
    codes = random_codes(rng, 10_000, bits)
    ids = rng.permutation(10**6)[:10_000]
    index = HammingIndex(bits, radius_hint=radius, chunks=chunks)
    index.add(ids, codes)
    assert index.chunk_widths  # large enough to be served by tables, not a scan
    near = queries_near(rng, codes, 40, radius + 3)
    queries = np.concatenate([near, random_codes(rng, 20, bits)])
    assert assert_same_as_brute_force(index, codes, ids, queries, radius) >= 20


@pytest.mark.parametrize(("bits", "radius"), [(64, 8), (256, 31)])
def test_index_equals_brute_force_on_clustered_codes(bits: int, radius: int) -> None:
    rng = np.random.default_rng(7)
    codes = clustered_codes(rng, 10_000, bits, centres=40, spread=radius // 2)
    ids = np.arange(10_000) + 5
    index = HammingIndex(bits)
    index.add(ids, codes)
    assert index.chunk_widths
    queries = queries_near(rng, codes, 30, radius // 2)
    # Near a cluster centre many codes are within the radius: all must come back.
    assert assert_same_as_brute_force(index, codes, ids, queries, radius) > 30 * 10


def test_exact_radius_boundary_and_zero() -> None:
    rng = np.random.default_rng(3)
    bits = 256
    query = random_codes(rng, 1, bits)[0]
    at = [flip(query, list(rng.choice(bits, d, replace=False))) for d in (0, 30, 31, 32, 33)]
    codes = np.concatenate([random_codes(rng, 4000, bits), np.array(at)])
    ids = np.arange(len(codes))
    index = HammingIndex(bits)
    index.add(ids, codes)
    found = index.search(query.tobytes(), 31)
    assert found == [(4000, 0), (4001, 30), (4002, 31)]
    assert index.search(query.tobytes(), 0) == [(4000, 0)]
    assert index.search(query.tobytes(), 32)[-1] == (4003, 32)


def test_duplicate_codes_are_all_returned() -> None:
    rng = np.random.default_rng(4)
    codes = random_codes(rng, 10_000, 64)
    codes[100] = codes[200] = codes[300] = codes[0]
    index = HammingIndex(64)
    index.add(np.arange(10_000), codes)
    assert index.chunk_widths
    assert [i for i, d in index.search(codes[0].tobytes(), 0)] == [0, 100, 200, 300]
    assert all(d == 0 for _, d in index.search(codes[0].tobytes(), 0))


def test_empty_index_and_small_index() -> None:
    empty = HammingIndex(256)
    assert len(empty) == 0
    assert empty.search(b"\x00" * 32, 31) == []
    assert empty.search_many(np.zeros((3, 32), dtype=np.uint8), 31) == [[], [], []]
    small = HammingIndex(64)
    small.add([9], np.zeros((1, 8), dtype=np.uint8))
    assert small.chunk_widths == []  # below SMALL_INDEX_BYTES: scanned, no tables
    assert small.search(bytes(8), 0) == [(9, 0)]
    assert small.search(b"\x01" + bytes(7), 0) == []


def test_add_after_search_rebuilds() -> None:
    rng = np.random.default_rng(5)
    size = SMALL_INDEX_BYTES // 8  # just large enough for tables
    first, second = random_codes(rng, size, 64), random_codes(rng, 1000, 64)
    index = HammingIndex(64)
    index.add(np.arange(size), first)
    assert index.chunk_widths
    assert index.search(second[0].tobytes(), 0) == []
    index.add(np.arange(1000) + 10**9, second)
    assert len(index) == size + 1000
    assert index.search(second[0].tobytes(), 0) == [(10**9, 0)]
    assert index.search(first[0].tobytes(), 0) == [(0, 0)]


def test_large_ids_are_kept_exactly() -> None:
    rng = np.random.default_rng(6)
    codes = random_codes(rng, 10_000, 64)
    ids = np.arange(10_000, dtype=np.int64) + 2**40
    index = HammingIndex(64)
    index.add(ids, codes)
    assert index.search(codes[17].tobytes(), 0) == [(2**40 + 17, 0)]


def test_radius_far_beyond_the_hint_falls_back_to_a_scan() -> None:
    rng = np.random.default_rng(8)
    codes = random_codes(rng, 10_000, 64)
    index = HammingIndex(64, radius_hint=4)
    index.add(np.arange(10_000), codes)
    assert index.chunk_widths
    query = codes[0]
    expected = brute_force_search(codes, query, 26)
    assert len(expected) > 1
    assert index.search(query, 26) == expected
    assert index.search_many(codes[:3], 26)[0] == expected


def test_index_rejects_bad_input() -> None:
    index = HammingIndex(64)
    with pytest.raises(ValueError, match="one id per code"):
        index.add([1, 2], np.zeros((3, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        index.add([1], np.zeros((1, 32), dtype=np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        index.add([1], np.zeros((1, 8), dtype=np.int64))
    with pytest.raises(ValueError, match="radius"):
        index.search(bytes(8), -1)
    with pytest.raises(ValueError, match="multiple of 8"):
        HammingIndex(60)
    with pytest.raises(ValueError, match="chunks"):
        HammingIndex(256, chunks=2)


def test_nbytes_counts_the_tables() -> None:
    rng = np.random.default_rng(9)
    index = HammingIndex(256)
    index.add(np.arange(5000), random_codes(rng, 5000, 256))
    chunks = len(index.chunk_widths)
    # codes + int32 ids + int32 postings for chunks 1.. + offsets
    assert index.nbytes >= 5000 * (32 + 4 + 4 * (chunks - 1))


@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([64, 128, 256]),
    extra_chunks=st.integers(min_value=-1, max_value=8),
    radius=st.integers(min_value=0, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    clustered=st.booleans(),
)
def test_index_equals_brute_force_property(
    bits: int, extra_chunks: int, radius: int, seed: int, clustered: bool
) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 600))
    if clustered:
        codes = clustered_codes(rng, n, bits, centres=int(rng.integers(1, 8)), spread=radius)
    else:
        codes = random_codes(rng, n, bits)
    ids = rng.integers(-(2**62), 2**62, n)
    # Chunks of at most 16 bits keep these tiny tables tiny; -1 means "let the index choose".
    chunks = None if extra_chunks < 0 else bits // 16 + extra_chunks
    index = HammingIndex(bits, chunks=chunks)
    index.add(ids, codes)
    queries = np.concatenate([queries_near(rng, codes, 5, radius + 2), random_codes(rng, 2, bits)])
    assert_same_as_brute_force(index, codes, ids, queries, radius)


def test_brute_force_index_matches_function() -> None:
    rng = np.random.default_rng(10)
    codes = random_codes(rng, 500, 64)
    index = BruteForceIndex(64)
    index.add(np.arange(500), codes)
    assert len(index) == 500
    assert index.search(codes[3], 12) == brute_force_search(codes, codes[3], 12)
    assert index.search_many(codes[:2], 12)[1] == brute_force_search(codes, codes[1], 12)


# --- ExactIndex -----------------------------------------------------------------------


def test_exact_index_lookup() -> None:
    rng = np.random.default_rng(11)
    codes = random_codes(rng, 5000, 256)
    codes[10] = codes[20]  # one digest in two lists
    twin = codes[30].copy()
    twin[-1] ^= 1  # same 8-byte prefix, different digest
    codes[40] = twin
    index = ExactIndex(256)
    index.add(np.arange(5000) * 2, codes)
    assert index.lookup(codes[20].tobytes()) == [20, 40]
    assert index.lookup(codes[30]) == [60]
    assert index.lookup(twin) == [80]
    assert index.search(codes[7].tobytes()) == [(14, 0)]
    assert index.lookup(random_codes(rng, 1, 256)[0]) == []
    assert codes[7].tobytes() in index
    assert len(index) == 5000
    with pytest.raises(ValueError, match="distance 0"):
        index.search(codes[7].tobytes(), 1)


def test_exact_index_empty_and_incremental() -> None:
    index = ExactIndex(128)
    assert index.lookup(bytes(16)) == []
    index.add([1], hex_to_codes(["d41d8cd98f00b204e9800998ecf8427e"], 128))
    assert index.lookup(bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")) == [1]
    index.add([2], hex_to_codes(["d41d8cd98f00b204e9800998ecf8427e"], 128))
    assert index.lookup(bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")) == [1, 2]
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        index.lookup(bytes(20))


def test_hex_to_codes_infers_width_from_first_value() -> None:
    assert hex_to_codes(["00ff", "ff00"]).tolist() == [[0, 255], [255, 0]]
    with pytest.raises(ValueError, match="value 1"):
        hex_to_codes(["00ff", "ff00aa"])
    with pytest.raises(ValueError, match="pass bits"):
        hex_to_codes([])


# --- verifying only rows two chunks agree on; saving and restoring the tables -----------


def test_probe_radii_for_two_hits_satisfy_pigeonhole() -> None:
    for chunks in range(2, 20):
        for radius in range(0, 70):
            reach = probe_radii(chunks, radius, min_hits=2)
            # A code missed by all but one chunk is at least this far away:
            assert sum(sorted(s + 1 for s in reach)[: chunks - 1]) >= radius + 1
            assert reach == sorted(reach, reverse=True)
    with pytest.raises(ValueError, match="min_hits"):
        probe_radii(4, 8, min_hits=5)


def _two_hit_index(bits: int, radius: int, clustered: bool, *, seed: int) -> tuple[Any, ...]:
    """8,000 random or clustered codes indexed for radius: (rng, codes, ids, index, tables)."""
    rng = np.random.default_rng(seed)
    codes = (clustered_codes(rng, 8_000, bits, centres=30, spread=radius // 2) if clustered
             else random_codes(rng, 8_000, bits))
    ids = rng.permutation(10**6)[:8_000]
    index = HammingIndex(bits, radius_hint=radius)
    index.add(ids, codes)
    return rng, codes, ids, index, index._built()


@pytest.mark.parametrize("few_rows", [0, 64, 10**9])  # verified by numpy / Python ints
# Rows seen twice found by the stamp table (2**18 slots: no two of 8,000 rows share one; 2**3:
# nearly every entry a false alarm) or by sorting (no search small enough to stamp).
@pytest.mark.parametrize(("stamp_bits", "stamp_max"), [(18, 1 << 16), (3, 1 << 16), (18, 0)])
@pytest.mark.parametrize(("bits", "radius", "clustered"),
                         [(256, 31, False), (256, 31, True), (128, 12, False), (256, 5, True)])
def test_two_hit_search_equals_brute_force(
    bits: int, radius: int, clustered: bool, few_rows: int, stamp_bits: int, stamp_max: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from matchers import mih

    monkeypatch.setattr(mih, "_FEW_ROWS", few_rows)
    monkeypatch.setattr(mih, "_STAMP_BITS", stamp_bits)
    monkeypatch.setattr(mih, "_STAMP_MAX_ENTRIES", stamp_max)
    # numpy's path, as without scipy's copier (its own test below)
    monkeypatch.setattr(mih, "_copier_looked_up", True)
    monkeypatch.setattr(mih, "_copier", None)
    rng, codes, ids, index, tables = _two_hit_index(bits, radius, clustered, seed=radius)
    plan = index._plan(tables, radius, 2)
    assert plan is not None
    assert plan.min_hits == 2
    tables.plans[radius, 0] = plan  # what search() uses for one query
    near = queries_near(rng, codes, 30, radius + 2)
    for query in np.concatenate([near, random_codes(rng, 10, bits)]):
        expected = brute_force_search(codes, query, radius, ids=ids)
        assert index.search(query.tobytes(), radius) == expected


@pytest.mark.parametrize("few_rows", [0, 64])  # verified by numpy / Python ints
@pytest.mark.parametrize(("bits", "radius", "clustered"),
                         [(256, 31, False), (256, 31, True), (128, 12, False), (256, 5, True)])
def test_two_hit_search_with_compiled_copy_equals_brute_force(
    bits: int, radius: int, clustered: bool, few_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bucket entries copied by scipy's csr_row_index, rows seen twice found by sorting."""
    from matchers import mih

    assert mih._bucket_copier() is not None  # scipy is installed: this is the path taken
    monkeypatch.setattr(mih, "_FEW_ROWS", few_rows)
    rng, codes, ids, index, tables = _two_hit_index(bits, radius, clustered, seed=radius + 1)
    assert tables.copyable
    plan = index._plan(tables, radius, 2)
    assert plan is not None
    tables.plans[radius, 0] = plan
    calls = []
    copier = mih._bucket_copier()
    monkeypatch.setattr(mih, "_copier", lambda *args: calls.append(1) or copier(*args))
    near = queries_near(rng, codes, 30, radius + 2)
    for query in np.concatenate([near, random_codes(rng, 10, bits)]):
        expected = brute_force_search(codes, query, radius, ids=ids)
        assert index.search(query.tobytes(), radius) == expected
    assert calls  # the compiled copy ran


def test_tables_of_mixed_integer_types_are_not_given_to_the_copier() -> None:
    """scipy's copier would convert a whole array per call: such tables use numpy's path."""
    from matchers import mih

    rng = np.random.default_rng(3)
    codes = random_codes(rng, 5_000, 256)
    index = HammingIndex(256, radius_hint=31)
    index.add(np.arange(5_000), codes)
    t = index._built()
    index._tables = mih._Tables(t.ids, t.words, t.widths, t.starts, t.offsets.astype(np.int64),
                                t.postings, t.inline)
    assert not index._tables.copyable
    index._tables.plans[31, 0] = index._plan(index._tables, 31, 2)
    for query in queries_near(rng, codes, 10, 33):
        assert index.search(query.tobytes(), 31) == brute_force_search(codes, query, 31)


def test_stamped_twice_finds_every_repeated_row() -> None:
    """Whichever entry keeps a slot, every row seen twice is flagged, in any table size."""
    from matchers import mih

    rng = np.random.default_rng(5)
    for stamp_bits in (1, 4, 12, 18, 20):
        mih._scratch.stamps = None  # a fresh table of this size
        try:
            for _ in range(200):
                rows = rng.integers(0, 1 << 22, int(rng.integers(1, 3000)), dtype=np.int32)
                rows[rng.integers(0, len(rows), len(rows) // 10)] = rows[0]  # some repeats
                rows = rng.permutation(rows)
                values, counts = np.unique(rows, return_counts=True)
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(mih, "_STAMP_BITS", stamp_bits)
                    flagged = set(mih._stamped_twice(rows).tolist())
                assert set(values[counts > 1].tolist()) <= flagged <= set(rows.tolist())
        finally:
            mih._scratch.stamps = None


def test_large_pdq_index_verifies_rows_two_chunks_agree_on() -> None:
    """The cost model picks the two-hit plan where it pays: PDQ at 10M (12 chunks)."""
    index = HammingIndex(256, radius_hint=31, chunks=12)
    index.add(np.arange(3), random_codes(np.random.default_rng(1), 3, 256))
    tables = index._built()
    fake_n = np.zeros(10_000_000, np.int32)  # only the count matters to the estimate
    tables.ids = fake_n
    plan = index._single_plan(tables, 31)
    assert plan is not None
    assert plan.min_hits == 2


@pytest.mark.parametrize(("bits", "n", "chunks"), [(64, 20_000, None), (256, 5_000, None),
                                                  (256, 5_000, 13), (64, 100, None)])
def test_export_and_restore_answer_identically(bits: int, n: int, chunks: int | None) -> None:
    rng = np.random.default_rng(n)
    codes = random_codes(rng, n, bits)
    index = HammingIndex.from_codes(bits, np.arange(n) * 3, codes)
    if chunks is not None:
        index = HammingIndex(bits, chunks=chunks)
        index.add(np.arange(n) * 3, codes)
    meta, arrays = index.export()
    frozen = {name: array.copy() for name, array in arrays.items()}
    for array in frozen.values():
        array.flags.writeable = False  # as when memory-mapped
    restored = HammingIndex.restore(meta, frozen)
    assert restored.chunk_widths == index.chunk_widths
    queries = np.concatenate([queries_near(rng, codes, 20, bits // 8), random_codes(rng, 5, bits)])
    radius = bits // 8
    for query in queries:
        assert restored.search(query.tobytes(), radius) == index.search(query.tobytes(), radius)
    assert restored.search_many(queries, radius) == index.search_many(queries, radius)


def test_exact_index_export_and_restore() -> None:
    rng = np.random.default_rng(3)
    codes = random_codes(rng, 1000, 128)
    index = ExactIndex.from_codes(128, np.arange(1000) + 7, codes)
    restored = ExactIndex.restore(*index.export())
    for row in (0, 500, 999):
        assert restored.lookup(codes[row].tobytes()) == [row + 7]
    assert restored.lookup(bytes(16)) == []


@pytest.mark.parametrize(("bits", "radius", "clustered"),
                         [(256, 31, False), (256, 31, True), (128, 12, False), (256, 5, True),
                          (64, 6, False)])
def test_search_each_equals_one_search_per_code(
    bits: int, radius: int, clustered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A match's eight orientations searched in one pass: the same lists, in the same order,
    as one search per code (and as brute force), near codes and far ones mixed in a batch;
    where the batched path does not apply (one-word codes, no two-hit plan) it falls back."""
    from matchers import mih

    rng, codes, ids, index, tables = _two_hit_index(bits, radius, clustered, seed=radius + 7)
    plan = index._plan(tables, radius, 2)
    if plan is not None and tables.inline is None:
        tables.plans[radius, 0] = plan  # the two-hit plan, as a large index would choose
    passes = []
    copier = mih._bucket_copier()
    monkeypatch.setattr(mih, "_copier", lambda *args: passes.append(1) or copier(*args))
    queries = np.concatenate([queries_near(rng, codes, 40, radius + 2),
                              random_codes(rng, 16, bits)])
    rng.shuffle(queries)
    found_any = batched = 0
    for start in range(0, len(queries), 8):
        batch = [q.tobytes() for q in queries[start : start + 8]]
        expected = [brute_force_search(codes, np.frombuffer(q, np.uint8), radius, ids=ids)
                    for q in batch]
        one_by_one = [index.search(q, radius) for q in batch]
        assert one_by_one == expected
        passes.clear()
        assert index.search_each(batch, radius) == expected
        batched += len(passes) == 1  # one copier call for the whole batch (a batch where
        # some code's buckets hold a quarter of the index is searched code by code)
        found_any += sum(map(len, expected))
    assert found_any  # the near codes found their neighbours
    if not clustered:  # (clustered codes' buckets are often a quarter of these 8,000)
        assert bool(batched) == (plan is not None and tables.inline is None)
    assert index.search_each([], radius) == []
    assert index.search_each([queries[0].tobytes()], radius) == [
        index.search(queries[0].tobytes(), radius)]
