"""Match every stored image's digests against the current known lists, without crawling again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from crawler.adapter import build_matcher, digests_of, stored_match
from crawler.errors import TrawlError
from matchers.decision import Matcher
from storage.db import Store
from storage.hits import Recorded
from storage.media import MatchIn, MediaDigestRow, iter_media_digests, record_rematch


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
WRITE_BATCH = 1_000  # images handed to storage per call

# (images checked so far, matches so far)
RematchProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class RematchSummary:
    """What one rematch did: how much it compared and what was new."""

    known_hashes: int
    media: int  # stored images with digests that were checked
    images_matched: int  # images with at least one match within its threshold
    matches: int  # (image, known hash) pairs within their threshold
    new_matches: int  # of those, evidence not recorded before
    new_hits: int  # images queued for review for the first time
    reopened: int  # rejected images back to pending on new high-tier evidence
    duration: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def find_matches(
    matcher: Matcher, rows: Iterable[MediaDigestRow], progress: RematchProgress | None = None,
) -> tuple[int, list[tuple[int, list[MatchIn]]]]:
    """Every stored image with matches (media id, its matches), and how many were checked."""
    checked = 0
    found: list[tuple[int, list[MatchIn]]] = []
    matches = 0
    for row in rows:
        digests = digests_of(row)
        if digests is None:
            continue
        checked += 1
        hits = [stored_match(match) for match in matcher.match(digests)]
        if hits:
            found.append((row.id, hits))
            matches += len(hits)
        if progress is not None and checked % PROGRESS_EVERY == 0:
            progress(checked, matches)
    return checked, found


def rematch(
    store: Store,
    *,
    thresholds: Mapping[str, int] | None = None,
    progress: RematchProgress | None = None,
) -> RematchSummary:
    """Match all stored digests against all lists and record what is new.

    Matches are collected first and written after the read is done, so the read never
    holds the database while they are written (SQLite allows one writer); images with
    matches are few next to images, so the list stays small. New matches become evidence
    of their image's hit (a new pending hit for an image that had none); decided images
    are not re-opened, except a rejected one with new high-tier evidence from another list
    (storage.hits.record_matches). Re-running is harmless.
    """
    started = time.monotonic()
    try:
        matcher = build_matcher(store, thresholds=thresholds)
    except ValueError as exc:  # a threshold out of range for its type
        raise ThresholdError(str(exc)) from None
    known = len(matcher)
    checked, found = 0, list[tuple[int, list[MatchIn]]]()
    if known:
        checked, found = find_matches(matcher, iter_media_digests(store), progress)
    recorded = Recorded()
    for start in range(0, len(found), WRITE_BATCH):
        recorded += record_rematch(store, found[start:start + WRITE_BATCH])
    return RematchSummary(
        known_hashes=known,
        media=checked,
        images_matched=len(found),
        matches=sum(len(m) for _, m in found),
        new_matches=recorded.new_matches,
        new_hits=recorded.new_hits,
        reopened=recorded.reopened_rejected,
        duration=time.monotonic() - started,
    )
