"""Binary codes as numpy arrays: validation, popcount distances and the brute-force scan."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Distances = npt.NDArray[np.intp]
# Row numbers and ids stored as int32 when they fit (half the memory) or int64.
IntArray = npt.NDArray[np.signedinteger[Any]]
Neighbours = list[tuple[int, int]]  # (id, distance), nearest first, then by id

_SCAN_BLOCK = 1 << 18  # rows per block in a linear scan: bounds temporaries, stays in cache


def as_code_rows(codes: bytes | npt.ArrayLike, bits: int) -> U8:
    """Validate codes as a C-contiguous (n, bits/8) uint8 array (one code becomes n=1)."""
    if isinstance(codes, bytes | bytearray | memoryview):
        array = np.frombuffer(bytes(codes), dtype=np.uint8)
    else:
        array = np.asarray(codes)
    if array.dtype != np.uint8:
        raise TypeError(f"codes must be uint8 arrays, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != bits // 8:
        raise ValueError(
            f"codes must have shape (n, {bits // 8}) for {bits}-bit hashes, got {array.shape}"
        )
    return np.ascontiguousarray(array)


def as_ids(ids: npt.ArrayLike, count: int) -> I64:
    array = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(array) != count:
        raise ValueError(f"need one id per code: {count} codes, {len(array)} ids")
    return array


def to_words(rows: U8) -> U64:
    """View code rows as uint64 words (zero-padded to whole words) for XOR + popcount."""
    n, width = rows.shape
    words = -(-width // 8)
    if width != words * 8:
        padded = np.zeros((n, words * 8), dtype=np.uint8)
        padded[:, :width] = rows
        rows = padded
    return np.ascontiguousarray(rows).view(np.uint64).reshape(n, words)


def distances(words: U64, query: U64) -> Distances:
    """Hamming distance of every row of `words` to the query (rows of uint64 words)."""
    counts = np.bitwise_count(np.bitwise_xor(words, query))
    if counts.shape[1] == 1:
        return counts[:, 0].astype(np.intp)
    total: Distances = counts.sum(axis=1, dtype=np.intp)
    return total


def sorted_neighbours(ids: I64, dist: Distances) -> Neighbours:
    """(id, distance) pairs nearest first, ties by id: the order every search returns."""
    order = np.lexsort((ids, dist))
    return list(zip(ids[order].tolist(), dist[order].tolist(), strict=True))


def scan(words: U64, ids: IntArray, query: U64, radius: int) -> Neighbours:
    """Every row within `radius` of one query, by computing all distances block by block."""
    found_rows: list[I64] = []
    found_dist: list[Distances] = []
    for start in range(0, len(words), _SCAN_BLOCK):
        dist = distances(words[start : start + _SCAN_BLOCK], query)
        hit = np.flatnonzero(dist <= radius)
        if hit.size:
            found_rows.append(start + hit)
            found_dist.append(dist[hit])
    if not found_rows:
        return []
    rows = np.concatenate(found_rows)
    return sorted_neighbours(ids[rows].astype(np.int64), np.concatenate(found_dist))


def brute_force_search(
    codes: npt.ArrayLike,
    code: bytes | npt.ArrayLike,
    radius: int,
    *,
    ids: npt.ArrayLike | None = None,
) -> Neighbours:
    """Every code within `radius` bits of `code`, found by comparing against all of them.

    The reference the multi-index search is tested against and its fallback where tables
    do not pay (small or badly skewed lists). `codes` are (n, bytes) uint8 rows; `ids`
    default to row numbers. Returns (id, distance) pairs, nearest first, then by id.
    """
    rows = np.asarray(codes)
    if rows.ndim != 2:
        raise ValueError(f"codes must be a 2-D (n, bytes) uint8 array, got shape {rows.shape}")
    bits = rows.shape[1] * 8
    rows = as_code_rows(rows, bits)
    id_array = np.arange(len(rows), dtype=np.int64) if ids is None else as_ids(ids, len(rows))
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return scan(to_words(rows), id_array, to_words(as_code_rows(code, bits))[0], radius)
