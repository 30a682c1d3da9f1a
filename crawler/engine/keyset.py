"""A compact set of 64-bit keys (hash() of a URL, the head of a fingerprint): the crawl's
per-URL memory.

A crawl must remember every page URL it admitted and every image URL it requested (and,
when it re-fetches, every URL stored with digests): that memory grows with the crawl by
design. A Python set of ints costs 100-140 bytes a key (a 32-byte int object, a 16-byte
table entry, a table kept at most 60% full); KeySet keeps the keys themselves in one
array of 8-byte slots, 1.5-3 slots a key: 12-24 bytes. Lookups probe linearly in Python
(~0.3 us; a crawl makes a few per URL).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

_EMPTY = 0
_ZERO = 0x5EED  # a key of 0 is stored as this (0 marks an empty slot); one more collision
_MIN_SLOTS = 16
_MASK64 = (1 << 64) - 1


def _slot_key(key: int) -> int:
    """The key as a signed 64-bit slot value (hash() already is one), never 0."""
    if not -(1 << 63) <= key < (1 << 63):
        key &= _MASK64
        if key >= 1 << 63:
            key -= 1 << 64
    return key or _ZERO


class KeySet:
    """A set of int keys, each kept as its low 64 bits: `in`, `add`, `len`.

    Keys are meant to be well mixed already (hash() of a str, digest bytes): the slot is
    the key's low bits. Two keys equal in their low 64 bits are one key, as two URLs with
    the same hash() are one URL to the set of ints this replaces."""

    __slots__ = ("_count", "_mask", "_slots")

    def __init__(self, keys: Iterable[int] = ()) -> None:
        self._slots = array("q", bytes(8 * _MIN_SLOTS))
        self._mask = _MIN_SLOTS - 1
        self._count = 0
        for key in keys:
            self.add(key)

    def _probe(self, key: int) -> int:
        """The slot holding `key` (a slot key), or the empty slot where it would go."""
        slots, mask = self._slots, self._mask
        i = key & mask
        while True:
            found = slots[i]
            if found in (key, _EMPTY):
                return i
            i = (i + 1) & mask

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        key = _slot_key(key)
        return bool(self._slots[self._probe(key)] == key)

    def add(self, key: int) -> bool:
        """Add the key; True if it was not there yet."""
        key = _slot_key(key)
        slots = self._slots
        i = self._probe(key)
        if slots[i] == key:
            return False
        slots[i] = key
        self._count += 1
        if self._count * 3 >= len(slots) * 2:  # at most 2/3 full: short probe runs
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._slots
        size = len(old) * 2
        self._slots = slots = array("q", bytes(8 * size))
        self._mask = mask = size - 1
        for key in old:
            if key != _EMPTY:
                i = key & mask
                while slots[i] != _EMPTY:
                    i = (i + 1) & mask
                slots[i] = key

    def nbytes(self) -> int:
        """Bytes of the slot array (the set's memory, less a few dozen of the object)."""
        return len(self._slots) * self._slots.itemsize
