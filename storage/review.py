"""Analyst review of images: claims, votes (two-person rule) and the hit state machine,
all audited. A hit is one image at a URL; every decision covers all of its matches."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm.attributes import set_committed_value

from storage.audit import append_audit, append_audit_events
from storage.clock import as_naive_utc
from storage.errors import StorageError
from storage.hits import hit_rows
from storage.models import Hit, HitMatch, HitVote, Media, Suppression
from storage.policy import (
    DEFAULT_CLAIM_LIMIT,
    DEFAULT_CLAIM_MINUTES,
    DEFAULT_CONFIRMATIONS_REQUIRED,
    DEFAULT_TIER,
    TIER_CHOICES,
    TRANSITIONS,
)
from storage.records import HitRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

_VERB = {"confirmed": "confirmed", "rejected": "rejected", "notified": "notified",
         "live": "marked live", "removed": "marked removed", "pending": "re-opened"}

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
class DecisionResult:
    id: int
    from_state: str
    to_state: str
    confirmations: int  # distinct analysts who confirmed so far (this round)
    required: int
    counted: bool  # False: this analyst had already voted the same way


# --- transitions -------------------------------------------------------------------------


def refusal(hit_id: int, status: str, to_state: str) -> str:
    sources = [s for s, targets in TRANSITIONS.items() if to_state in targets]
    allowed = " or ".join(sources) if sources else "no"
    return f"hit {hit_id} is {status}; only {allowed} hits can be {_VERB.get(to_state, to_state)}"


# The conditional UPDATE of a transition (the new values are its parameters), built once.
_TRANSITION = update(cast(Table, Hit.__table__)).where(
    Hit.__table__.c.id == bindparam("hit_id"), Hit.__table__.c.status == bindparam("from_state"))


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
    session.flush()  # what the session holds goes first, as an ORM UPDATE would do
    result = session.execute(_TRANSITION, {"hit_id": hit.id, "from_state": from_state,
                                           "status": to_state, "updated_at": now, **values})
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


def reopen(session: Session, hit_id: int, *, actor: str, now: datetime, detail: str) -> None:
    """A rejected image back to pending because new, stronger evidence arrived: audited
    with the reason, and the votes of the round that rejected it stop counting."""
    hit = session.get(Hit, hit_id)
    assert hit is not None
    floor = session.scalar(select(func.max(HitVote.id)).where(HitVote.hit_id == hit_id)) or 0
    transition(session, hit, "pending", actor=actor, action="reopen", now=now, detail=detail,
               vote_floor=int(floor), claimed_by=None, claimed_until=None)


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
            f"no hit with id {listed} (see `trawl hits list --tier all`); nothing was changed"
        )
    return found


# --- decisions ---------------------------------------------------------------------------


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
    """Record one analyst's confirm/reject on each image, all or nothing.

    An image becomes confirmed once `required` distinct analysts confirmed it in its
    current round; a reject takes effect at once and suppresses every (sha256, known hash)
    pair it matched, so the same bytes are not queued again for those hashes. Images
    claimed by someone else (claim not expired) are refused."""
    if decision not in ("confirm", "reject"):
        raise ValueError(f"decision must be confirm or reject, not {decision!r}")
    if required < 1:
        raise WorkflowError(f"the number of confirmations required must be at least 1, "
                            f"not {required}")
    when = as_naive_utc(now)
    with store.session() as session:
        hits = load_hits(session, ids)
        _check_decidable(hits, actor, "confirmed" if decision == "confirm" else "rejected", when)
        return [_vote(session, hit, actor=actor, decision=decision, note=note,
                      required=required, when=when) for hit in hits.values()]


def _check_decidable(hits: dict[int, Hit], actor: str, target: str, when: datetime) -> None:
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


# The statements of a vote, built once (building them and their cache keys cost more
# Python than running them, on every decision): this round's votes on the hit (the
# analyst's own vote of this kind, the distinct confirmers), the vote, and a hit released
# after a confirmation that does not decide it yet.
_HITS = cast(Table, Hit.__table__)
_VOTES = cast(Table, HitVote.__table__)
_VOTES_THIS_ROUND = (
    select(func.max(case((and_(_VOTES.c.actor == bindparam("actor"),
                               _VOTES.c.decision == bindparam("decision")), _VOTES.c.id))),
           func.count(func.distinct(case((_VOTES.c.decision == "confirm",
                                          _VOTES.c.actor)))))
    .where(_VOTES.c.hit_id == bindparam("hit_id"), _VOTES.c.id > bindparam("floor")))
_VOTE_INSERT = insert(_VOTES)
_RELEASE_VOTED = (update(_HITS).where(_HITS.c.id == bindparam("hit_id"))
                  .values(claimed_by=None, claimed_until=None))


def _vote(session: Session, hit: Hit, *, actor: str, decision: Decision, note: str | None,
          required: int, when: datetime) -> DecisionResult:
    target = "confirmed" if decision == "confirm" else "rejected"
    # One read for both: whether this analyst already voted so this round, and how many
    # distinct analysts confirmed this round. The hit's row is locked (load_hits), so no
    # other vote on it can land between this read and the insert below.
    already, confirmers = session.execute(_VOTES_THIS_ROUND, {
        "hit_id": hit.id, "floor": hit.vote_floor, "actor": actor, "decision": decision,
    }).one()
    confirmations = int(confirmers or 0)
    if already is None:
        session.execute(_VOTE_INSERT, {"hit_id": hit.id, "actor": actor, "decision": decision,
                                       "note": note, "at": when})
        if decision == "confirm":
            confirmations += 1  # a first confirmation this round: not among those counted
    release = {"claimed_by": None, "claimed_until": None}
    moves = decision == "reject" or (already is None and confirmations >= required)
    if moves:
        transition(session, hit, target, actor=actor, action=decision, now=when, detail=note,
                   **release)
        if decision == "reject":
            _suppress(session, hit, when)
    elif already is None:
        session.execute(_RELEASE_VOTED, {"hit_id": hit.id, "updated_at": when})
        append_audit(
            session, actor=actor, action="confirm_vote", entity="hit", entity_id=hit.id,
            from_state="pending", to_state="pending",
            detail=json.dumps({"note": note, "confirmations": confirmations,
                               "required": required}),
        )
    return DecisionResult(id=hit.id, from_state="pending",
                          to_state=target if moves else "pending",
                          confirmations=confirmations, required=required,
                          counted=already is None)


def _suppress(session: Session, hit: Hit, when: datetime) -> None:
    """Every known hash the rejected image matched: never queue these bytes for it again.

    One INSERT ... SELECT: the image's digest (none: nothing to suppress) with each known
    hash it matched that is not suppressed for that digest yet, in known hash order."""
    known = (select(HitMatch.known_hash_id.label("known_hash_id"))
             .where(HitMatch.hit_id == hit.id).distinct().subquery())
    pairs = (
        select(Media.sha256, known.c.known_hash_id, literal(hit.id, Integer()),
               literal(when, DateTime()))
        .select_from(Media).join(known, true())
        .where(Media.id == hit.media_id, Media.sha256.is_not(None), Media.sha256 != "",
               ~exists().where(Suppression.sha256 == Media.sha256,
                               Suppression.known_hash_id == known.c.known_hash_id))
        .order_by(known.c.known_hash_id)
    )
    session.execute(insert(Suppression).from_select(
        ["sha256", "known_hash_id", "hit_id", "created_at"], pairs))


# --- claims ------------------------------------------------------------------------------


def check_tier(tier: str) -> str:
    if tier not in TIER_CHOICES:
        raise WorkflowError(f"tier must be one of {', '.join(TIER_CHOICES)}, not {tier!r}")
    return tier


# The queue's order: high tier first, then most trusted, then oldest (an index range of
# ix_hit_review_order).
QUEUE_ORDER = (Hit.tier, Hit.confidence.desc(), Hit.created_at, Hit.id)


def _voted_by(actor: Any) -> Any:
    """Whether this analyst already voted on the hit in its current round (the two-person
    rule needs someone else for it): NOT EXISTS of it is an index probe per candidate row,
    however many votes the analyst has cast."""
    return (exists().where(HitVote.hit_id == Hit.id, HitVote.actor == actor,
                           HitVote.id > Hit.vote_floor)
            .correlate(Hit))


def _own_claims(actor: Any, tier: str, when: Any) -> Any:
    query = select(Hit.id, Hit.claimed_by, Hit.claimed_until).where(
        Hit.status == "pending", Hit.claimed_by == actor, Hit.claimed_until > when,
        ~_voted_by(actor))
    return (query if tier == "all" else query.where(Hit.tier == tier)).order_by(*QUEUE_ORDER)


def _unclaimed(actor: Any, tier: str, when: Any) -> Any:
    """Pending images nobody holds (or whose claim expired), in queue order."""
    query = select(Hit.id, Hit.claimed_by, Hit.claimed_until).where(
        Hit.status == "pending", or_(Hit.claimed_by.is_(None), Hit.claimed_until <= when),
        ~_voted_by(actor))
    return (query if tier == "all" else query.where(Hit.tier == tier)).order_by(*QUEUE_ORDER)


@functools.cache
def _queue_reads(tier: str) -> tuple[Any, Any]:
    """The queue's two reads for a tier (the live claims, the next images), built once with
    the analyst, the time and the limit as bound parameters: building them and their cache
    keys anew cost more Python than the page's other reads."""
    actor = bindparam("actor", type_=String())
    when = bindparam("when", type_=DateTime())
    return (_live_claims(actor, tier, when),
            _unclaimed(actor, tier, when).limit(bindparam("limit")))


def _live_claims(actor: Any, tier: str, when: Any) -> Any:
    """Every live claim on a pending image of the tier, in queue order, with whether
    `actor` may still decide it (one statement for the analyst's batch and the holders)."""
    query = select(Hit.id, Hit.claimed_by, Hit.claimed_until,
                   (Hit.claimed_by != actor).label("other"),
                   _voted_by(actor).label("voted")).where(
        Hit.status == "pending", Hit.claimed_until > when, Hit.claimed_by.is_not(None))
    return (query if tier == "all" else query.where(Hit.tier == tier)).order_by(*QUEUE_ORDER)


def claim_next(
    store: Store,
    *,
    actor: str,
    limit: int = DEFAULT_CLAIM_LIMIT,
    claim_minutes: float = DEFAULT_CLAIM_MINUTES,
    tier: str = DEFAULT_TIER,
    now: datetime | None = None,
) -> list[HitRow]:
    """Claim up to `limit` pending images of `tier` ('high', 'low' or 'all') for `actor`:
    their own live claims first, then the most trusted and oldest, skipping images claimed
    by others and images this analyst already confirmed in their current round (the
    two-person rule needs someone else). Each claim is a conditional UPDATE, so concurrent
    analysts never get the same image."""
    if limit < 1:
        raise WorkflowError(f"--limit must be at least 1, not {limit}")
    check_tier(tier)
    when = as_naive_utc(now)
    until = when + timedelta(minutes=claim_minutes)
    claimable = and_(
        Hit.status == "pending",
        or_(Hit.claimed_by.is_(None), Hit.claimed_by == actor, Hit.claimed_until <= when),
    )
    claimed: list[int] = []
    tried: set[int] = set()
    with store.session() as session:
        own = list(session.execute(_own_claims(actor, tier, when).limit(limit)))
        for _ in range(5):  # a few rounds in case others won some of the candidates
            wanted = limit - len(claimed)
            candidates = [row for row in own if row[0] not in tried][:wanted]
            exhausted = False
            if len(candidates) < wanted:
                # PostgreSQL: rows another analyst is claiming right now are skipped, not
                # waited for (SQLite has one writer at a time anyway).
                asked = wanted - len(candidates) + len(tried)
                more = list(session.execute(
                    _unclaimed(actor, tier, when).limit(asked)
                    .with_for_update(skip_locked=True, of=Hit)))
                exhausted = len(more) < asked  # no further round would find more
                candidates += [row for row in more if row[0] not in tried][
                    :wanted - len(candidates)]
            if not candidates:
                break
            tried.update(row[0] for row in candidates)
            claimed += _claim(session, candidates, claimable, actor, until, when)
            if len(claimed) >= limit or exhausted:
                break
        rows = hit_rows(session, claimed)
    return [rows[i] for i in claimed]


@dataclass(frozen=True)
class ClaimHolder:
    """Someone holding pending images: how many, since when and until when."""

    actor: str
    images: int
    until: datetime  # the latest of their claims


@dataclass(frozen=True)
class ReviewQueue:
    """What an analyst sees of the queue: their own claimed batch, the next unclaimed
    images (in the order `claim_next` would hand them out), and who holds the others."""

    tier: str
    mine: tuple[HitRow, ...]
    next_up: tuple[HitRow, ...]
    holders: tuple[ClaimHolder, ...]
    now: datetime


def review_queue(
    store: Store,
    *,
    actor: str,
    tier: str = DEFAULT_TIER,
    limit: int = DEFAULT_CLAIM_LIMIT,
    now: datetime | None = None,
    next_while_claimed: bool = True,
) -> ReviewQueue:
    """The queue as `actor` sees it, changing nothing: their live claims of the tier (at
    most `limit`), the next `limit` unclaimed pending images (not looked up while they
    hold a batch, unless `next_while_claimed`), and everyone else's claims."""
    with store.read_session() as session:
        return queue_in(session, actor=actor, tier=tier, limit=limit, now=now,
                        next_while_claimed=next_while_claimed)


def queue_in(session: Session, *, actor: str, tier: str, limit: int, now: datetime | None,
             next_while_claimed: bool) -> ReviewQueue:
    """review_queue in the caller's session: the live claims in one statement, the next
    images in another (only when needed), then the rows of those shown."""
    check_tier(tier)
    when = as_naive_utc(now)
    live_claims, next_images = _queue_reads(tier)
    mine: list[int] = []
    held: dict[str, tuple[int, datetime]] = {}
    for hit_id, who, until, other, voted in session.execute(
            live_claims, {"actor": actor, "when": when}):
        if other:
            count, latest = held.get(who, (0, until))
            held[who] = (count + 1, max(latest, until))
        elif not voted and len(mine) < limit:
            mine.append(hit_id)
    holders = tuple(ClaimHolder(who, n, until) for who, (n, until) in sorted(held.items()))
    upcoming = [] if mine and not next_while_claimed else [
        row[0] for row in session.execute(next_images,
                                          {"actor": actor, "when": when, "limit": limit})]
    rows = hit_rows(session, mine + upcoming)
    return ReviewQueue(tier=tier, mine=tuple(rows[i] for i in mine if i in rows),
                       next_up=tuple(rows[i] for i in upcoming if i in rows),
                       holders=holders, now=when)


def _claim(session: Session, candidates: Sequence[Any], claimable: Any, actor: str,
           until: datetime, when: datetime) -> list[int]:
    """Claim the candidates (id, holder, held until) still claimable, in one conditional
    UPDATE, and audit each claim that is new (not the analyst renewing their own live one);
    returns the ids won, in the candidates' order."""
    won = set(session.scalars(
        update(Hit).where(Hit.id.in_([row[0] for row in candidates]), claimable)
        .values(claimed_by=actor, claimed_until=until)
        .returning(Hit.id)
        .execution_options(synchronize_session=False)
    ))
    detail = f"claimed until {until:%Y-%m-%dT%H:%M:%S}Z"
    append_audit_events(session, [
        {"actor": actor, "action": "claim", "entity": "hit", "entity_id": hit_id,
         "from_state": "pending", "to_state": "pending", "detail": detail}
        for hit_id, holder, held_until in candidates
        if hit_id in won and (holder != actor or held_until is None or held_until <= when)])
    return [row[0] for row in candidates if row[0] in won]
