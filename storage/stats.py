"""Takedown statistics: images per state and tier, notices sent, time to removal per provider."""

from __future__ import annotations

import bisect
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Subquery, and_, case, delete, func, select

from storage.clock import as_naive_utc, utcnow
from storage.models import (
    Crawl,
    Hit,
    HitStateCount,
    Media,
    Notice,
    NoticeItem,
    StatsSnapshot,
    TakedownChange,
)
from storage.policy import DEFAULT_OLDEST_LIVE, HIT_STATES, RECHECKABLE, TIERS
from storage.providers import UNATTRIBUTED_PREFIX

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

DEFAULT_CRAWL_DAYS = 7  # the dashboard's crawl chart
FOLD_DELTAS_AT = 5000  # hit_state_counts rows before they are folded into one per pair
REMOVAL_SNAPSHOT = "removal_per_provider"
RENOTICE_SNAPSHOT = "renotices_due"
OLDEST_LIVE_SNAPSHOT = "oldest_live"
SNAPSHOTS = (REMOVAL_SNAPSHOT, RENOTICE_SNAPSHOT, OLDEST_LIVE_SNAPSHOT)
# Re-notice times after the count's moment a renotices_due snapshot holds: it answers for
# any later moment up to the next time after these without reading the hits again.
RENOTICE_TIMES_KEPT = 256
RENOTICE_SNAPSHOT_SECONDS = 60
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

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


@functools.cache
def _latest_sent_notice() -> Subquery:
    """hit id -> provider key of its latest sent notice (the one that counts for removal).

    Built once: making the subquery's column collection (with its foreign keys' proxies)
    cost the dashboard a few milliseconds of CPU on every request."""
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
    `trawl stats`, the dashboard and GET /api/v1/stats all come from here.

    One read: the per-state deltas, the takedown version and its snapshots (time to removal
    per provider, re-notices due, the oldest still live), the notices and the crawls; a
    snapshot that is stale is recomputed in the same read and stored after it. Everything
    a snapshot holds moves the takedown version when it changes (the triggers of 0008 and
    0011: hits' takedown states, notice and removal times, re-notice times, notices)."""
    when = as_naive_utc(now)
    with store.read_session() as session:
        rows = _state_count_rows(session)
        version = _takedown_version(session)
        snapshots = {name: (int(v), body, at) for name, v, body, at in session.execute(
            select(StatsSnapshot.name, StatsSnapshot.version, StatsSnapshot.body,
                   StatsSnapshot.computed_at)
            .where(StatsSnapshot.name.in_(SNAPSHOTS)))}
        providers = _removal_snapshot(snapshots.get(REMOVAL_SNAPSHOT), version)
        fresh_removal = providers is None
        if providers is None:
            providers = _provider_removal(session)
        due = _due_snapshot(snapshots.get(RENOTICE_SNAPSHOT), version, when)
        due_body = None
        if due is None:
            due, due_body = _renotices_due(session, when)
        sent, unsent = (int(n or 0) for n in session.execute(select(
            func.count(Notice.sent_at), func.count(Notice.id) - func.count(Notice.sent_at)
        )).one())
        live = _live_snapshot(snapshots.get(OLDEST_LIVE_SNAPSHOT), version, when, oldest)
        live_body = None
        if live is None:
            live = _oldest_live(session, when, oldest)
            live_body = _live_body(live, oldest)
        by_day = _crawls_by_day(session, when, crawl_days)
    if fresh_removal:
        _store_snapshot(store, REMOVAL_SNAPSHOT, version,
                        json.dumps([asdict(p) for p in providers]))
    if due_body is not None:
        _store_snapshot(store, RENOTICE_SNAPSHOT, version, due_body)
    if live_body is not None:
        _store_snapshot(store, OLDEST_LIVE_SNAPSHOT, version, live_body)
    counts = _fold_if_needed(store, rows)
    by_status = dict.fromkeys(HIT_STATES, 0)
    by_tier = dict.fromkeys(TIERS, 0)
    for (status, tier), n in counts.items():
        by_status[status] = by_status.get(status, 0) + n
        if status == "pending":
            by_tier[tier] = by_tier.get(tier, 0) + n
    return TakedownStats(when, by_status, by_tier, sent, unsent, providers, live, due, by_day)


def _state_count_rows(session: Session) -> list[Any]:
    return list(session.execute(
        select(HitStateCount.status, HitStateCount.tier, func.sum(HitStateCount.n),
               func.count(HitStateCount.id))
        .group_by(HitStateCount.status, HitStateCount.tier)).all())


def _fold_if_needed(store: Store, rows: list[Any]) -> dict[tuple[str, str], int]:
    if sum(int(r[3]) for r in rows) > FOLD_DELTAS_AT:
        fold_state_counts(store)
    return {(status, tier): int(n) for status, tier, n, _ in rows if int(n)}


def state_counts(store: Store) -> dict[tuple[str, str], int]:
    """Images per (state, tier), from the deltas the hits triggers write (hit_state_counts);
    folds the deltas into one row per pair once there are many."""
    with store.read_session() as session:
        rows = _state_count_rows(session)
    return _fold_if_needed(store, rows)


def fold_state_counts(store: Store) -> None:
    """Replace the delta rows with one row per (state, tier). DELETE ... RETURNING takes
    exactly the rows it removes, so deltas that concurrent writers commit meanwhile stay."""
    with store.session() as session:
        totals: dict[tuple[str, str], int] = {}
        for status, tier, n in session.execute(
                delete(HitStateCount).returning(HitStateCount.status, HitStateCount.tier,
                                                HitStateCount.n)):
            totals[(status, tier)] = totals.get((status, tier), 0) + int(n)
        session.add_all(HitStateCount(status=status, tier=tier, n=n)
                        for (status, tier), n in sorted(totals.items()) if n)


def _takedown_version(session: Session) -> int:
    """The newest takedown_changes row: moves with every change that can move the takedown
    figures (the triggers of migrations 0008 and 0011)."""
    return int(session.scalar(select(func.max(TakedownChange.id))) or 0)


def _store_snapshot(store: Store, name: str, version: int, body: str) -> None:
    """Keep a snapshot computed at `version`, unless one at a newer version is there."""
    with store.session() as session:
        held = session.get(StatsSnapshot, name, with_for_update=True)
        if held is None:
            session.add(StatsSnapshot(name=name, version=version, body=body,
                                      computed_at=utcnow()))
        elif held.version <= version:
            held.version, held.body, held.computed_at = version, body, utcnow()


def _live_snapshot(snapshot: tuple[int, str, datetime] | None, version: int, when: datetime,
                   oldest: int) -> tuple[LiveHit, ...] | None:
    """The oldest still-live images from the snapshot (their ages at `when`), or None when
    it cannot tell: another version or length, or older than RENOTICE_SNAPSHOT_SECONDS
    (the same bound on a late-committed change as the re-notices due)."""
    if snapshot is None or snapshot[0] != version or (
            utcnow() - snapshot[2]).total_seconds() >= RENOTICE_SNAPSHOT_SECONDS:
        return None
    body = json.loads(snapshot[1])
    if body["oldest"] != oldest:
        return None
    out = []
    for hit_id, status, url, provider, notified, due, sent in body["rows"]:
        notified_at = datetime.fromisoformat(notified) if notified else None
        out.append(LiveHit(
            hit_id, status, url, provider, notified_at,
            (when - notified_at).total_seconds() / 3600.0 if notified_at else None,
            datetime.fromisoformat(due) if due else None, sent))
    return tuple(out)


def _live_body(live: tuple[LiveHit, ...], oldest: int) -> str:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return json.dumps({"oldest": oldest, "rows": [
        [h.hit_id, h.status, h.media_url, h.provider, iso(h.notified_at),
         iso(h.renotice_due_at), h.notices_sent] for h in live]})


def _removal_snapshot(snapshot: tuple[int, str, datetime] | None, version: int,
                      ) -> tuple[ProviderRemovalStats, ...] | None:
    if snapshot is None or snapshot[0] != version:
        return None
    return tuple(ProviderRemovalStats(**p) for p in json.loads(snapshot[1]))


def provider_removal_stats(store: Store) -> tuple[ProviderRemovalStats, ...]:
    """Time to removal per provider, recomputed only when the takedown figures can have
    moved (a newer takedown_changes row than the snapshot's)."""
    with store.read_session() as session:
        version = _takedown_version(session)
        snapshot = session.get(StatsSnapshot, REMOVAL_SNAPSHOT)
        providers = _removal_snapshot(
            (snapshot.version, snapshot.body, snapshot.computed_at)
            if snapshot is not None else None, version)
        if providers is not None:
            return providers
        providers = _provider_removal(session)
    _store_snapshot(store, REMOVAL_SNAPSHOT, version,
                    json.dumps([asdict(p) for p in providers]))
    return providers


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


def _due_snapshot(snapshot: tuple[int, str, datetime] | None, version: int, when: datetime,
                  ) -> int | None:
    """The re-notices due at `when` from the snapshot, or None when it cannot tell (another
    version, `when` before its time, or past the last re-notice time it holds)."""
    if snapshot is None or snapshot[0] != version:
        return None
    body = json.loads(snapshot[1])
    at = _micros(when)
    if not body["at"] <= at < body["until"]:
        return None
    return int(body["due"]) + bisect.bisect_right(body["next"], at)


def _renotices_due(session: Session, when: datetime) -> tuple[int, str]:
    """Notified or live images whose re-notice is due at `when` (renotice_due_at <= when),
    and the snapshot body that answers for later times: the count, the next
    RENOTICE_TIMES_KEPT re-notice times after `when`, and the moment from which it cannot
    tell any more (`until`: the time after those, or RENOTICE_SNAPSHOT_SECONDS on)."""
    # count(*), not count(id): PostgreSQL then counts the (status, renotice_due_at)
    # index alone (an index-only scan); count(id) read every due row's heap page.
    due = int(session.scalar(
        select(func.count()).select_from(Hit).where(Hit.status.in_(RECHECKABLE),
                                                    Hit.renotice_due_at <= when)) or 0)
    upcoming: list[datetime] = []
    for status in RECHECKABLE:  # one index range (status, renotice_due_at) each, merged
        upcoming += [t for t in session.scalars(
            select(Hit.renotice_due_at)
            .where(Hit.status == status, Hit.renotice_due_at > when)
            .order_by(Hit.renotice_due_at).limit(RENOTICE_TIMES_KEPT + 1)) if t is not None]
    at = _micros(when)
    times = sorted(_micros(t) for t in upcoming)
    # Answers for RENOTICE_SNAPSHOT_SECONDS at most: a change whose takedown_changes row
    # commits after a newer one (PostgreSQL hands out ids before commit) leaves the version
    # as it was, and is then counted within that time anyway.
    until = at + RENOTICE_SNAPSHOT_SECONDS * 1_000_000
    if len(times) > RENOTICE_TIMES_KEPT:
        until = min(until, times[RENOTICE_TIMES_KEPT])
    body = json.dumps({"at": at, "due": due, "next": [t for t in times if t < until],
                       "until": until})
    return due, body


def _provider_removal(session: Session) -> tuple[ProviderRemovalStats, ...]:
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
    return tuple(
        ProviderRemovalStats(
            provider=name, notified=tally[0], removed=tally[1], still_live=tally[2],
            median_hours=percentile(hours.get(name, []), 50),
            p90_hours=percentile(hours.get(name, []), 90),
        )
        for name, tally in sorted(counts.items(), key=lambda kv: kv[0].lower())
    )


def _oldest_live(session: Session, when: datetime, oldest: int) -> tuple[LiveHit, ...]:
    """The `oldest` notified or live images, longest since their first notice first."""
    if oldest <= 0:
        return ()
    rows: list[Any] = []
    for status in RECHECKABLE:  # one index range (status, notified_at) each, then merged
        rows += session.execute(
            select(Hit.id, Hit.status, Hit.notified_at, Hit.renotice_due_at, Media.url)
            .join(Media, Media.id == Hit.media_id)
            .where(Hit.status == status, Hit.notified_at.is_not(None))
            .order_by(Hit.notified_at, Hit.id).limit(oldest)
        ).all()
    rows = sorted(rows, key=lambda row: (row[2], row[0]))[:oldest]
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
