"""Takedown statistics: images per state and tier, notices sent, time to removal per provider."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Subquery, and_, case, func, select

from storage.clock import as_naive_utc
from storage.models import Crawl, Hit, Media, Notice, NoticeItem
from storage.policy import DEFAULT_OLDEST_LIVE, HIT_STATES, RECHECKABLE, TIERS
from storage.providers import UNATTRIBUTED_PREFIX

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

DEFAULT_CRAWL_DAYS = 7  # the dashboard's crawl chart

@dataclass(frozen=True)
class ProviderRemovalStats:
    provider: str
    notified: int  # hits ever notified to this provider
    removed: int
    still_live: int
    median_hours: float | None  # time from first notice to verified removal
    p90_hours: float | None


@dataclass(frozen=True)
class LiveHit:
    hit_id: int
    status: str  # notified (not re-checked yet) | live (re-checked and still there)
    media_url: str
    provider: str
    notified_at: datetime | None
    age_hours: float | None  # since the first notice
    renotice_due_at: datetime | None
    notices_sent: int


@dataclass(frozen=True)
class DayCrawls:
    day: date
    crawls: int  # crawls started that day (UTC)
    hits: int  # images those crawls found matching


@dataclass(frozen=True)
class TakedownStats:
    generated_at: datetime
    hits_by_status: dict[str, int]  # images per state
    pending_by_tier: dict[str, int]  # images waiting for review, per tier
    notices_sent: int
    notices_unsent: int
    providers: tuple[ProviderRemovalStats, ...]
    oldest_live: tuple[LiveHit, ...]
    renotices_due: int = 0  # notified or live images whose re-notice is due now
    crawls_by_day: tuple[DayCrawls, ...] = ()  # the last DEFAULT_CRAWL_DAYS days, oldest first


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _display(key: str | None) -> str:
    if key is None:
        return "unknown"
    if key.startswith(UNATTRIBUTED_PREFIX):
        return f"unattributed ({key[len(UNATTRIBUTED_PREFIX):]})"
    return key


def _latest_sent_notice() -> Subquery:
    """hit id -> provider key of its latest sent notice (the one that counts for removal)."""
    ranked = (
        select(NoticeItem.hit_id, Notice.provider_key,
               func.row_number().over(partition_by=NoticeItem.hit_id,
                                      order_by=(Notice.sent_at.desc(), Notice.id.desc()))
               .label("rank"))
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(Notice.sent_at.is_not(None))
        .subquery()
    )
    return select(ranked.c.hit_id, ranked.c.provider_key).where(ranked.c.rank == 1).subquery()


def _crawls_by_day(session: Session, when: datetime, days: int) -> tuple[DayCrawls, ...]:
    first = (when - timedelta(days=days - 1)).date()
    tally = {first + timedelta(days=n): [0, 0] for n in range(days)}
    for started, hits in session.execute(
        select(Crawl.started_at, Crawl.hits)
        .where(Crawl.started_at >= datetime.combine(first, time()))
    ):
        day = tally.get(started.date())
        if day is not None:
            day[0] += 1
            day[1] += int(hits or 0)
    return tuple(DayCrawls(day, n, hits) for day, (n, hits) in sorted(tally.items()))


def takedown_stats(
    store: Store, *, now: datetime | None = None, oldest: int = DEFAULT_OLDEST_LIVE,
    crawl_days: int = DEFAULT_CRAWL_DAYS,
) -> TakedownStats:
    """The team's figures, computed in the database (aggregates, not rows): the CLI's
    `trawl stats`, the dashboard and GET /api/v1/stats all come from here."""
    when = as_naive_utc(now)
    with store.read_session() as session:
        by_status = dict.fromkeys(HIT_STATES, 0)
        for status, count in session.execute(
            select(Hit.status, func.count(Hit.id)).group_by(Hit.status)
        ):
            by_status[status] = int(count)
        by_tier = dict.fromkeys(TIERS, 0)
        for tier, count in session.execute(
            select(Hit.tier, func.count(Hit.id)).where(Hit.status == "pending")
            .group_by(Hit.tier)
        ):
            by_tier[tier] = int(count)
        sent = int(session.scalar(
            select(func.count(Notice.id)).where(Notice.sent_at.is_not(None))) or 0)
        unsent = int(session.scalar(
            select(func.count(Notice.id)).where(Notice.sent_at.is_(None))) or 0)
        due = int(session.scalar(
            select(func.count(Hit.id)).where(Hit.status.in_(RECHECKABLE),
                                             Hit.renotice_due_at <= when)) or 0)
        latest = _latest_sent_notice()
        counts: dict[str, list[int]] = {}  # provider -> [notified, removed, still live]
        removed = and_(Hit.status == "removed", Hit.removed_at.is_not(None))
        for key, notified, gone, live_count in session.execute(
            select(latest.c.provider_key, func.count(Hit.id),
                   func.sum(case((removed, 1), else_=0)),
                   func.sum(case((Hit.status.in_(RECHECKABLE), 1), else_=0)))
            .select_from(Hit).outerjoin(latest, latest.c.hit_id == Hit.id)
            .where(Hit.notified_at.is_not(None))
            .group_by(latest.c.provider_key)
        ):
            tally = counts.setdefault(_display(key), [0, 0, 0])
            for n, value in enumerate((notified, gone, live_count)):
                tally[n] += int(value or 0)
        hours: dict[str, list[float]] = {}
        for key, notified_at, removed_at in session.execute(
            select(latest.c.provider_key, Hit.notified_at, Hit.removed_at)
            .select_from(Hit).outerjoin(latest, latest.c.hit_id == Hit.id)
            .where(removed, Hit.notified_at.is_not(None))
        ):
            hours.setdefault(_display(key), []).append(
                (removed_at - notified_at).total_seconds() / 3600.0)
        live = _oldest_live(session, when, oldest)
        providers = tuple(
            ProviderRemovalStats(
                provider=name, notified=tally[0], removed=tally[1], still_live=tally[2],
                median_hours=percentile(hours.get(name, []), 50),
                p90_hours=percentile(hours.get(name, []), 90),
            )
            for name, tally in sorted(counts.items(), key=lambda kv: kv[0].lower())
        )
        by_day = _crawls_by_day(session, when, crawl_days)
    return TakedownStats(when, by_status, by_tier, sent, unsent, providers, live, due, by_day)


def _oldest_live(session: Session, when: datetime, oldest: int) -> tuple[LiveHit, ...]:
    """The `oldest` notified or live images, longest since their first notice first."""
    if oldest <= 0:
        return ()
    rows = session.execute(
        select(Hit.id, Hit.status, Hit.notified_at, Hit.renotice_due_at, Media.url)
        .join(Media, Media.id == Hit.media_id)
        .where(Hit.status.in_(RECHECKABLE), Hit.notified_at.is_not(None))
        .order_by(Hit.notified_at, Hit.id).limit(oldest)
    ).all()
    ids = [row[0] for row in rows]
    latest = _latest_sent_notice()
    provider_of = dict(session.execute(
        select(latest.c.hit_id, latest.c.provider_key).where(latest.c.hit_id.in_(ids))).all())
    sent_per_hit = dict(session.execute(
        select(NoticeItem.hit_id, func.count(Notice.id))
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(Notice.sent_at.is_not(None), NoticeItem.hit_id.in_(ids))
        .group_by(NoticeItem.hit_id)).all())
    return tuple(
        LiveHit(hit_id, status, url, _display(provider_of.get(hit_id)), notified_at,
                (when - notified_at).total_seconds() / 3600.0 if notified_at else None,
                renotice_due_at, int(sent_per_hit.get(hit_id, 0)))
        for hit_id, status, notified_at, renotice_due_at, url in rows
    )
