"""Lookup structures for known hashes: exact (cryptographic) and Hamming-radius (perceptual)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from matchers.hamming import (
    I64,
    U8,
    Neighbours,
    as_code_rows,
    as_ids,
    brute_force_search,
    scan,
    to_words,
)
from matchers.hashtypes.base import shorten
from matchers.mih import HammingIndex

_HEX = frozenset("0123456789abcdefABCDEF")


def hex_to_codes(values: Sequence[str], bits: int | None = None) -> U8:
    """Hex strings of `bits` bits each -> an (n, bits/8) uint8 array, one row per value.

    `bits` defaults to the width of the first value. Raises ValueError naming the first
    value that is not exactly bits/4 hex digits (values are expected normalised already,
    e.g. by `HashType.parse`; upper case is accepted, whitespace is not).
    """
    if bits is None:
        if not values:
            raise ValueError("cannot tell the width of an empty list of hashes; pass bits")
        bits = 4 * len(values[0])
    if bits <= 0 or bits % 8:
        raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
    width = bits // 8
    if not values:
        return np.empty((0, width), dtype=np.uint8)
    joined = "".join(values)
    try:
        # Every value's own length is checked too: "abc" + "d..." would decode misaligned.
        same_length = set(map(len, values)) == {2 * width}
        raw = bytes.fromhex(joined) if same_length else b""
    except ValueError:
        raw = b""
    if len(raw) != width * len(values):  # some value is bad: find and name it
        for position, value in enumerate(values):
            if len(value) != 2 * width or not set(value) <= _HEX:
                raise ValueError(
                    f"value {position} ({shorten(value)}) is not a {bits}-bit hash: "
                    f"want {2 * width} hexadecimal characters"
                )
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), width).copy()


def codes_to_hex(codes: npt.ArrayLike) -> list[str]:
    """The inverse of `hex_to_codes`: lowercase hex per row of an (n, bytes) uint8 array."""
    rows = np.asarray(codes)
    if rows.dtype != np.uint8 or rows.ndim != 2:
        raise ValueError(f"codes must be an (n, bytes) uint8 array, got {rows.dtype} {rows.shape}")
    text = rows.tobytes().hex()
    step = 2 * rows.shape[1]
    return [text[i : i + step] for i in range(0, len(text), step)]


class ExactIndex:
    """Known cryptographic digests, looked up by equality.

    Sorted numpy arrays rather than a dict: ten million SHA-256 values take ~0.5 GB here
    against several GB as Python objects, and a lookup (a binary search on the first 8
    bytes, then a comparison of the few rows sharing them) costs microseconds, far below
    the time to fetch the image. The same value may carry several ids (several lists).
    """

    def __init__(self, bits: int) -> None:
        if bits < 64 or bits % 8:
            raise ValueError(f"bits must be a multiple of 8 and at least 64, got {bits}")
        self.bits = bits
        self._pending: list[tuple[I64, U8]] = []
        self._ids: I64 = np.empty(0, dtype=np.int64)
        self._codes: U8 = np.empty((0, bits // 8), dtype=np.uint8)
        self._prefix: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._ids) + sum(len(ids) for ids, _ in self._pending)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, bytes) and bool(self.lookup(code))

    @property
    def nbytes(self) -> int:
        self.build()
        return self._ids.nbytes + self._codes.nbytes + self._prefix.nbytes

    def add(self, ids: npt.ArrayLike, codes: npt.ArrayLike) -> None:
        """Add digests ((n, bits/8) uint8 rows) with caller-chosen int64 ids (copied)."""
        rows = as_code_rows(codes, self.bits)
        id_array = as_ids(ids, len(rows))
        if len(rows):
            self._pending.append((id_array.copy(), rows.copy()))

    def build(self) -> None:
        """Sort what was added (otherwise the next lookup does it)."""
        if not self._pending:
            return
        parts = [(self._ids, self._codes)] if len(self._ids) else []
        parts += self._pending
        self._pending.clear()
        if len(parts) == 1:  # no concatenated copy: the sorted copies below are the index
            ids, codes = parts[0]
        else:
            ids = np.concatenate([i for i, _ in parts])
            codes = np.concatenate([c for _, c in parts])
        prefix = codes[:, :8].copy().view(">u8").reshape(-1).astype(np.uint64)
        order = np.argsort(prefix, kind="stable")
        self._ids = ids.take(order)
        self._codes = codes.take(order, axis=0)
        self._prefix = prefix.take(order)

    @classmethod
    def from_codes(cls, bits: int, ids: npt.ArrayLike, codes: npt.ArrayLike) -> ExactIndex:
        """An index built at once over `codes` (no defensive copies; see HammingIndex)."""
        index = cls(bits)
        rows = as_code_rows(codes, bits)
        index._pending.append((as_ids(ids, len(rows)), rows))
        index.build()
        return index

    def export(self) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
        """(parameters, arrays) that `restore` turns back into this index (for saving)."""
        self.build()
        return {"bits": self.bits}, {"ids": self._ids, "codes": self._codes, "prefix": self._prefix}

    @classmethod
    def restore(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]
    ) -> ExactIndex:
        """The index `export` described, around the given (e.g. memory-mapped) arrays."""
        index = cls(int(meta["bits"]))
        index._ids, index._codes, index._prefix = arrays["ids"], arrays["codes"], arrays["prefix"]
        return index

    def lookup(self, code: bytes | npt.ArrayLike) -> list[int]:
        """Ids of every entry equal to `code` (sorted; empty if unknown)."""
        row = as_code_rows(code, self.bits)[0]
        self.build()
        key = np.uint64(int.from_bytes(row[:8].tobytes(), "big"))
        lo = int(np.searchsorted(self._prefix, key, side="left"))
        hi = int(np.searchsorted(self._prefix, key, side="right"))
        if lo == hi:
            return []
        same = np.all(self._codes[lo:hi] == row, axis=1)
        return sorted(self._ids[lo:hi][same].tolist())

    def search(self, code: bytes | npt.ArrayLike, radius: int = 0) -> Neighbours:
        """(id, 0) for every equal entry: the HammingIndex interface at radius 0."""
        if radius != 0:
            raise ValueError(f"exact hashes match at distance 0 only, got radius {radius}")
        return [(found, 0) for found in self.lookup(code)]


class BruteForceIndex:
    """The HammingIndex interface over a linear scan: the benchmark baseline and a fallback."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._ids: I64 = np.empty(0, dtype=np.int64)
        self._words = to_words(np.empty((0, bits // 8), dtype=np.uint8))

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: npt.ArrayLike, codes: npt.ArrayLike) -> None:
        rows = as_code_rows(codes, self.bits)
        self._ids = np.concatenate([self._ids, as_ids(ids, len(rows))])
        self._words = np.concatenate([self._words, to_words(rows)])

    def search(self, code: bytes | npt.ArrayLike, radius: int) -> Neighbours:
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        return scan(self._words, self._ids, to_words(as_code_rows(code, self.bits))[0], radius)

    def search_many(self, codes: npt.ArrayLike, radius: int) -> list[Neighbours]:
        return [self.search(row, radius) for row in as_code_rows(codes, self.bits)]


__all__ = [
    "BruteForceIndex",
    "ExactIndex",
    "HammingIndex",
    "Neighbours",
    "brute_force_search",
    "codes_to_hex",
    "hex_to_codes",
]
