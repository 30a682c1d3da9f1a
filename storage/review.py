"""Analyst review: claims, votes (two-person rule) and the hit state machine, all audited."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from storage.audit import append_audit
from storage.clock import as_naive_utc
from storage.errors import StorageError
from storage.hits import page_urls_of
from storage.models import (
    Hit,
    HitVote,
    KnownHash,
    KnownList,
    Media,
    Suppression,
)
from storage.policy import (
    DEFAULT_CLAIM_LIMIT,
    DEFAULT_CLAIM_MINUTES,
    DEFAULT_CONFIRMATIONS_REQUIRED,
    TRANSITIONS,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

EXACT_HASH_TYPES = frozenset({"md5", "sha1", "sha256"})  # everything else is perceptual

_VERB = {"confirmed": "confirmed", "rejected": "rejected", "notified": "notified",
         "live": "marked live", "removed": "marked removed"}

Decision = Literal["confirm", "reject"]


class WorkflowError(StorageError):
    """A refused review or takedown action; the message says what and why, and that nothing
    in the batch was changed."""


class UnknownIdError(WorkflowError):
    pass


class TransitionError(WorkflowError):
    pass


class ClaimedError(WorkflowError):
    pass


@dataclass(frozen=True)
class ReviewItem:
    """A hit as an analyst sees it in the queue (never the image: URLs and match facts)."""

    id: int
    status: str
    media_url: str
    page_url: str | None
    page_urls: tuple[str, ...]
    hash_type: str
    match_type: str
    distance: int
    confidence: float
    tier: str
    list: str
    label: str | None
    category: str | None
    server_ip: str | None
    created_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    confirmations: int


@dataclass(frozen=True)
class DecisionResult:
    id: int
    from_state: str
    to_state: str
    confirmations: int  # distinct analysts who confirmed so far
    required: int
    counted: bool  # False: this analyst had already voted the same way


def match_type(hash_type: str) -> str:
    return "exact" if hash_type in EXACT_HASH_TYPES else "perceptual"


# --- transitions -------------------------------------------------------------------------


def refusal(hit_id: int, status: str, to_state: str) -> str:
    sources = [s for s, targets in TRANSITIONS.items() if to_state in targets]
    allowed = " or ".join(sources) if sources else "no"
    return f"hit {hit_id} is {status}; only {allowed} hits can be {_VERB.get(to_state, to_state)}"


def transition(
    session: Session,
    hit: Hit,
    to_state: str,
    *,
    actor: str,
    action: str,
    now: datetime,
    detail: str | None = None,
    **values: object,
) -> None:
    """Move a hit to another state and audit it, refusing transitions the workflow forbids.

    The UPDATE is conditional on the state read, so two people deciding the same hit at
    once cannot both succeed: the second one fails and its whole batch rolls back."""
    from_state = hit.status
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise TransitionError(refusal(hit.id, from_state, to_state))
    result = session.execute(
        update(Hit)
        .where(Hit.id == hit.id, Hit.status == from_state)
        .values(status=to_state, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise TransitionError(
            f"hit {hit.id} changed while you were deciding (someone else acted on it first); "
            "nothing was changed, look at it again with `trawl hits show`"
        )
    # Mirror the UPDATE on the loaded object without another SELECT.
    for key, value in {"status": to_state, "updated_at": now, **values}.items():
        set_committed_value(hit, key, value)
    append_audit(session, actor=actor, action=action, entity="hit", entity_id=hit.id,
                 from_state=from_state, to_state=to_state, detail=detail)


def load_hits(session: Session, ids: Sequence[int], *, lock: bool = True) -> dict[int, Hit]:
    """The hits with these ids, or UnknownIdError naming every missing one."""
    wanted = list(dict.fromkeys(ids))
    query = select(Hit).where(Hit.id.in_(wanted))
    if lock:
        query = query.with_for_update()
    found = {h.id: h for h in session.scalars(query)}
    missing = [i for i in wanted if i not in found]
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise UnknownIdError(
            f"no hit with id {listed} (see `trawl hits list`); nothing was changed"
        )
    return found


def _votes(session: Session, hit_id: int, decision: str) -> int:
    count = session.scalar(
        select(func.count(func.distinct(HitVote.actor)))
        .where(HitVote.hit_id == hit_id, HitVote.decision == decision)
    )
    return int(count or 0)


def decide(
    store: Store,
    ids: Sequence[int],
    *,
    actor: str,
    decision: Decision,
    note: str | None = None,
    required: int = DEFAULT_CONFIRMATIONS_REQUIRED,
    now: datetime | None = None,
) -> list[DecisionResult]:
    """Record one analyst's confirm/reject on each hit, all or nothing.

    A hit becomes confirmed once `required` distinct analysts confirmed it; a reject takes
    effect at once and suppresses the (sha256, known hash) pair so it is never queued
    again. Hits claimed by someone else (claim not expired) are refused."""
    if decision not in ("confirm", "reject"):
        raise ValueError(f"decision must be confirm or reject, not {decision!r}")
    if required < 1:
        raise WorkflowError(f"the number of confirmations required must be at least 1, "
                            f"not {required}")
    when = as_naive_utc(now)
    target = "confirmed" if decision == "confirm" else "rejected"
    results: list[DecisionResult] = []
    with store.session() as session:
        hits = load_hits(session, ids)
        refused: list[str] = []
        claimed: list[str] = []
        for hit_id, hit in hits.items():
            if hit.status != "pending":
                refused.append(refusal(hit_id, hit.status, target))
            elif (hit.claimed_by and hit.claimed_by != actor and hit.claimed_until is not None
                  and hit.claimed_until > when):
                claimed.append(
                    f"hit {hit_id} is claimed by {hit.claimed_by} until "
                    f"{hit.claimed_until:%Y-%m-%d %H:%M:%S}Z; wait for the claim to expire or "
                    f"ask {hit.claimed_by} to decide it"
                )
        if refused or claimed:
            error = TransitionError if refused else ClaimedError
            raise error("; ".join(refused + claimed) + "; nothing was changed")
        for hit_id, hit in hits.items():
            already = session.scalar(select(HitVote.id).where(
                HitVote.hit_id == hit_id, HitVote.actor == actor, HitVote.decision == decision))
            if already is None:
                session.add(HitVote(hit_id=hit_id, actor=actor, decision=decision, note=note,
                                    at=when))
                session.flush()
            confirmations = _votes(session, hit_id, "confirm")
            release = {"claimed_by": None, "claimed_until": None}
            moves = decision == "reject" or (already is None and confirmations >= required)
            if moves:
                transition(session, hit, target, actor=actor, action=decision, now=when,
                           detail=note, **release)
                if decision == "reject":
                    _suppress(session, hit, when)
            elif already is None:
                session.execute(update(Hit).where(Hit.id == hit_id).values(
                    updated_at=when, **release).execution_options(synchronize_session=False))
                append_audit(
                    session, actor=actor, action="confirm_vote", entity="hit", entity_id=hit_id,
                    from_state="pending", to_state="pending",
                    detail=json.dumps({"note": note, "confirmations": confirmations,
                                       "required": required}),
                )
            results.append(DecisionResult(
                id=hit_id, from_state="pending", to_state=target if moves else "pending",
                confirmations=confirmations, required=required, counted=already is None,
            ))
    return results


def _suppress(session: Session, hit: Hit, when: datetime) -> None:
    sha256 = session.scalar(select(Media.sha256).where(Media.id == hit.media_id))
    if not sha256:
        return
    exists = session.scalar(select(Suppression.id).where(
        Suppression.sha256 == sha256, Suppression.known_hash_id == hit.known_hash_id))
    if exists is None:
        session.add(Suppression(sha256=sha256, known_hash_id=hit.known_hash_id, hit_id=hit.id,
                                created_at=when))


# --- claims ------------------------------------------------------------------------------


def claim_next(
    store: Store,
    *,
    actor: str,
    limit: int = DEFAULT_CLAIM_LIMIT,
    claim_minutes: float = DEFAULT_CLAIM_MINUTES,
    now: datetime | None = None,
) -> list[ReviewItem]:
    """Claim up to `limit` pending hits for `actor` (their own live claims first, then the
    strongest and oldest), skipping hits claimed by others and hits this analyst already
    voted on. Each claim is a conditional UPDATE, so concurrent analysts never share a hit."""
    if limit < 1:
        raise WorkflowError(f"--limit must be at least 1, not {limit}")
    when = as_naive_utc(now)
    until = when + timedelta(minutes=claim_minutes)
    claimable = and_(
        Hit.status == "pending",
        or_(Hit.claimed_by.is_(None), Hit.claimed_by == actor, Hit.claimed_until <= when),
    )
    voted = select(HitVote.hit_id).where(HitVote.actor == actor)
    claimed: list[int] = []
    tried: set[int] = set()
    with store.session() as session:
        for _ in range(5):  # a few rounds in case others won some of the candidates
            query = (
                select(Hit.id, Hit.claimed_by, Hit.claimed_until)
                .where(claimable, Hit.id.not_in(voted))
                .order_by(case((Hit.claimed_by == actor, 0), else_=1), Hit.tier, Hit.created_at,
                          Hit.id)
                .limit(limit - len(claimed) + len(tried))
            )
            candidates = [row for row in session.execute(query) if row[0] not in tried]
            if not candidates:
                break
            for hit_id, holder, held_until in candidates:
                tried.add(hit_id)
                result = session.execute(
                    update(Hit).where(Hit.id == hit_id, claimable)
                    .values(claimed_by=actor, claimed_until=until)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 1) != 1:
                    continue
                claimed.append(hit_id)
                if holder != actor or held_until is None or held_until <= when:
                    append_audit(session, actor=actor, action="claim", entity="hit",
                                 entity_id=hit_id, from_state="pending", to_state="pending",
                                 detail=f"claimed until {until:%Y-%m-%dT%H:%M:%S}Z")
                if len(claimed) >= limit:
                    break
            if len(claimed) >= limit:
                break
        items = review_items(session, claimed)
    order = {hit_id: n for n, hit_id in enumerate(claimed)}
    return sorted(items, key=lambda item: order[item.id])


# --- reading -----------------------------------------------------------------------------


def review_items(session: Session, ids: Sequence[int]) -> list[ReviewItem]:
    if not ids:
        return []
    rows = session.execute(
        select(Hit, Media.url, Media.server_ip, KnownHash.label, KnownHash.category,
               KnownList.name)
        .join(Media, Media.id == Hit.media_id)
        .join(KnownHash, KnownHash.id == Hit.known_hash_id)
        .join(KnownList, KnownList.id == KnownHash.list_id)
        .where(Hit.id.in_(list(ids)))
    ).all()
    pages = page_urls_of(session, [row[0].media_id for row in rows])
    items = []
    for hit, url, server_ip, label, category, list_name in rows:
        urls = pages.get(hit.media_id, ((), 0))[0]
        items.append(ReviewItem(
            id=hit.id, status=hit.status, media_url=url, page_url=urls[0] if urls else None,
            page_urls=urls, hash_type=hit.hash_type, match_type=match_type(hit.hash_type),
            distance=hit.distance, confidence=hit.confidence, tier=hit.tier, list=list_name,
            label=label, category=category, server_ip=server_ip, created_at=hit.created_at,
            claimed_by=hit.claimed_by, claimed_until=hit.claimed_until,
            confirmations=_votes(session, hit.id, "confirm"),
        ))
    return items
