"""Match every stored image's digests against the current known lists, without crawling again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from crawler.adapter import build_matcher, digests_of, stored_match
from crawler.errors import TrawlError
from matchers.decision import Matcher
from storage.db import Store
from storage.media import HitIn, MediaDigestRow, iter_media_digests, record_rematch_hits


class ThresholdError(TrawlError, ValueError):
    """A --threshold a user typed that Trawl cannot use; the message says how to write it."""


def parse_thresholds(values: Iterable[str]) -> dict[str, int]:
    """TYPE=BITS overrides, e.g. ("pdq=28",) -> {"pdq": 28}; checked against the registry."""
    from matchers.hashtypes import HASH_TYPES, PERCEPTUAL_TYPES

    thresholds: dict[str, int] = {}
    for item in values:
        name, sep, number = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in HASH_TYPES or not number.strip().isdigit():
            raise ThresholdError(
                f"Bad --threshold {item!r}: write TYPE=BITS with TYPE one of "
                f"{', '.join(PERCEPTUAL_TYPES)}, e.g. --threshold pdq=31."
            )
        bits, limit = int(number), HASH_TYPES[name].bits
        if name not in PERCEPTUAL_TYPES:
            raise ThresholdError(f"Bad --threshold {item!r}: {name} is an exact hash type; "
                                 "only perceptual types have a threshold.")
        if bits >= limit:
            raise ThresholdError(f"Bad --threshold {item!r}: a {name} threshold must be "
                                 f"below {limit} bits.")
        thresholds[name] = bits
    return thresholds


PROGRESS_EVERY = 10_000  # stored images between progress reports
WRITE_BATCH = 1_000  # hits handed to storage per call

# (images checked so far, matches so far)
RematchProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class RematchSummary:
    """What one rematch did: how much it compared and how many hits were new."""

    known_hashes: int
    media: int  # stored images with digests that were checked
    matches: int  # (image, known hash) pairs within their threshold
    new_hits: int  # matches not already queued and not suppressed by a rejection
    duration: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def find_matches(
    matcher: Matcher, rows: Iterable[MediaDigestRow], progress: RematchProgress | None = None,
) -> tuple[int, list[tuple[int, HitIn]]]:
    """Every (media id, hit) pair within threshold, and how many images were checked."""
    checked = 0
    pairs: list[tuple[int, HitIn]] = []
    for row in rows:
        digests = digests_of(row)
        if digests is None:
            continue
        checked += 1
        pairs += [(row.id, stored_match(match)) for match in matcher.match(digests)]
        if progress is not None and checked % PROGRESS_EVERY == 0:
            progress(checked, len(pairs))
    return checked, pairs


def rematch(
    store: Store,
    *,
    thresholds: Mapping[str, int] | None = None,
    progress: RematchProgress | None = None,
) -> RematchSummary:
    """Match all stored digests against all lists and record the hits that are new.

    Matches are collected first and written after the read is done, so the read never
    holds the database while hits are written (SQLite allows one writer); hits are few
    next to images, so the list stays small. Re-running is harmless: storage skips pairs
    already queued and pairs an analyst rejected.
    """
    started = time.monotonic()
    matcher = build_matcher(store, thresholds=thresholds)
    known = len(matcher)
    checked, pairs = 0, list[tuple[int, HitIn]]()
    if known:
        checked, pairs = find_matches(matcher, iter_media_digests(store), progress)
    new_hits = 0
    for start in range(0, len(pairs), WRITE_BATCH):
        new_hits += record_rematch_hits(store, pairs[start:start + WRITE_BATCH])
    return RematchSummary(
        known_hashes=known,
        media=checked,
        matches=len(pairs),
        new_hits=new_hits,
        duration=time.monotonic() - started,
    )
