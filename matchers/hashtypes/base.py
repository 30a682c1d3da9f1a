"""HashType: what Trawl needs to know about one kind of hash to parse, store and match it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HashKind = Literal["exact", "perceptual"]

_LOWER_HEX = "0123456789abcdef"
_SHOWN_CHARS = 80  # longest bad value quoted back in an error message


def shorten(text: str, limit: int = _SHOWN_CHARS) -> str:
    """A bad value as quoted in an error: repr, cut so a 1 MB garbage line stays readable."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class HashType:
    """One hash type: its name, width and how far apart two values may be and still match.

    A hash type is a value, not a class hierarchy: adding one (PhotoDNA under licence, vPDQ
    frames) is one module in this package that defines a `HashType` and a line in the
    registry. Exact types compare by equality (threshold 0); perceptual types by Hamming
    distance up to `default_threshold` bits, which callers may override per list.
    """

    name: str
    bits: int
    kind: HashKind
    default_threshold: int
    description: str
    # Hashes computed from images below this quality are not used for matching (PDQ).
    quality_threshold: int | None = None

    def __post_init__(self) -> None:
        if self.bits <= 0 or self.bits % 8:
            raise ValueError(f"hash type {self.name!r}: bits must be a positive multiple of 8")
        if self.kind == "exact" and self.default_threshold != 0:
            raise ValueError(f"hash type {self.name!r}: exact types match at distance 0 only")
        if not 0 <= self.default_threshold < self.bits:
            raise ValueError(f"hash type {self.name!r}: threshold outside 0..{self.bits - 1}")

    @property
    def hex_length(self) -> int:
        return self.bits // 4

    @property
    def byte_length(self) -> int:
        return self.bits // 8

    def is_valid(self, text: str) -> bool:
        """True if `text` is already normalised: exactly hex_length lowercase hex digits."""
        # strip() with a character set is a C loop: much cheaper than a regex per line.
        return len(text) == self.hex_length and not text.strip(_LOWER_HEX)

    def parse(self, text: str) -> str:
        """Normalise external text to lowercase hex, or raise ValueError naming the value.

        Surrounding whitespace and upper case are accepted (lists come from many tools);
        anything else, a `0x` prefix included, is refused rather than guessed at.
        """
        value = text.strip().lower()
        if self.is_valid(value):
            return value
        raise ValueError(self.explain(text))

    def explain(self, text: str) -> str:
        """Why `text` is not a value of this type, as a sentence (for error messages)."""
        value = text.strip().lower()
        want = f"{self.hex_length} hexadecimal characters (0-9, a-f)"
        if not value:
            return f"empty value where a {self.name} hash was expected: want {want}"
        bad = sorted({c for c in value if c not in "0123456789abcdef"})
        if bad:
            shown = "".join(bad[:10])
            return (
                f"{shorten(text)} is not a valid {self.name} hash: it contains non-hex "
                f"characters {shown!r}; want {want}"
            )
        return (
            f"{shorten(text)} is not a valid {self.name} hash: it has {len(value)} hex characters, "
            f"want {want}"
        )

    def to_bytes(self, text: str) -> bytes:
        return bytes.fromhex(self.parse(text))

    def format(self, code: bytes) -> str:
        """The canonical hex form of raw hash bytes (inverse of `to_bytes`)."""
        if len(code) != self.byte_length:
            raise ValueError(
                f"{self.name} hashes are {self.byte_length} bytes, got {len(code)} bytes"
            )
        return code.hex()

    def distance(self, a: str, b: str) -> int:
        """Hamming distance in bits between two values of this type (parsed first)."""
        return (int(self.parse(a), 16) ^ int(self.parse(b), 16)).bit_count()
