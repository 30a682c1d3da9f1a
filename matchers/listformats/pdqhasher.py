"""Output of Meta's pdq-photo-hasher: `hash,quality,filename` per line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from matchers.hashtypes import HASH_TYPES
from matchers.hashtypes.base import shorten
from matchers.listformats.entries import EntryBlock, KnownEntry
from matchers.listformats.errors import ListFormatError

NAME = "pdq-hasher"
HEADER = "hash,quality,filename"
_FIRST_FIELDS = re.compile(r"\s*[0-9a-fA-F]{64}\s*,\s*\d+\s*(,|$)")
# One read-only extra per quality value, shared by every entry that has it: no dict, int
# or str made per line.
QUALITY_EXTRA: dict[str, Mapping[str, str]] = {
    str(q): MappingProxyType({"quality": str(q)}) for q in range(101)
}


# A block of lines written the way pdq-photo-hasher writes them: lowercase hash, quality
# without leading zeros, a filename without commas. Anything else (a header, comments,
# blank lines, upper case, spaces around fields) does not match, and the block is parsed
# line by line by parse(), which accepts or explains it.
_PLAIN_BLOCK = re.compile(r"(?:[0-9a-f]{64},(?:100|[1-9]?[0-9]),[^,\n]*\n)*")


def parse_block(text: str) -> EntryBlock | None:
    """Every line of a checked block (LineReader.blocks) as columns, or None unless every
    line is written plainly (then parse() the block's lines).

    Checked by one regex over the block and cut into columns by one split, both in C: no
    object per line but the fields themselves. The entries are exactly those parse() gives
    for the same lines.
    """
    if not text.endswith("\n"):
        text += "\n"
    if len(text) < 2 or _PLAIN_BLOCK.fullmatch(text) is None:
        return None
    fields = text.replace("\n", ",").split(",")  # 3 per line, then "" after the last
    values, qualities, filenames = fields[0:-1:3], fields[1::3], fields[2::3]
    joined = ",".join(filenames)
    if joined and joined.split() != [joined] and any(f != f.strip() for f in filenames):
        return None  # parse() strips the filename
    extras = list(map(QUALITY_EXTRA.__getitem__, qualities))
    labels = [f or None for f in filenames] if "" in filenames else filenames
    return EntryBlock("pdq", values, labels, extras)


def looks_like(first_line: str) -> bool:
    return first_line.strip().lower() == HEADER or bool(_FIRST_FIELDS.match(first_line))


def parse(
    lines: Iterator[tuple[int, str]], path: str, *, header: bool = True
) -> Iterator[KnownEntry]:
    """The hash is PDQ; quality (0-100) goes to extra["quality"] and the filename to label.

    header=False: `lines` continue a file whose first line was read already, so a header
    line here is an error, as it is anywhere but first.
    """
    pdq = HASH_TYPES["pdq"]
    first = header
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
        extra = QUALITY_EXTRA.get(quality_text)
        if extra is None:  # not written plainly ("050"), or not a quality at all
            if not (quality_text.isdigit() and 0 <= int(quality_text) <= 100):
                raise ListFormatError(
                    path,
                    number,
                    f"quality {shorten(raw_quality)} is not a whole number from 0 to 100",
                    raw_quality,
                )
            extra = QUALITY_EXTRA[str(int(quality_text))]
        yield KnownEntry(pdq.name, value, filename.strip() or None, extra=extra, line=number)
