"""Read a list file as numbered text lines: UTF-8 (BOM allowed), LF or CRLF, no surprises."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from matchers.hashtypes.base import shorten
from matchers.listformats.errors import ListFormatError

UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


class LineReader:
    """Decode raw lines one at a time so an encoding error can name its line.

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
        for number, text in self.all_lines():
            stripped = text.lstrip()
            if stripped and stripped[0] != "#":
                yield number, text

    def all_lines(self) -> Iterator[tuple[int, str]]:
        """Every line, numbered from 1; a UTF-8 BOM on the first is dropped."""
        number = self.lines_read
        try:
            for raw in self._raw:
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
