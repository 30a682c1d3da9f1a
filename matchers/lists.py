"""Known-hash list files: detect the format, then stream entries or parse all or nothing."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from matchers.hashtypes import HASH_TYPES, get_hash_type
from matchers.hashtypes.base import shorten
from matchers.listformats import csvlist, pdqhasher, plainlist, telist
from matchers.listformats.entries import EntryBlock, EntryCollector, KnownEntry, ParsedList
from matchers.listformats.errors import ListFormatError
from matchers.listformats.reader import LineReader, content_lines
from matchers.sniff import describe_kind, sniff_kind

FORMATS = ("auto", csvlist.NAME, telist.NAME, pdqhasher.NAME, plainlist.NAME)
BLOCK_ENTRIES = 10_000  # entries per list that entry_blocks() yields, at most
_SELF_TYPED = {csvlist.NAME, telist.NAME}  # formats that name the hash type on every line

_FORMAT_HELP = (
    "a CSV whose header names hash_type,hash (and optionally label,source,category); "
    "ThreatExchange lines '<signal_type> <hash>'; pdq-photo-hasher output "
    "'hash,quality,filename'; or one hash per line with its type given (--type)"
)


class KnownListStream:
    """A list file's entries, parsed one line at a time: memory independent of its length.

    The format is detected (or checked) from the first content line when the stream is
    made, so `format` is known before any entry is read; iterating yields every entry in
    file order, repeats included (`KnownEntry.line` says where), and raises
    ListFormatError at the first bad line. An importer that stores entries as they come
    inside one transaction, and rolls back on that error, is all-or-nothing without ever
    holding the list. After iteration, `lines` counts every physical line, `entries` the
    entries yielded and `low_quality` the PDQ entries below the matching quality.
    """

    def __init__(
        self,
        stream: BinaryIO | Iterable[bytes],
        *,
        name: str,
        fmt: str = "auto",
        hash_type: str | None = None,
    ) -> None:
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
        self.name = name
        stream = _refuse_binary(stream, name)
        self._reader = LineReader(stream, name)
        self._blocks = self._reader.blocks()
        # The first content line, and the rest of its block's lines (read one by one).
        self._first: tuple[int, str] | None = None
        self._rest: Iterator[tuple[int, str]] = iter(())
        for _text, lines in self._blocks:
            self._rest = content_lines(lines)
            self._first = next(self._rest, None)
            if self._first is not None:
                break
        if self._first is None:
            raise ListFormatError(
                name,
                None,
                "the file has no hashes (it is empty, or only blank lines and # comments)",
            )
        chosen = _detect(self._first, name, plain_type is not None) if fmt == "auto" else fmt
        if plain_type is not None and (
            chosen in _SELF_TYPED or (chosen == pdqhasher.NAME and plain_type.name != "pdq")
        ):
            raise ListFormatError(
                name,
                None,
                f"a hash type ({plain_type.name}) was given, but this is a {chosen} list, "
                "which names its own hash types; leave the type out",
            )
        if chosen == plainlist.NAME and plain_type is None:
            raise ListFormatError(
                name, None,
                f"a plain list needs its hash type; give one of {', '.join(HASH_TYPES)} "
                "(`--type` on the command line)",
            )
        self.format = chosen
        self._plain_type = plain_type
        self.entries = 0
        self.low_quality = 0
        self._started = False

    @property
    def lines(self) -> int:
        """Physical lines read so far (all of them once iteration has ended)."""
        return self._reader.lines_read

    def __iter__(self) -> Iterator[KnownEntry]:
        self._start()
        return self._entries()

    def _entries(self) -> Iterator[KnownEntry]:
        assert self._first is not None
        later = chain.from_iterable(content_lines(lines) for _text, lines in self._blocks)
        yield from self._counted(self._parse(chain([self._first], self._rest, later)))
        self._end()

    def entry_blocks(self, size: int = BLOCK_ENTRIES) -> Iterator[list[KnownEntry] | EntryBlock]:
        """The entries a block at a time, in file order: lists of at most `size` entries,
        or, where a format can parse a whole block of the file in C (pdq-hasher written
        plainly), an EntryBlock of columns with no object per line. The same entries,
        counts and errors as iterating; iterate or call this once."""
        self._start()
        assert self._first is not None
        block_parser = _BLOCK_PARSERS.get(self.format)
        if block_parser is None:
            yield from _batched(self._entries(), size)
            return
        head = self._parse(chain([self._first], self._rest))
        yield from _batched(self._counted(head), size)
        for text, lines in self._blocks:
            block = None if text is None else block_parser(text)
            if block is None:
                more = self._parse(content_lines(lines), continued=True)
                yield from _batched(self._counted(more), size)
                continue
            self.entries += len(block)
            if block.extras is not None and block.hash_type == "pdq":
                self.low_quality += sum(map(_LOW_QUALITY.__contains__, map(id, block.extras)))
            yield block
        self._end()

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a KnownListStream can be iterated only once")
        self._started = True

    def _end(self) -> None:
        if not self.entries:
            raise ListFormatError(self.name, None, "the file has a header but no hashes")

    def _parse(
        self, content: Iterator[tuple[int, str]], *, continued: bool = False
    ) -> Iterator[KnownEntry]:
        if self.format == csvlist.NAME:
            return csvlist.parse(content, self.name)
        if self.format == telist.NAME:
            return telist.parse(content, self.name)
        if self.format == pdqhasher.NAME:
            return pdqhasher.parse(content, self.name, header=not continued)
        assert self._plain_type is not None
        return plainlist.parse(content, self.name, self._plain_type)

    def _counted(self, parsed: Iterator[KnownEntry]) -> Iterator[KnownEntry]:
        low_threshold = HASH_TYPES["pdq"].quality_threshold or 0
        for entry in parsed:
            self.entries += 1
            if entry.extra and "quality" in entry.extra and entry.hash_type == "pdq":
                self.low_quality += int(entry.extra["quality"]) < low_threshold
            yield entry


_BLOCK_PARSERS: dict[str, Callable[[str], EntryBlock | None]] = {
    pdqhasher.NAME: pdqhasher.parse_block,
}
# pdq-hasher's shared extras whose quality is below the matching threshold.
_LOW_QUALITY = frozenset(
    id(extra) for quality, extra in pdqhasher.QUALITY_EXTRA.items()
    if int(quality) < (HASH_TYPES["pdq"].quality_threshold or 0)
)


def _batched(entries: Iterator[KnownEntry], size: int) -> Iterator[list[KnownEntry]]:
    while batch := list(itertools.islice(entries, size)):
        yield batch


# Kinds of file that are certainly not a hash list: images and other binary documents.
_NOT_LISTS = frozenset({"jpeg", "png", "gif", "webp", "bmp", "tiff", "avif", "pdf", "ico",
                        "jxl", "jp2", "psd", "heic", "mp4"})
_SNIFF_BYTES = 64


def _refuse_binary(stream: BinaryIO | Iterable[bytes], name: str) -> BinaryIO | Iterable[bytes]:
    """The stream unchanged, unless its first bytes say it is an image or another binary
    document: then a ListFormatError that says so (and quotes none of its bytes), because
    importing the image itself instead of its hashes is an easy mistake to make."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head = bytes(peek(_SNIFF_BYTES)[:_SNIFF_BYTES])
    else:
        chunks = iter(stream)
        first = next(chunks, b"")
        head, stream = first[:_SNIFF_BYTES], itertools.chain([first], chunks)
    kind = sniff_kind(head)
    if kind in _NOT_LISTS:
        raise ListFormatError(
            name, None,
            f"this is {describe_kind(kind)}, not a hash list; to make a list from images you "
            "hold, hash them first (`trawl hash --format csv FILE... > list.csv`) and import "
            "that",
        )
    return stream


@contextmanager
def open_known_list(
    path: Path, *, fmt: str = "auto", hash_type: str | None = None
) -> Iterator[KnownListStream]:
    """A `KnownListStream` over a file, closed when the block ends."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ListFormatError(str(path), None, f"cannot read the file ({exc.strerror})") from None
    with stream:
        yield KnownListStream(stream, name=str(path), fmt=fmt, hash_type=hash_type)


def parse_known_list(
    path: Path, *, fmt: str = "auto", hash_type: str | None = None
) -> ParsedList:
    """Parse a whole list file, or raise ListFormatError at the first bad line.

    Nothing is returned from a file with any error, so an import can never be partial.
    `fmt` is auto|csv|te|pdq-hasher|plain; `plain` needs `hash_type`, which the other
    formats carry themselves. Repeats of a (type, value) within the file are kept once
    and counted in `duplicates`. Holds the whole list in memory (~350 bytes per entry):
    to import, stream with `open_known_list` instead.
    """
    with open_known_list(path, fmt=fmt, hash_type=hash_type) as entries:
        return _collect(entries)


def parse_known_stream(
    stream: BinaryIO | Iterable[bytes],
    *,
    name: str,
    fmt: str = "auto",
    hash_type: str | None = None,
) -> ParsedList:
    """`parse_known_list` for an open binary stream (stdin); `name` is used in errors."""
    return _collect(KnownListStream(stream, name=name, fmt=fmt, hash_type=hash_type))


def _collect(entries: KnownListStream) -> ParsedList:
    collector = EntryCollector()
    # Millions of new objects and no cycles: the cyclic collector would only re-scan them
    # over and over (it made 1M-line imports ~40% slower).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for entry in entries:
            collector.add(entry)
    finally:
        if gc_was_enabled:
            gc.enable()
    return ParsedList(entries.format, collector.entries, collector.duplicates, entries.lines,
                      entries.low_quality)


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
        flag = f"--type {fits[0]}" if len(fits) == 1 else "--type TYPE"
        hint = f" ({len(token)} hex characters would fit {' or '.join(fits)})" if fits else ""
        raise ListFormatError(
            name,
            number,
            "this looks like one hash per line, which does not say what type the hashes are; "
            f"give the hash type with `{flag}` on the command line{hint}",
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
    "EntryBlock",
    "KnownEntry",
    "KnownListStream",
    "ListFormatError",
    "ParsedList",
    "open_known_list",
    "parse_known_list",
    "parse_known_stream",
]
