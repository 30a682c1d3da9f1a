"""KnownEntry and ParsedList: a parsed list, deduplicated, ready for storage to import."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from matchers.hashtypes import HashType


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """One known hash from a list, value normalised to lowercase hex."""

    hash_type: str
    value: str
    label: str | None = None
    source: str | None = None
    category: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # other columns, e.g. PDQ quality
    line: int = 0  # where it first appeared in the file


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A whole list file, parsed and validated; only ever returned complete.

    `lines` counts every physical line of the file (header, blanks and comments included);
    `duplicates` counts hash lines whose (type, value) appeared earlier in the same file;
    they are not in `entries`. `low_quality` counts PDQ entries whose stated quality is
    below the matching threshold: they are kept (the list is the list) and marked by their
    `extra["quality"]`, and the matcher ignores them.
    """

    format: str
    entries: list[KnownEntry]
    duplicates: int
    lines: int
    low_quality: int = 0

    def counts_by_type(self) -> dict[str, int]:
        return dict(Counter(entry.hash_type for entry in self.entries))


class EntryCollector:
    """Accumulates entries, keeping the first of each (type, value) and counting repeats."""

    def __init__(self) -> None:
        self.entries: list[KnownEntry] = []
        self.duplicates = 0
        self.low_quality = 0
        self._seen: dict[str, set[str]] = {}
        # One copy of each repeated source/category/extra string (a list usually has one
        # source and a handful of categories): ~100 bytes less per entry on 1M-line lists.
        self._shared: dict[str, str] = {}

    def add(
        self,
        hash_type: HashType,
        value: str,
        line: int,
        label: str | None = None,
        source: str | None = None,
        category: str | None = None,
        extra: dict[str, str] | None = None,
        quality: int | None = None,
    ) -> None:
        """Keep (type, value) unless already seen; `value` must already be normalised."""
        seen = self._seen.get(hash_type.name)
        if seen is None:
            seen = self._seen[hash_type.name] = set()
        if value in seen:
            self.duplicates += 1
            return
        seen.add(value)
        threshold = hash_type.quality_threshold
        if quality is not None and threshold is not None and quality < threshold:
            self.low_quality += 1
        share = self._shared.setdefault
        if source is not None:
            source = share(source, source)
        if category is not None:
            category = share(category, category)
        if extra is None:
            extra = {}
        for key, text in extra.items():
            extra[key] = share(text, text)
        self.entries.append(KnownEntry(hash_type.name, value, label, source, category, extra, line))

    def result(self, fmt: str, lines: int) -> ParsedList:
        return ParsedList(fmt, self.entries, self.duplicates, lines, self.low_quality)
