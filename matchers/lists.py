"""Known-hash list files: detect the format, parse all of it or none of it."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from matchers.hashtypes import HASH_TYPES, get_hash_type
from matchers.hashtypes.base import shorten
from matchers.listformats import csvlist, pdqhasher, plainlist, telist
from matchers.listformats.entries import EntryCollector, KnownEntry, ParsedList
from matchers.listformats.errors import ListFormatError
from matchers.listformats.reader import LineReader

FORMATS = ("auto", csvlist.NAME, telist.NAME, pdqhasher.NAME, plainlist.NAME)
_SELF_TYPED = {csvlist.NAME, telist.NAME}  # formats that name the hash type on every line

_FORMAT_HELP = (
    "a CSV whose header names hash_type,hash (and optionally label,source,category); "
    "ThreatExchange lines '<signal_type> <hash>'; pdq-photo-hasher output "
    "'hash,quality,filename'; or one hash per line with its type given (--type)"
)


def parse_known_list(
    path: Path, *, fmt: str = "auto", hash_type: str | None = None
) -> ParsedList:
    """Parse a whole list file, or raise ListFormatError at the first bad line.

    Nothing is returned from a file with any error, so an import can never be partial.
    `fmt` is auto|csv|te|pdq-hasher|plain; `plain` needs `hash_type`, which the other
    formats carry themselves. Repeats of a (type, value) within the file are kept once
    and counted in `duplicates`.
    """
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after parsing
    except OSError as exc:
        raise ListFormatError(str(path), None, f"cannot read the file ({exc.strerror})") from None
    with stream:
        return parse_known_stream(stream, name=str(path), fmt=fmt, hash_type=hash_type)


def parse_known_stream(
    stream: BinaryIO | Iterable[bytes],
    *,
    name: str,
    fmt: str = "auto",
    hash_type: str | None = None,
) -> ParsedList:
    """`parse_known_list` for an open binary stream (stdin); `name` is used in errors."""
    if fmt not in FORMATS:
        raise ListFormatError(
            name, None, f"unknown list format {fmt!r}; use one of {', '.join(FORMATS)}"
        )
    plain_type = None
    if hash_type is not None:
        try:
            plain_type = get_hash_type(hash_type)
        except ValueError as exc:
            raise ListFormatError(name, None, str(exc), hash_type) from None
    reader = LineReader(stream, name)
    lines = iter(reader)
    first = next(lines, None)
    if first is None:
        raise ListFormatError(
            name,
            None,
            "the file has no hashes (it is empty, or only blank lines and # comments)",
        )
    chosen = _detect(first, name, plain_type is not None) if fmt == "auto" else fmt
    if plain_type is not None and (
        chosen in _SELF_TYPED or (chosen == pdqhasher.NAME and plain_type.name != "pdq")
    ):
        raise ListFormatError(
            name,
            None,
            f"a hash type ({plain_type.name}) was given, but this is a {chosen} list, which "
            "names its own hash types; leave the type out",
        )
    if chosen == plainlist.NAME and plain_type is None:
        raise ListFormatError(
            name, None, f"a plain list needs its hash type; give one of {', '.join(HASH_TYPES)}"
        )
    collector = EntryCollector()
    content = itertools.chain([first], lines)
    # Millions of new objects and no cycles: the cyclic collector would only re-scan them
    # over and over (it made 1M-line imports ~40% slower).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if chosen == csvlist.NAME:
            csvlist.parse(content, name, collector)
        elif chosen == telist.NAME:
            telist.parse(content, name, collector)
        elif chosen == pdqhasher.NAME:
            pdqhasher.parse(content, name, collector)
        else:
            assert plain_type is not None
            plainlist.parse(content, name, collector, plain_type)
    finally:
        if gc_was_enabled:
            gc.enable()
    if not collector.entries:
        raise ListFormatError(name, None, "the file has a header but no hashes")
    return collector.result(chosen, reader.lines_read)


def _detect(first: tuple[int, str], name: str, have_type: bool) -> str:
    number, text = first
    if csvlist.looks_like(text):
        return csvlist.NAME
    if pdqhasher.looks_like(text):
        return pdqhasher.NAME
    if csvlist.looks_like_partial_header(text):
        return csvlist.NAME
    if telist.looks_like(text):
        return telist.NAME
    if plainlist.looks_like(text):
        if have_type:
            return plainlist.NAME
        token = text.split()[0]
        fits = [t.name for t in HASH_TYPES.values() if t.hex_length == len(token)]
        hint = f" ({len(token)} hex characters would fit {' or '.join(fits)})" if fits else ""
        raise ListFormatError(
            name,
            number,
            "this looks like one hash per line, which does not say what type the hashes are; "
            f"give the hash type{hint}",
            token,
        )
    raise ListFormatError(
        name,
        number,
        f"cannot tell the list format from its first line {shorten(text)}; expected "
        + _FORMAT_HELP,
        text,
    )


__all__ = [
    "FORMATS",
    "KnownEntry",
    "ListFormatError",
    "ParsedList",
    "parse_known_list",
    "parse_known_stream",
]
