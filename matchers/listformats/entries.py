"""KnownEntry and ParsedList: a parsed list, deduplicated, ready for storage to import."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

NO_EXTRA: Mapping[str, str] = MappingProxyType({})


class KnownEntry(NamedTuple):
    """One known hash from a list, value normalised to lowercase hex.

    A named tuple rather than a frozen dataclass: as immutable, and made three times
    faster (a frozen dataclass sets each field through object.__setattr__), which counts
    at millions of lines.
    """

    hash_type: str
    value: str
    label: str | None = None
    source: str | None = None
    category: str | None = None
    extra: Mapping[str, str] = NO_EXTRA  # other columns, e.g. PDQ quality
    line: int = 0  # where it first appeared in the file
    # Which variant of the known item (label) this hash is: crop-centre-90, ... (the CSV
    # column `variant`, written by `trawl hash --variants crops`); None: the full image.
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class EntryBlock:
    """Consecutive entries of one hash type as columns: a block of a list file parsed
    without an object per line. Entry i is KnownEntry(hash_type, values[i], labels[i],
    extra=extras[i]) (no source, category or variant); values are normalised."""

    hash_type: str
    values: Sequence[str]
    labels: Sequence[str | None]
    extras: Sequence[Mapping[str, str]] | None = None

    def __len__(self) -> int:
        return len(self.values)


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
    """Accumulates entries, keeping the first of each (type, value) and counting repeats.

    Only for `parse_known_list`, which returns the whole list; an import streams entries
    instead and lets the database count repeats (memory independent of the list's length).
    """

    def __init__(self) -> None:
        self.entries: list[KnownEntry] = []
        self.duplicates = 0
        self._seen: dict[str, set[str]] = {}
        # One copy of each repeated source/category/extra string (a list usually has one
        # source and a handful of categories): ~100 bytes less per entry on 1M-line lists.
        self._shared: dict[str, str] = {}

    def add(self, entry: KnownEntry) -> None:
        """Keep `entry` unless its (type, value) was seen already."""
        seen = self._seen.get(entry.hash_type)
        if seen is None:
            seen = self._seen[entry.hash_type] = set()
        if entry.value in seen:
            self.duplicates += 1
            return
        seen.add(entry.value)
        share = self._shared.setdefault
        if entry.source is not None or entry.category is not None or entry.extra:
            entry = entry._replace(
                source=None if entry.source is None else share(entry.source, entry.source),
                category=None if entry.category is None else share(entry.category, entry.category),
                extra={key: share(text, text) for key, text in entry.extra.items()}
                if entry.extra else entry.extra,
            )
        self.entries.append(entry)
