"""A hit's evidence: where it was seen, its digests, what it matched, who hosts it, history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from storage.domains import host_of
from storage.hits import matches_of
from storage.models import (
    AuditEvent,
    Hit,
    HitAlias,
    HitVote,
    Media,
    Notice,
    NoticeItem,
    Observation,
)
from storage.providers import Attribution, Attributor
from storage.records import HitRow, MatchRow
from storage.review import ReviewQueue, UnknownIdError, queue_in

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: str | None


@dataclass(frozen=True)
class VoteInfo:
    actor: str
    decision: str
    note: str | None
    at: datetime


@dataclass(frozen=True)
class PageSeen:
    page_url: str
    first_seen: datetime
    last_seen: datetime
    times: int


@dataclass(frozen=True)
class HitDetail:
    """All evidence for one image at a URL: where it was seen, its digests, every known hash
    it matched, who hosts it, and everything that happened to it. Never the image."""

    id: int
    status: str
    tier: str
    confidence: float
    media_id: int
    media_url: str
    host: str
    pages: tuple[PageSeen, ...]
    md5: str | None
    sha1: str | None
    sha256: str | None
    phash: str | None
    dhash: str | None
    pdq: str | None
    pdq_quality: int | None
    content_type: str | None
    format: str | None
    width: int | None
    height: int | None
    size: int | None
    fetch_status: str
    matches: tuple[MatchRow, ...]  # best first
    server_ip: str | None
    first_seen: datetime
    last_seen: datetime
    crawl_id: int | None
    created_at: datetime
    updated_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    notified_at: datetime | None
    last_checked_at: datetime | None
    renotice_due_at: datetime | None
    removed_at: datetime | None
    time_to_removal_seconds: float | None
    provider: str
    provider_abuse_email: str | None
    attributed_via: str
    votes: tuple[VoteInfo, ...]
    notices: tuple[str, ...]
    history: tuple[HistoryEntry, ...]


def pages_of(session: Session, media_ids: Iterable[int]) -> dict[int, list[PageSeen]]:
    """Pages that showed each media, first seen first."""
    ids = list(set(media_ids))
    out: dict[int, list[PageSeen]] = {}
    if not ids:
        return out
    rows = session.execute(
        select(Observation.media_id, Observation.page_url, func.min(Observation.seen_at),
               func.max(Observation.seen_at), func.count(Observation.id))
        .where(Observation.media_id.in_(ids))
        .group_by(Observation.media_id, Observation.page_url)
        .order_by(Observation.media_id, func.min(Observation.seen_at), Observation.page_url)
    )
    for media_id, page_url, first, last, times in rows:
        out.setdefault(media_id, []).append(PageSeen(page_url, first, last, int(times)))
    return out


def history_of(session: Session, hit_id: int) -> list[HistoryEntry]:
    """The audit entries of a hit, including those of the per-match hits that an older
    Trawl kept for the same image and that were merged into it (hit_aliases)."""
    ids = [hit_id, *session.scalars(select(HitAlias.old_id).where(HitAlias.hit_id == hit_id))]
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity == "hit", AuditEvent.entity_id.in_(ids))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [HistoryEntry(e.at, e.actor, e.action, e.from_state, e.to_state, e.detail)
            for e in rows]


def providers_of(store: Store, rows: Iterable[HitRow]) -> dict[int, Attribution]:
    """hit id -> who hosts the image (by server address, else by domain), for a page of
    hits: one lookup per distinct (address, host)."""
    with store.read_session() as session:
        return providers_in(session, rows)


def providers_in(session: Session, rows: Iterable[HitRow]) -> dict[int, Attribution]:
    """providers_of in the caller's session."""
    attribute = Attributor(session)
    pairs = {row.id: (row.server_ip, row.host or host_of(row.media_url)) for row in rows}
    attribute.prefetch(pairs.values())
    return {hit_id: attribute(*pair) for hit_id, pair in pairs.items()}


def queue_with_providers(
    store: Store, *, actor: str, tier: str, limit: int, now: datetime | None,
    next_while_claimed: bool = True,
) -> tuple[ReviewQueue, dict[int, Attribution]]:
    """The review queue as `actor` sees it (storage.review.review_queue) and who hosts each
    image shown, read together: what the review page and GET /api/v1/review/queue show."""
    with store.read_session() as session:
        queue = queue_in(session, actor=actor, tier=tier, limit=limit, now=now,
                         next_while_claimed=next_while_claimed)
        return queue, providers_in(session, (*queue.mine, *queue.next_up))


def get_hit_detail(store: Store, hit_id: int) -> HitDetail:
    """Everything recorded about one hit, or UnknownIdError."""
    with store.read_session() as session:
        row = session.execute(
            select(Hit, Media).join(Media, Media.id == Hit.media_id).where(Hit.id == hit_id)
        ).first()
        if row is None:
            raise UnknownIdError(f"no hit with id {hit_id} (see `trawl hits list --tier all`)")
        hit, media = row
        host = media.host or host_of(media.url)
        who = Attributor(session)(media.server_ip, host)
        votes = tuple(
            VoteInfo(v.actor, v.decision, v.note, v.at)
            for v in session.scalars(
                select(HitVote).where(HitVote.hit_id == hit_id).order_by(HitVote.at, HitVote.id))
        )
        notices = tuple(session.scalars(
            select(Notice.reference).join(NoticeItem, NoticeItem.notice_id == Notice.id)
            .where(NoticeItem.hit_id == hit_id).order_by(Notice.created_at, Notice.id)
        ))
        ttr = ((hit.removed_at - hit.notified_at).total_seconds()
               if hit.removed_at and hit.notified_at else None)
        return HitDetail(
            id=hit.id, status=hit.status, tier=hit.tier, confidence=hit.confidence,
            media_id=media.id, media_url=media.url, host=host,
            pages=tuple(pages_of(session, [media.id]).get(media.id, [])),
            md5=media.md5, sha1=media.sha1, sha256=media.sha256, phash=media.phash,
            dhash=media.dhash, pdq=media.pdq, pdq_quality=media.pdq_quality,
            content_type=media.content_type, format=media.format, width=media.width,
            height=media.height, size=media.size, fetch_status=media.fetch_status,
            matches=matches_of(session, [hit.id]).get(hit.id, ()),
            server_ip=media.server_ip, first_seen=media.first_seen,
            last_seen=media.last_seen, crawl_id=hit.crawl_id, created_at=hit.created_at,
            updated_at=hit.updated_at, claimed_by=hit.claimed_by,
            claimed_until=hit.claimed_until, notified_at=hit.notified_at,
            last_checked_at=hit.last_checked_at, renotice_due_at=hit.renotice_due_at,
            removed_at=hit.removed_at, time_to_removal_seconds=ttr, provider=who.name,
            provider_abuse_email=who.abuse_email, attributed_via=who.via, votes=votes,
            notices=notices, history=tuple(history_of(session, hit_id)),
        )
