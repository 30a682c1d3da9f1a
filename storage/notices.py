"""Takedown notices per hosting provider, their sending, and re-check outcomes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, or_, select

from storage.audit import append_audit
from storage.clock import as_naive_utc
from storage.domains import host_of
from storage.hits import best_matches_of, page_urls_of
from storage.models import Hit, HitMatch, Media, Notice, NoticeItem, Provider
from storage.policy import DEFAULT_RENOTICE_HOURS, NOTICEABLE, RECHECKABLE
from storage.providers import (
    UNATTRIBUTED_PREFIX,
    Attribution,
    Attributor,
    slugify,
)
from storage.review import (
    UnknownIdError,
    WorkflowError,
    load_hits,
    transition,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store
    from storage.records import MatchRow

REFERENCE_PREFIX = "TRAWL"

ItemKind = Literal["new", "overdue"]
RecheckOutcome = Literal["gone", "live", "inconclusive"]


@dataclass(frozen=True)
class NoticeItemInfo:
    """One URL in a notice: what a provider needs to find and remove it."""

    hit_id: int
    media_url: str
    page_urls: tuple[str, ...]
    server_ip: str | None
    first_seen: datetime
    last_seen: datetime
    match_type: str  # exact | perceptual (of the best match)
    hash_type: str  # of the best match
    list_name: str  # of the best match
    distance: int  # of the best match
    match_count: int  # known hashes the image matched in all
    status: str
    item_kind: ItemKind  # new: first notice; overdue: noticed before and still not removed
    attributed_via: str
    first_notified_at: datetime | None
    renotice_due_at: datetime | None


@dataclass(frozen=True)
class NoticeInfo:
    id: int
    reference: str
    provider_key: str
    provider: str
    provider_id: int | None
    abuse_email: str | None
    country: str | None
    kind: str  # initial | renotice | mixed
    created_at: datetime
    created_by: str
    sent_at: datetime | None
    sent_by: str | None
    items: tuple[NoticeItemInfo, ...]


@dataclass(frozen=True)
class SentNotice:
    reference: str
    provider: str
    notified: tuple[int, ...]  # hits now notified
    skipped: tuple[int, ...]  # hits removed (or otherwise settled) since the export
    sent_at: datetime
    renotice_due_at: datetime


@dataclass(frozen=True)
class RecheckTarget:
    """An image URL to fetch again, and the known hashes it matched when it was found (with
    the thresholds they were matched at), so the fresh bytes are judged the same way."""

    hit_id: int
    media_url: str
    media_id: int
    known_hash_ids: tuple[int, ...]
    thresholds: tuple[tuple[str, int], ...]  # (hash type, loosest threshold it matched at)


@dataclass(frozen=True)
class RecheckResult:
    hit_id: int
    outcome: RecheckOutcome
    reason: str  # e.g. "HTTP 404", "content changed (pdq distance 112)", "still matches"


@dataclass(frozen=True)
class RemovedHit:
    hit_id: int
    media_url: str
    provider: str
    notified_at: datetime | None
    removed_at: datetime
    time_to_removal_seconds: float | None


@dataclass(frozen=True)
class RecheckSummary:
    checked: int
    removed: tuple[RemovedHit, ...]
    live: tuple[int, ...]
    inconclusive: tuple[tuple[int, str], ...]
    skipped: tuple[int, ...]  # hits whose state changed between fetch and recording


# --- building notices ------------------------------------------------------------------


def _hit_rows(session: Session, *, now: datetime, due_only: bool) -> list[tuple[Hit, Media]]:
    due = (Hit.status.in_(RECHECKABLE)) & (Hit.renotice_due_at <= now)
    where = due if due_only else or_(Hit.status == "confirmed", due)
    return [(hit, media) for hit, media in session.execute(
        select(Hit, Media).join(Media, Media.id == Hit.media_id).where(where).order_by(Hit.id))]


def _provider_filter(session: Session, wanted: str) -> tuple[str, ...]:
    """Provider keys matching --provider: a name, slug, 'unattributed' or 'unattributed:dom'."""
    text = wanted.strip()
    if text.lower() == "unattributed":
        return (UNATTRIBUTED_PREFIX,)
    if text.lower().startswith(UNATTRIBUTED_PREFIX):
        return (text.lower(),)
    names = [n for n in session.scalars(select(Provider.name))
             if n.lower() == text.lower() or slugify(n) == text.lower()]
    if not names:
        known = ", ".join(sorted(session.scalars(select(Provider.name)))) or "none imported"
        raise WorkflowError(
            f"no provider named {text!r} (known: {known}; or 'unattributed'); "
            "see `trawl providers list`"
        )
    return tuple(names)


def _new_reference(session: Session, slug: str, now: datetime) -> str:
    prefix = f"{REFERENCE_PREFIX}-{now:%Y%m%d}-{slug}-"
    n = int(session.scalar(select(func.count(Notice.id)).where(
        Notice.reference.like(prefix + "%"))) or 0) + 1
    while session.scalar(select(Notice.id).where(Notice.reference == f"{prefix}{n}")):
        n += 1
    return f"{prefix}{n}"


def _item(hit: Hit, media: Media, best: MatchRow | None, count: int, pages: Sequence[str],
          who: Attribution) -> NoticeItemInfo:
    return NoticeItemInfo(
        hit_id=hit.id, media_url=media.url, page_urls=tuple(pages), server_ip=media.server_ip,
        first_seen=media.first_seen, last_seen=media.last_seen,
        match_type=best.match_type if best else "exact",
        hash_type=best.hash_type if best else "", list_name=best.list if best else "",
        distance=best.distance if best else 0, match_count=count, status=hit.status,
        item_kind="new" if hit.status == "confirmed" else "overdue",
        attributed_via=who.via, first_notified_at=hit.notified_at,
        renotice_due_at=hit.renotice_due_at,
    )


def _items(session: Session, rows: Sequence[tuple[Hit, Media]]) -> list[tuple[
        Hit, Media, NoticeItemInfo, Attribution]]:
    """Notice items for (hit, media) rows with their attribution, in one pass."""
    attributor = Attributor(session)
    pages = page_urls_of(session, [media.id for _, media in rows])
    best = best_matches_of(session, [hit.id for hit, _ in rows])
    out = []
    for hit, media in rows:
        who = attributor(media.server_ip, media.host or host_of(media.url))
        match, count = best.get(hit.id, (None, 0))
        out.append((hit, media, _item(hit, media, match, count,
                                      pages.get(media.id, ((), 0))[0], who), who))
    return out


def prepare_notices(
    store: Store,
    *,
    actor: str,
    provider: str | None = None,
    due_only: bool = False,
    now: datetime | None = None,
) -> list[NoticeInfo]:
    """Group confirmed hits (and notified/live hits whose re-notice is due) per hosting
    provider into notices with stable references.

    Exporting twice without sending reuses the unsent notice holding the same hits, so a
    reference written into a file stays valid for `mark_sent`."""
    when = as_naive_utc(now)
    with store.session() as session:
        keys = _provider_filter(session, provider) if provider else None
        rows = _hit_rows(session, now=when, due_only=due_only)
        groups: dict[str, tuple[Attribution, list[NoticeItemInfo]]] = {}
        for _hit, _media, item, who in _items(session, rows):
            if keys is not None and not any(
                who.key == k or (k == UNATTRIBUTED_PREFIX and who.provider_id is None)
                for k in keys
            ):
                continue
            groups.setdefault(who.key, (who, []))[1].append(item)
        notices = [
            _notice_for(session, who, items, actor=actor, now=when)
            for who, items in sorted(groups.values(), key=lambda g: g[0].name.lower())
        ]
    return notices


@dataclass(frozen=True)
class AwaitingNotice:
    """A provider's images that the next export would put in a notice, not yet prepared."""

    provider_key: str
    provider: str
    abuse_email: str | None
    items: tuple[NoticeItemInfo, ...]

    @property
    def overdue(self) -> int:
        """Re-notices due: notified or live images past their re-notice time."""
        return sum(1 for i in self.items if i.item_kind == "overdue")


def awaiting_notices(store: Store, *, now: datetime | None = None,
                     due_only: bool = False) -> list[AwaitingNotice]:
    """What `prepare_notices` would group now, per provider, without writing anything:
    confirmed images, and images whose re-notice is due (only those with `due_only`)."""
    when = as_naive_utc(now)
    with store.read_session() as session:
        rows = _hit_rows(session, now=when, due_only=due_only)
        groups: dict[str, tuple[Attribution, list[NoticeItemInfo]]] = {}
        for _hit, _media, item, who in _items(session, rows):
            groups.setdefault(who.key, (who, []))[1].append(item)
    return [AwaitingNotice(who.key, who.name, who.abuse_email, tuple(items))
            for who, items in sorted(groups.values(), key=lambda g: g[0].name.lower())]


def _notice_for(session: Session, who: Attribution, items: list[NoticeItemInfo], *, actor: str,
                now: datetime) -> NoticeInfo:
    hit_ids = sorted(i.hit_id for i in items)
    kinds = {i.item_kind for i in items}
    kind = "mixed" if len(kinds) > 1 else ("initial" if kinds == {"new"} else "renotice")
    notice = None
    for candidate in session.scalars(
        select(Notice).where(Notice.provider_key == who.key, Notice.sent_at.is_(None))
        .order_by(Notice.id.desc())
    ):
        held = sorted(session.scalars(
            select(NoticeItem.hit_id).where(NoticeItem.notice_id == candidate.id)))
        if held == hit_ids:
            notice = candidate
            break
    if notice is None:
        notice = Notice(
            reference=_new_reference(session, who.slug, now), provider_id=who.provider_id,
            provider_key=who.key, created_at=now, created_by=actor, kind=kind,
        )
        session.add(notice)
        session.flush()
        session.add_all(NoticeItem(notice_id=notice.id, hit_id=h) for h in hit_ids)
        append_audit(
            session, actor=actor, action="create", entity="notice", entity_id=notice.id,
            to_state="unsent",
            detail=json.dumps({"reference": notice.reference, "provider": who.key,
                               "hits": hit_ids, "kind": kind}),
        )
    return NoticeInfo(
        id=notice.id, reference=notice.reference, provider_key=who.key, provider=who.name,
        provider_id=who.provider_id, abuse_email=who.abuse_email, country=who.country,
        kind=notice.kind, created_at=notice.created_at, created_by=notice.created_by,
        sent_at=notice.sent_at, sent_by=notice.sent_by,
        items=tuple(sorted(items, key=lambda i: i.hit_id)),
    )


# --- sending -------------------------------------------------------------------------------


def _notices_by_reference(session: Session, references: Sequence[str]) -> list[Notice]:
    wanted = list(dict.fromkeys(r.strip() for r in references))
    found = {n.reference: n for n in session.scalars(
        select(Notice).where(Notice.reference.in_(wanted)).with_for_update())}
    missing = [r for r in wanted if r not in found]
    if missing:
        raise UnknownIdError(
            f"no notice with reference {', '.join(missing)} (references are printed by "
            "`trawl notices export` and listed by `trawl notices list`); nothing was changed"
        )
    return [found[r] for r in wanted]


def mark_sent(
    store: Store,
    references: Sequence[str],
    *,
    actor: str,
    renotice_hours: float = DEFAULT_RENOTICE_HOURS,
    now: datetime | None = None,
) -> list[SentNotice]:
    """Record that notices went out, all or nothing: their confirmed hits become notified
    (notified_at is the FIRST notice, for time to removal), re-noticed hits stay notified,
    and each is due for a re-notice `renotice_hours` from now unless removed by then."""
    when = as_naive_utc(now)
    due = when + timedelta(hours=renotice_hours)
    out: list[SentNotice] = []
    with store.session() as session:
        notices = _notices_by_reference(session, references)
        sent = [n for n in notices if n.sent_at is not None]
        if sent:
            raise WorkflowError("; ".join(
                f"notice {n.reference} was already marked sent at "
                f"{n.sent_at:%Y-%m-%d %H:%M:%S}Z by {n.sent_by}" for n in sent
            ) + "; nothing was changed")
        for notice in notices:
            hit_ids = list(session.scalars(
                select(NoticeItem.hit_id).where(NoticeItem.notice_id == notice.id)))
            hits = load_hits(session, hit_ids)
            notified: list[int] = []
            skipped: list[int] = []
            for hit_id in sorted(hits):
                hit = hits[hit_id]
                if hit.status not in NOTICEABLE:
                    skipped.append(hit_id)
                    continue
                first = hit.status == "confirmed"
                transition(
                    session, hit, "notified", actor=actor,
                    action="notify" if first else "renotice", now=when,
                    detail=notice.reference, renotice_due_at=due,
                    **({"notified_at": when} if first or hit.notified_at is None else {}),
                )
                notified.append(hit_id)
            notice.sent_at = when
            notice.sent_by = actor
            append_audit(
                session, actor=actor, action="sent", entity="notice", entity_id=notice.id,
                from_state="unsent", to_state="sent",
                detail=json.dumps({"reference": notice.reference, "hits": notified,
                                   "skipped": skipped}),
            )
            out.append(SentNotice(notice.reference, notice.provider_key, tuple(notified),
                                  tuple(skipped), when, due))
    return out


def list_notices(
    store: Store,
    *,
    references: Sequence[str] | None = None,
    unsent_only: bool = False,
    sent_only: bool = False,
    provider_key: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[NoticeInfo]:
    """Notices with their items as they are now (newest first); `provider_key` (a provider's
    name, or unattributed:<domain>, any case) keeps one provider's; `limit` and `offset`
    page them."""
    with store.read_session() as session:
        query = select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc())
        if references:
            query = query.where(Notice.reference.in_(list(references)))
        if unsent_only:
            query = query.where(Notice.sent_at.is_(None))
        if sent_only:
            query = query.where(Notice.sent_at.is_not(None))
        if provider_key:
            query = query.where(func.lower(Notice.provider_key) == provider_key.strip().lower())
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        out = []
        for notice in session.scalars(query):
            rows = [(hit, media) for hit, media in session.execute(
                select(Hit, Media)
                .join(NoticeItem, NoticeItem.hit_id == Hit.id)
                .join(Media, Media.id == Hit.media_id)
                .where(NoticeItem.notice_id == notice.id)
                .order_by(Hit.id)
            )]
            provider = session.get(Provider, notice.provider_id) if notice.provider_id else None
            items = tuple(item for _, _, item, _ in _items(session, rows))
            out.append(NoticeInfo(
                id=notice.id, reference=notice.reference, provider_key=notice.provider_key,
                provider=provider.name if provider else _display(notice.provider_key),
                provider_id=notice.provider_id,
                abuse_email=provider.abuse_email if provider else None,
                country=provider.country if provider else None, kind=notice.kind,
                created_at=notice.created_at, created_by=notice.created_by,
                sent_at=notice.sent_at, sent_by=notice.sent_by, items=items,
            ))
        return out


def _display(provider_key: str) -> str:
    if provider_key.startswith(UNATTRIBUTED_PREFIX):
        return f"unattributed ({provider_key[len(UNATTRIBUTED_PREFIX):]})"
    return provider_key


# --- re-checks ---------------------------------------------------------------------------


def recheck_targets(store: Store, *, hit_ids: Iterable[int] | None = None
                    ) -> list[RecheckTarget]:
    """Notified and live images, each with the known hashes it matched (to compare with)."""
    with store.read_session() as session:
        query = (
            select(Hit.id, Media.id, Media.url, HitMatch.known_hash_id, HitMatch.hash_type,
                   HitMatch.threshold)
            .join(Media, Media.id == Hit.media_id)
            .join(HitMatch, HitMatch.hit_id == Hit.id)
            .where(Hit.status.in_(RECHECKABLE))
            .order_by(Hit.id, HitMatch.id)
        )
        if hit_ids is not None:
            query = query.where(Hit.id.in_(list(hit_ids)))
        grouped: dict[int, tuple[int, str, list[int], dict[str, int]]] = {}
        for hit_id, media_id, url, known_id, hash_type, threshold in session.execute(query):
            _, _, known, limits = grouped.setdefault(hit_id, (media_id, url, [], {}))
            known.append(known_id)
            limits[hash_type] = max(threshold, limits.get(hash_type, 0))
    return [RecheckTarget(hit_id, url, media_id, tuple(known), tuple(sorted(limits.items())))
            for hit_id, (media_id, url, known, limits) in grouped.items()]


def _last_sent(session: Session, hit_id: int) -> datetime | None:
    return session.scalar(
        select(func.max(Notice.sent_at)).join(NoticeItem, NoticeItem.notice_id == Notice.id)
        .where(NoticeItem.hit_id == hit_id)
    )


def _provider_of(session: Session, hit_id: int) -> str:
    key = session.scalar(
        select(Notice.provider_key).join(NoticeItem, NoticeItem.notice_id == Notice.id)
        .where(NoticeItem.hit_id == hit_id, Notice.sent_at.is_not(None))
        .order_by(Notice.sent_at.desc(), Notice.id.desc()).limit(1)
    )
    return _display(key) if key else "unknown"


def record_recheck(
    store: Store,
    results: Sequence[RecheckResult],
    *,
    actor: str,
    renotice_hours: float = DEFAULT_RENOTICE_HOURS,
    now: datetime | None = None,
) -> RecheckSummary:
    """Apply re-check outcomes: gone -> removed (with time to removal since the first
    notice), still matching -> live and due for a re-notice `renotice_hours` after the
    last notice sent; inconclusive fetches (timeouts, 5xx) change nothing but are audited."""
    when = as_naive_utc(now)
    removed: list[RemovedHit] = []
    live: list[int] = []
    inconclusive: list[tuple[int, str]] = []
    skipped: list[int] = []
    with store.session() as session:
        hits = load_hits(session, [r.hit_id for r in results])
        for result in results:
            hit = hits[result.hit_id]
            if hit.status not in RECHECKABLE:
                skipped.append(hit.id)
                continue
            if result.outcome == "gone":
                url = session.scalar(select(Media.url).where(Media.id == hit.media_id)) or ""
                transition(session, hit, "removed", actor=actor, action="recheck", now=when,
                           detail=result.reason, removed_at=when, last_checked_at=when,
                           renotice_due_at=None)
                ttr = (when - hit.notified_at).total_seconds() if hit.notified_at else None
                removed.append(RemovedHit(hit.id, url, _provider_of(session, hit.id),
                                          hit.notified_at, when, ttr))
            elif result.outcome == "live":
                base = _last_sent(session, hit.id) or hit.notified_at or when
                transition(session, hit, "live", actor=actor, action="recheck", now=when,
                           detail=result.reason, last_checked_at=when,
                           renotice_due_at=base + timedelta(hours=renotice_hours))
                live.append(hit.id)
            else:
                hit.last_checked_at = when
                append_audit(session, actor=actor, action="recheck", entity="hit",
                             entity_id=hit.id, from_state=hit.status, to_state=hit.status,
                             detail=f"inconclusive: {result.reason}")
                inconclusive.append((hit.id, result.reason))
    return RecheckSummary(len(results), tuple(removed), tuple(live), tuple(inconclusive),
                          tuple(skipped))
