"""Plain lists: one hash per line of a type the importer names (md5sum output works too)."""

from __future__ import annotations

from collections.abc import Iterator

from matchers.hashtypes import HashType
from matchers.listformats.entries import KnownEntry
from matchers.listformats.errors import ListFormatError

NAME = "plain"
_HEX = frozenset("0123456789abcdefABCDEF")


def looks_like(first_line: str) -> bool:
    tokens = first_line.split(None, 1)
    return bool(tokens) and set(tokens[0]) <= _HEX


def parse(
    lines: Iterator[tuple[int, str]], path: str, hash_type: HashType
) -> Iterator[KnownEntry]:
    """`<hash>` or `<hash> <label>`; a `*` before the label (md5sum binary mode) is dropped."""
    for number, text in lines:
        tokens = text.split(None, 1)
        value = tokens[0].lower()
        if not hash_type.is_valid(value):
            raise ListFormatError(path, number, hash_type.explain(tokens[0]), tokens[0])
        label = tokens[1].strip().removeprefix("*").strip() if len(tokens) > 1 else None
        yield KnownEntry(hash_type.name, value, label or None, line=number)
