"""Output of Meta's pdq-photo-hasher: `hash,quality,filename` per line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from matchers.hashtypes import HASH_TYPES
from matchers.hashtypes.base import shorten
from matchers.listformats.entries import KnownEntry
from matchers.listformats.errors import ListFormatError

NAME = "pdq-hasher"
HEADER = "hash,quality,filename"
_FIRST_FIELDS = re.compile(r"\s*[0-9a-fA-F]{64}\s*,\s*\d+\s*(,|$)")
# One read-only extra per quality value, shared by every entry that has it: no dict, int
# or str made per line.
_QUALITY_EXTRA: dict[str, Mapping[str, str]] = {
    str(q): MappingProxyType({"quality": str(q)}) for q in range(101)
}


def looks_like(first_line: str) -> bool:
    return first_line.strip().lower() == HEADER or bool(_FIRST_FIELDS.match(first_line))


def parse(lines: Iterator[tuple[int, str]], path: str) -> Iterator[KnownEntry]:
    """The hash is PDQ; quality (0-100) goes to extra["quality"] and the filename to label."""
    pdq = HASH_TYPES["pdq"]
    first = True
    for number, text in lines:
        if first and text.strip().lower() == HEADER:
            first = False
            continue
        first = False
        fields = text.split(",", 2)
        if len(fields) != 3:
            raise ListFormatError(
                path,
                number,
                f"expected 'hash,quality,filename' (pdq-photo-hasher output), "
                f"got {shorten(text.strip())}",
                text,
            )
        raw_hash, raw_quality, filename = fields
        value = raw_hash.strip().lower()
        if not pdq.is_valid(value):
            raise ListFormatError(path, number, pdq.explain(raw_hash), raw_hash)
        quality_text = raw_quality.strip()
        extra = _QUALITY_EXTRA.get(quality_text)
        if extra is None:  # not written plainly ("050"), or not a quality at all
            if not (quality_text.isdigit() and 0 <= int(quality_text) <= 100):
                raise ListFormatError(
                    path,
                    number,
                    f"quality {shorten(raw_quality)} is not a whole number from 0 to 100",
                    raw_quality,
                )
            extra = _QUALITY_EXTRA[str(int(quality_text))]
        yield KnownEntry(pdq.name, value, filename.strip() or None, extra=extra, line=number)
