"""Hits: one per image URL that matched, with every match as evidence. Recording new
matches (crawl and rematch alike) and reading hits with what a reviewer or a notice needs."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update

from storage.db import dialect_insert, key_batches, row_batches
from storage.models import (
    Hit,
    HitMatch,
    HitVote,
    KnownHash,
    KnownList,
    Media,
    Observation,
    Suppression,
)
from storage.policy import EXACT_HASH_TYPES, TIERS
from storage.records import HitRow, MatchIn, MatchRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "CRAWLER_ACTOR",
    "PAGE_URLS_PER_HIT",
    "HitRow",
    "MatchIn",
    "MatchRow",
    "Recorded",
    "list_hits",
    "match_type",
    "page_urls_of",
    "record_matches",
]

logger = logging.getLogger(__name__)

# A popular image can sit on thousands of pages; a hit row carries the first ones (and
# the total in page_count).
PAGE_URLS_PER_HIT = 50
# The actor the audit trail names for what a crawl or a rematch changes on its own.
CRAWLER_ACTOR = "trawl-crawler"


def match_type(hash_type: str) -> str:
    return "exact" if hash_type in EXACT_HASH_TYPES else "perceptual"


def match_order(tier: str, confidence: float, distance: int, threshold: int,
                ident: int) -> tuple[int, float, float, int]:
    """Sort key putting an image's most trusted match first (high tier, then confidence,
    then nearness relative to its threshold), as the match decision orders them."""
    return (TIERS.index(tier) if tier in TIERS else len(TIERS), -confidence,
            distance / (threshold + 1), ident)


# --- recording ---------------------------------------------------------------------------


@dataclass
class Recorded:
    """What one recording of matches changed."""

    new_hits: int = 0  # images queued for the first time
    new_matches: int = 0  # evidence added (to new or existing hits)
    reopened_removed: int = 0  # removed images a crawl found served again: back to live
    reopened_rejected: int = 0  # rejected images with new, stronger evidence: pending again

    def __iadd__(self, other: Recorded) -> Recorded:
        self.new_hits += other.new_hits
        self.new_matches += other.new_matches
        self.reopened_removed += other.reopened_removed
        self.reopened_rejected += other.reopened_rejected
        return self


def record_matches(
    session: Session,
    store: Store,
    images: Sequence[tuple[int, str | None, Sequence[MatchIn]]],
    *,
    crawl_id: int | None,
    now: datetime,
    fetched: bool,
) -> Recorded:
    """Attach matches to their images' hits in the caller's transaction, creating a pending
    hit for an image that has none. `images` holds (media id, media sha256, matches).

    New evidence never silently re-opens decided work: confirmed, notified and live images
    stay as they are; a rejected image returns to pending only when a new match is high
    tier and comes from a list that had not matched it before (audited with the reason);
    a removed image goes back to live only when a crawl fetched it again (`fetched`), not
    on a rematch of stored digests. Skipped: pairs an analyst's rejection suppressed
    (same bytes, same known hash) and known hashes deleted since they were matched. Safe
    against a concurrent writer recording the same image (unique keys, ON CONFLICT).
    """
    out = Recorded()
    wanted = [(m, sha, list(matches)) for m, sha, matches in images if matches]
    if not wanted:
        return out
    lists = _list_of_known(session, {x.known_hash_id for _, _, ms in wanted for x in ms})
    suppressed = _suppressed(session, {sha for _, sha, _ in wanted if sha})
    valid: dict[int, dict[int, MatchIn]] = defaultdict(dict)
    for media_id, sha, matches in wanted:
        for match in matches:
            if match.known_hash_id in lists and (sha, match.known_hash_id) not in suppressed:
                held = valid[media_id].get(match.known_hash_id)
                if held is None or match.distance < held.distance:
                    valid[media_id][match.known_hash_id] = match
    if not valid:
        return out
    hits = _hits_of(session, valid.keys())
    out.new_hits = _create_hits(session, store, valid, hits, crawl_id=crawl_id, now=now)
    earlier_lists = _matched_lists(session, [h.id for h in hits.values()])
    added = _insert_matches(session, store, valid, hits, crawl_id=crawl_id, now=now)
    out.new_matches = sum(len(v) for v in added.values())
    for media_id, hit in hits.items():
        new = added.get(hit.id, [])
        _raise_grade(session, hit, [*valid[media_id].values()], now)
        if hit.status == "rejected" and new:
            out.reopened_rejected += _reopen_rejected(
                session, hit, new, lists, earlier_lists.get(hit.id, set()), now)
        elif hit.status == "removed" and fetched:
            out.reopened_removed += _reappeared(session, hit, crawl_id, now)
    return out


@dataclass
class _HitState:
    id: int
    status: str
    tier: str
    confidence: float
    created: bool = False


def _list_of_known(session: Session, known_ids: Iterable[int]) -> dict[int, int]:
    """known hash id -> list id, for the ids that still exist."""
    found: dict[int, int] = {}
    for chunk in key_batches(sorted(set(known_ids))):
        found.update((known_id, list_id) for known_id, list_id in session.execute(
            select(KnownHash.id, KnownHash.list_id).where(KnownHash.id.in_(chunk))))
    return found


def _suppressed(session: Session, digests: Iterable[str]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for chunk in key_batches(sorted(set(digests))):
        found.update((sha, known_id) for sha, known_id in session.execute(
            select(Suppression.sha256, Suppression.known_hash_id)
            .where(Suppression.sha256.in_(chunk))))
    return found


def _hits_of(session: Session, media_ids: Iterable[int]) -> dict[int, _HitState]:
    found: dict[int, _HitState] = {}
    for chunk in key_batches(sorted(set(media_ids))):
        for hit_id, media_id, status, tier, confidence in session.execute(
                select(Hit.id, Hit.media_id, Hit.status, Hit.tier, Hit.confidence)
                .where(Hit.media_id.in_(chunk))):
            found[media_id] = _HitState(hit_id, status, tier, confidence)
    return found


def _best(matches: Iterable[MatchIn]) -> MatchIn:
    return min(matches, key=lambda m: match_order(m.tier, m.confidence, m.distance,
                                                  m.threshold, m.known_hash_id))


def _create_hits(
    session: Session, store: Store, valid: dict[int, dict[int, MatchIn]],
    hits: dict[int, _HitState], *, crawl_id: int | None, now: datetime,
) -> int:
    rows = []
    for media_id, matches in valid.items():
        if media_id in hits:
            continue
        best = _best(matches.values())
        rows.append({"media_id": media_id, "crawl_id": crawl_id, "status": "pending",
                     "tier": best.tier, "confidence": float(best.confidence),
                     "created_at": now, "updated_at": now, "vote_floor": 0})
    created = 0
    table = Hit.__table__
    stmt = dialect_insert(store, table).on_conflict_do_nothing(index_elements=["media_id"])
    stmt = stmt.returning(table.c.id, table.c.media_id, table.c.tier, table.c.confidence)
    for chunk in row_batches(rows):
        for hit_id, media_id, tier, confidence in session.execute(stmt, chunk):
            hits[media_id] = _HitState(hit_id, "pending", tier, confidence, created=True)
            created += 1
    missing = [media_id for media_id in valid if media_id not in hits]
    if missing:  # another writer created them at the same moment
        hits.update(_hits_of(session, missing))
    return created


def _matched_lists(session: Session, hit_ids: Sequence[int]) -> dict[int, set[int]]:
    """hit id -> the lists its matches so far come from."""
    found: dict[int, set[int]] = defaultdict(set)
    for chunk in key_batches(sorted(set(hit_ids))):
        for hit_id, list_id in session.execute(
                select(HitMatch.hit_id, KnownHash.list_id)
                .join(KnownHash, KnownHash.id == HitMatch.known_hash_id)
                .where(HitMatch.hit_id.in_(chunk)).distinct()):
            found[hit_id].add(list_id)
    return found


def _insert_matches(
    session: Session, store: Store, valid: dict[int, dict[int, MatchIn]],
    hits: dict[int, _HitState], *, crawl_id: int | None, now: datetime,
) -> dict[int, list[MatchIn]]:
    """Insert the matches not recorded yet; hit id -> the ones that were new."""
    rows = []
    by_key: dict[tuple[int, int], MatchIn] = {}
    for media_id, matches in valid.items():
        hit = hits[media_id]
        for match in matches.values():
            by_key[(hit.id, match.known_hash_id)] = match
            rows.append({
                "hit_id": hit.id, "known_hash_id": match.known_hash_id,
                "hash_type": match.hash_type, "distance": int(match.distance),
                "threshold": int(match.threshold), "confidence": float(match.confidence),
                "tier": match.tier, "transform": match.transform, "crawl_id": crawl_id,
                "found_at": now,
            })
    added: dict[int, list[MatchIn]] = defaultdict(list)
    table = HitMatch.__table__
    stmt = dialect_insert(store, table).on_conflict_do_nothing(
        index_elements=["hit_id", "known_hash_id"]).returning(table.c.hit_id, table.c.known_hash_id)
    for chunk in row_batches(rows):
        for hit_id, known_hash_id in session.execute(stmt, chunk):
            added[hit_id].append(by_key[(hit_id, known_hash_id)])
    return added


def _raise_grade(session: Session, hit: _HitState, matches: Sequence[MatchIn],
                 now: datetime) -> None:
    """A hit's tier and confidence are its best match's: new evidence may raise them."""
    best = _best(matches)
    if match_order(best.tier, best.confidence, 0, 0, 0) >= match_order(
            hit.tier, hit.confidence, 0, 0, 0):
        return
    session.execute(update(Hit).where(Hit.id == hit.id)
                    .values(tier=best.tier, confidence=float(best.confidence), updated_at=now)
                    .execution_options(synchronize_session=False))
    hit.tier, hit.confidence = best.tier, best.confidence


def _reopen_rejected(
    session: Session, hit: _HitState, new: Sequence[MatchIn], lists: dict[int, int],
    earlier: set[int], now: datetime,
) -> int:
    from storage.review import reopen

    stronger = [m for m in new if m.tier == "high" and lists[m.known_hash_id] not in earlier]
    if not stronger:
        return 0
    list_names = {list_id: name for list_id, name in session.execute(
        select(KnownList.id, KnownList.name)
        .where(KnownList.id.in_({lists[m.known_hash_id] for m in stronger})))}
    why = "; ".join(
        f"{m.hash_type} distance {m.distance} to known hash {m.known_hash_id} of list "
        f"{list_names.get(lists[m.known_hash_id], '?')!r}" for m in stronger)
    reopen(session, hit.id, actor=CRAWLER_ACTOR, now=now,
           detail=f"new high-tier evidence from a list that had not matched it: {why}")
    return 1


def _reappeared(session: Session, hit: _HitState, crawl_id: int | None, now: datetime) -> int:
    from storage.review import transition

    row = session.get(Hit, hit.id)
    assert row is not None
    transition(session, row, "live", actor=CRAWLER_ACTOR, action="reappeared", now=now,
               detail=f"crawl {crawl_id} found the image served again at its URL",
               removed_at=None, last_checked_at=now, renotice_due_at=now)
    logger.warning("hit %d: a removed image is served again; back to live for a new notice",
                   hit.id)
    return 1


# --- reading -----------------------------------------------------------------------------


def list_hits(
    store: Store,
    *,
    status: str | Sequence[str] | None = None,
    tier: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    ids: Sequence[int] | None = None,
    newest_first: bool = False,
    host: str | None = None,
) -> list[HitRow]:
    """Hits (one per image) by id, oldest first unless `newest_first`; optionally only those
    in a status (or one of several), of a tier ('high' or 'low'; None or 'all' for both),
    served from a host (exact name), or with those ids. Each carries its pages, its server
    and every match, best first."""
    query = select(Hit.id).order_by(Hit.id.desc() if newest_first else Hit.id)
    if host is not None:
        query = query.join(Media, Media.id == Hit.media_id).where(Media.host == host)
    if status is not None:
        query = query.where(Hit.status.in_([status] if isinstance(status, str) else status))
    if tier not in (None, "all"):
        query = query.where(Hit.tier == tier)
    if ids is not None:
        query = query.where(Hit.id.in_(list(ids)))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    with store.read_session() as session:
        found = list(session.scalars(query))
        rows = hit_rows(session, found)
    return [rows[i] for i in found if i in rows]


# The statements that read hit rows, built once: a page of hits is read on every queue,
# list and claim request, and building (and cache-keying) these per call cost more than
# running them. Each takes its keys as one expanding IN parameter.
_CONFIRMATIONS = (
    select(func.count(func.distinct(HitVote.actor)))
    .where(HitVote.hit_id == Hit.id, HitVote.decision == "confirm",
           HitVote.id > Hit.vote_floor)
    .correlate(Hit).scalar_subquery()
)
_HIT_ROWS = (
    select(Hit.id, Hit.media_id, Hit.crawl_id, Hit.confidence, Hit.tier, Hit.status,
           Hit.created_at, Hit.updated_at, Hit.claimed_by, Hit.claimed_until, Media.url,
           Media.server_ip, Media.sha256, Media.host, Media.first_seen, Media.last_seen,
           _CONFIRMATIONS.label("confirmations"))
    .join(Media, Media.id == Hit.media_id).where(Hit.id.in_(bindparam("ids", expanding=True)))
)
_MATCHES = (
    select(HitMatch.id, HitMatch.hit_id, HitMatch.known_hash_id, HitMatch.hash_type,
           HitMatch.distance, HitMatch.threshold, HitMatch.confidence, HitMatch.tier,
           HitMatch.transform, HitMatch.crawl_id, HitMatch.found_at, KnownHash.value,
           KnownHash.label, KnownHash.category, KnownList.name.label("list_name"),
           KnownHash.variant)
    .join(KnownHash, KnownHash.id == HitMatch.known_hash_id)
    .join(KnownList, KnownList.id == KnownHash.list_id)
    .where(HitMatch.hit_id.in_(bindparam("ids", expanding=True)))
)


def _page_urls_statement() -> Any:
    first_seen = func.min(Observation.seen_at)
    grouped = (
        select(
            Observation.media_id,
            Observation.page_url,
            func.row_number().over(
                partition_by=Observation.media_id,
                order_by=(first_seen, func.min(Observation.id)),
            ).label("rank"),
            func.count().over(partition_by=Observation.media_id).label("total"),
        )
        .where(Observation.media_id.in_(bindparam("ids", expanding=True)))
        .group_by(Observation.media_id, Observation.page_key, Observation.page_url)
        .subquery()
    )
    return (
        select(grouped.c.media_id, grouped.c.page_url, grouped.c.total)
        .where(grouped.c.rank <= bindparam("per_media"))
        .order_by(grouped.c.media_id, grouped.c.rank)
    )


_PAGE_URLS = _page_urls_statement()


def hit_rows(session: Session, hit_ids: Sequence[int]) -> dict[int, HitRow]:
    """The rows of these hits (in the caller's session), by id: three statements a page
    (hits with their media and confirmations, matches, pages)."""
    out: dict[int, HitRow] = {}
    for chunk in key_batches(list(dict.fromkeys(hit_ids))):
        hits = session.execute(_HIT_ROWS, {"ids": list(chunk)}).all()
        matches = matches_of(session, chunk)
        pages = page_urls_of(session, [hit.media_id for hit in hits])
        for hit in hits:
            evidence = matches.get(hit.id, ())
            urls, count = pages.get(hit.media_id, ((), 0))
            best = evidence[0] if evidence else None
            out[hit.id] = HitRow(
                id=hit.id, media_id=hit.media_id, media_url=hit.url,
                page_url=urls[0] if urls else None, page_urls=urls, page_count=count,
                status=hit.status, tier=hit.tier, confidence=hit.confidence,
                hash_type=best.hash_type if best else "", distance=best.distance if best else 0,
                transform=best.transform if best else None, list=best.list if best else "",
                label=best.label if best else None, category=best.category if best else None,
                match_count=len(evidence), matches=evidence, server_ip=hit.server_ip,
                host=hit.host, sha256=hit.sha256, created_at=hit.created_at,
                updated_at=hit.updated_at, crawl_id=hit.crawl_id, claimed_by=hit.claimed_by,
                claimed_until=hit.claimed_until, confirmations=int(hit.confirmations or 0),
                first_seen=hit.first_seen, last_seen=hit.last_seen,
            )
    return out


def matches_of(session: Session, hit_ids: Sequence[int]) -> dict[int, tuple[MatchRow, ...]]:
    """hit id -> its matches, best first, with the list, label and value they matched."""
    found: dict[int, list[MatchRow]] = defaultdict(list)
    for chunk in key_batches(list(hit_ids)):
        for m in session.execute(_MATCHES, {"ids": list(chunk)}):
            found[m.hit_id].append(MatchRow(
                id=m.id, known_hash_id=m.known_hash_id, hash_type=m.hash_type,
                match_type=match_type(m.hash_type), distance=m.distance,
                threshold=m.threshold, confidence=m.confidence, tier=m.tier,
                transform=m.transform, list=m.list_name, label=m.label, category=m.category,
                known_value=m.value, crawl_id=m.crawl_id, found_at=m.found_at,
                known_variant=m.variant,
            ))
    return {
        hit_id: tuple(sorted(rows, key=lambda r: match_order(
            r.tier, r.confidence, r.distance, r.threshold, r.id)))
        for hit_id, rows in found.items()
    }


def best_matches_of(session: Session, hit_ids: Sequence[int]
                    ) -> dict[int, tuple[MatchRow, int]]:
    """hit id -> (its best match, how many matches it has)."""
    return {hit_id: (rows[0], len(rows))
            for hit_id, rows in matches_of(session, hit_ids).items() if rows}


def page_urls_of(
    session: Session, media_ids: Iterable[int], *, per_media: int = PAGE_URLS_PER_HIT
) -> dict[int, tuple[tuple[str, ...], int]]:
    """media id -> (distinct page URLs that showed it, first seen first, at most
    `per_media`; the number of distinct pages in all), over every crawl."""
    ids = sorted(set(media_ids))
    found: dict[int, tuple[list[str], int]] = {}
    for chunk in key_batches(ids):
        for media_id, page_url, total in session.execute(
                _PAGE_URLS, {"ids": list(chunk), "per_media": per_media}):
            urls, _ = found.setdefault(media_id, ([], int(total)))
            urls.append(page_url)
    return {media_id: (tuple(urls), total) for media_id, (urls, total) in found.items()}
