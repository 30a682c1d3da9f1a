"""ThreatExchange-style lists: one `<signal_type> <hash>` per line (python-threatexchange)."""

from __future__ import annotations

from collections.abc import Iterator

from matchers.hashtypes import HASH_TYPES, HashType
from matchers.hashtypes.base import shorten
from matchers.listformats.entries import KnownEntry
from matchers.listformats.errors import ListFormatError

NAME = "te"

# ThreatExchange signal-type and indicator-type names for the image hashes Trawl computes.
SIGNAL_TYPES: dict[str, HashType] = {
    **HASH_TYPES,
    "photo_md5": HASH_TYPES["md5"],
    "hash_md5": HASH_TYPES["md5"],
    "hash_sha1": HASH_TYPES["sha1"],
    "hash_sha256": HASH_TYPES["sha256"],
    "hash_pdq": HASH_TYPES["pdq"],
}
# Signal types ThreatExchange knows that Trawl cannot match, and why.
UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(
        ("video_md5", "hash_video_md5", "video_tmk_pdqf", "hash_tmk", "tmk", "vpdq"),
        "a video signal; Trawl hashes still images only",
    ),
    **dict.fromkeys(
        ("url", "url_md5", "raw_text", "trend_query", "pdq_ocr", "uri", "domain"),
        "not an image hash",
    ),
    **dict.fromkeys(
        ("photodna", "hash_photodna"),
        "PhotoDNA, which is licensed separately and has no hash type in Trawl",
    ),
}


def looks_like(first_line: str) -> bool:
    tokens = first_line.split(None, 1)
    if len(tokens) != 2:
        return False
    name = tokens[0].lower()
    return name in SIGNAL_TYPES or name in UNSUPPORTED


def parse(lines: Iterator[tuple[int, str]], path: str) -> Iterator[KnownEntry]:
    """`<signal_type> <hash> [label...]`: anything after the hash becomes the label."""
    for number, text in lines:
        tokens = text.split(None, 2)
        if len(tokens) < 2:
            raise ListFormatError(
                path,
                number,
                f"expected '<signal_type> <hash>', got {shorten(text.strip())}",
                text,
            )
        name = tokens[0].lower()
        hash_type = SIGNAL_TYPES.get(name)
        if hash_type is None:
            why = UNSUPPORTED.get(name)
            accepted = ", ".join(sorted(SIGNAL_TYPES))
            problem = (
                f"signal type {shorten(tokens[0])} is {why}"
                if why
                else f"unknown signal type {shorten(tokens[0])}"
            )
            raise ListFormatError(
                path, number, f"{problem}; accepted signal types: {accepted}", tokens[0]
            )
        value = tokens[1].lower()
        if not hash_type.is_valid(value):
            raise ListFormatError(path, number, hash_type.explain(tokens[1]), tokens[1])
        label = tokens[2].strip() if len(tokens) > 2 else None
        yield KnownEntry(hash_type.name, value, label or None, line=number)
