"""Read a list file as numbered text lines: UTF-8 (BOM allowed), LF or CRLF, no surprises."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain

from matchers.hashtypes.base import shorten
from matchers.listformats.errors import ListFormatError

UTF8_BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 1 << 20  # a file is read, decoded and split this much at a time
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


class LineReader:
    """Decode lines so that an encoding error can name its line.

    An open file is read in blocks of BLOCK_BYTES (decoded and split in C); any other
    iterable of raw lines, line by line.

    Iterating yields content lines only: blank lines and lines whose first non-blank
    character is `#` carry no hashes in any format. `lines_read` counts every physical
    line seen so far.
    """

    def __init__(self, raw_lines: Iterable[bytes], path: str):
        self._raw = raw_lines
        self.path = path
        self.lines_read = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        """Yield (line number, text without its line ending) for content lines only."""
        return content_lines(self.all_lines())

    def all_lines(self) -> Iterator[tuple[int, str]]:
        """Every line, numbered from 1; a UTF-8 BOM on the first is dropped."""
        return chain.from_iterable(lines for _text, lines in self.blocks())

    def blocks(self) -> Iterator[tuple[str | None, Iterator[tuple[int, str]]]]:
        """The file a block at a time: (text, numbered lines) per block, in order.

        `text` is the block decoded and checked (valid UTF-8, no NUL, no lone CR, line
        endings "\n"), so a format can parse it whole in C; or None when the block must be
        read line by line (an error is raised at its line when its lines are read). The
        lines of a block with text are made only if asked for. `lines_read` counts a
        block's lines once it is yielded.
        """
        read = getattr(self._raw, "read", None)
        if read is None:
            yield None, self._each_line(self._raw)
            return
        pending = b""
        while block := read(BLOCK_BYTES):
            data = pending + block
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if cut:
                yield self._block(data[:cut])
        if pending:
            yield self._block(pending)

    def _block(self, data: bytes) -> tuple[str | None, Iterator[tuple[int, str]]]:
        first = self.lines_read
        if first == 0:
            data = self._strip_bom(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text or text.count("\r") != text.count("\r\n"):
            pieces = data.split(b"\n")  # not splitlines(): a lone CR must stay in its line
            raw_lines = [piece + b"\n" for piece in pieces[:-1]]
            if pieces[-1]:
                raw_lines.append(pieces[-1])
            self.lines_read = first + len(raw_lines)
            return None, self._each_line(raw_lines, first)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        self.lines_read = first + text.count("\n") + (not text.endswith("\n"))
        return text, _split(text, first + 1)

    def _each_line(
        self, raw_lines: Iterable[bytes], first: int | None = None
    ) -> Iterator[tuple[int, str]]:
        """Lines decoded one at a time, numbered after `first` (default: lines read so far)."""
        number = self.lines_read if first is None else first
        try:
            for raw in raw_lines:
                number += 1
                if number == 1:
                    raw = self._strip_bom(raw)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise self._not_utf8(raw, number, exc) from None
                if text.endswith("\n"):
                    text = text[:-1]
                if text.endswith("\r"):
                    text = text[:-1]
                if "\r" in text or "\x00" in text:
                    raise self._control_character(text, number)
                yield number, text
        finally:
            self.lines_read = number

    def _strip_bom(self, raw: bytes) -> bytes:
        if raw.startswith(UTF8_BOM):
            return raw[len(UTF8_BOM) :]
        for bom, encoding in _OTHER_BOMS.items():
            if raw.startswith(bom):
                raise ListFormatError(
                    self.path,
                    1,
                    f"the file is encoded as {encoding}; save it as UTF-8 and import again",
                )
        return raw

    def _not_utf8(self, raw: bytes, number: int, exc: UnicodeDecodeError) -> ListFormatError:
        bad = " ".join(f"0x{b:02x}" for b in raw[exc.start : exc.end])
        shown = raw.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
        return ListFormatError(
            self.path,
            number,
            f"the line is not valid UTF-8 (byte {bad} at column {exc.start + 1} "
            f"in {shorten(shown)}); save the file as UTF-8 and import again",
            shown,
        )

    def _control_character(self, text: str, number: int) -> ListFormatError:
        if "\x00" in text:
            problem = "the line contains NUL bytes, so this is not a text list; check the file"
        else:
            problem = (
                "the line contains a carriage return in the middle; "
                "use LF or CRLF line endings"
            )
        return ListFormatError(self.path, number, problem, shorten(text))


def content_lines(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """The lines that carry hashes: not blank, and not a `#` comment, in any format."""
    for number, text in lines:
        stripped = text.lstrip()
        if stripped and stripped[0] != "#":
            yield number, text


def _split(text: str, first: int) -> Iterator[tuple[int, str]]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return enumerate(lines, first)
