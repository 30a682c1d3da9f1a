"""Takedown statistics: hits per state, notices sent, time to removal per provider."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from storage.clock import as_naive_utc
from storage.models import Hit, Media, Notice, NoticeItem
from storage.policy import DEFAULT_OLDEST_LIVE, HIT_STATES, RECHECKABLE
from storage.providers import UNATTRIBUTED_PREFIX

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store



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
class TakedownStats:
    generated_at: datetime
    hits_by_status: dict[str, int]
    notices_sent: int
    notices_unsent: int
    providers: tuple[ProviderRemovalStats, ...]
    oldest_live: tuple[LiveHit, ...]


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


def _provider_by_hit(session: Session) -> dict[int, str]:
    """Provider key of each hit's latest sent notice (the one that counts for removal)."""
    rows = session.execute(
        select(NoticeItem.hit_id, Notice.provider_key)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(Notice.sent_at.is_not(None))
        .order_by(Notice.sent_at, Notice.id)
    )
    return {hit_id: key for hit_id, key in rows}


def takedown_stats(
    store: Store, *, now: datetime | None = None, oldest: int = DEFAULT_OLDEST_LIVE
) -> TakedownStats:
    when = as_naive_utc(now)
    with store.read_session() as session:
        by_status = dict.fromkeys(HIT_STATES, 0)
        for status, count in session.execute(
            select(Hit.status, func.count(Hit.id)).group_by(Hit.status)
        ):
            by_status[status] = int(count)
        sent = int(session.scalar(
            select(func.count(Notice.id)).where(Notice.sent_at.is_not(None))) or 0)
        unsent = int(session.scalar(
            select(func.count(Notice.id)).where(Notice.sent_at.is_(None))) or 0)
        provider_of = _provider_by_hit(session)
        notices_per_hit: dict[int, int] = {}
        for hit_id, count in session.execute(
            select(NoticeItem.hit_id, func.count(Notice.id))
            .join(Notice, Notice.id == NoticeItem.notice_id)
            .where(Notice.sent_at.is_not(None)).group_by(NoticeItem.hit_id)
        ):
            notices_per_hit[hit_id] = int(count)
        hours: dict[str, list[float]] = {}
        counts: dict[str, list[int]] = {}  # provider -> [notified, removed, still live]
        live: list[LiveHit] = []
        for hit, url in session.execute(
            select(Hit, Media.url).join(Media, Media.id == Hit.media_id)
            .where(Hit.notified_at.is_not(None))
            .order_by(Hit.notified_at, Hit.id)
        ):
            provider = _display(provider_of.get(hit.id))
            tally = counts.setdefault(provider, [0, 0, 0])
            tally[0] += 1
            if hit.status == "removed" and hit.removed_at is not None:
                tally[1] += 1
                assert hit.notified_at is not None
                hours.setdefault(provider, []).append(
                    (hit.removed_at - hit.notified_at).total_seconds() / 3600.0)
            elif hit.status in RECHECKABLE:
                tally[2] += 1
                if len(live) < oldest:
                    age = ((when - hit.notified_at).total_seconds() / 3600.0
                           if hit.notified_at else None)
                    live.append(LiveHit(hit.id, hit.status, url, provider, hit.notified_at,
                                        age, hit.renotice_due_at,
                                        notices_per_hit.get(hit.id, 0)))
        providers = tuple(
            ProviderRemovalStats(
                provider=name, notified=tally[0], removed=tally[1], still_live=tally[2],
                median_hours=percentile(hours.get(name, []), 50),
                p90_hours=percentile(hours.get(name, []), 90),
            )
            for name, tally in sorted(counts.items(), key=lambda kv: kv[0].lower())
        )
    return TakedownStats(when, by_status, sent, unsent, providers, tuple(live))
