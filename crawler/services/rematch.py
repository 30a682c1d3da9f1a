"""Match every stored image's digests against the current known lists, without crawling again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from matchers.decision import KnownRef, Match, Matcher
from matchers.digests import Digests, parse_dihedral
from storage.db import Store
from storage.known import iter_known_hashes
from storage.media import HitIn, MediaDigestRow, iter_media_digests, record_rematch_hits

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


def hit_of(match: Match) -> HitIn:
    """What storage queues for review from one match (crawl and rematch alike)."""
    return HitIn(
        known_hash_id=match.known_id,
        hash_type=match.hash_type,
        distance=match.distance,
        confidence=match.confidence,
        tier=match.tier,
        transform=match.transform,
    )


def build_matcher(store: Store, *, thresholds: Mapping[str, int] | None = None) -> Matcher:
    """A matcher over every known hash in the database (all lists)."""
    refs = (
        KnownRef(
            id=row.id,
            list_name=row.list_name,
            hash_type=row.hash_type,
            value=row.value,
            label=row.label,
            category=row.category,
        )
        for row in iter_known_hashes(store)
    )
    return Matcher.build(refs, thresholds=thresholds)


def digests_of(row: MediaDigestRow) -> Digests | None:
    """The stored digests as the matcher takes them; None for a URL that was never hashed
    (a failed fetch keeps its media row but has nothing to match)."""
    if row.md5 is None or row.sha1 is None or row.sha256 is None:
        return None
    decoded = row.phash is not None or row.pdq is not None or row.dhash is not None
    return Digests(
        md5=row.md5,
        sha1=row.sha1,
        sha256=row.sha256,
        size=row.size or 0,
        status="ok" if decoded else "undecodable",
        # The matcher grades perceptual hits by image size and flatness (icons, tiny
        # images and flat graphics collide), as the crawl had them.
        width=row.width,
        height=row.height,
        phash=row.phash,
        dhash=row.dhash,
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        flatness=row.flatness,
        pdq_dihedral=parse_dihedral(row.pdq_dihedral),
    )


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
        pairs += [(row.id, hit_of(match)) for match in matcher.match(digests)]
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
