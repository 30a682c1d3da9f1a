"""Schedules and the scheduler's bookkeeping: due times live here, claimed by compare-and-set."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, text, update

from storage.audit import append_audit
from storage.crawls import PG_CRAWL_START_LOCK_KEY, SYSTEM_ACTOR, SeedsBusyError
from storage.db import utcnow
from storage.errors import StorageError
from storage.models import Crawl, CrawlSeed, Schedule, Seed
from storage.policy import DEFAULT_TIME_BUDGET_SECONDS

if TYPE_CHECKING:
    from storage.db import Store



class ScheduleError(StorageError, ValueError):
    """A schedule that cannot be created or changed; the message says what to fix."""


class ScheduleNotFoundError(ScheduleError, LookupError):
    pass


@dataclass(frozen=True)
class ScheduleSpec:
    """What an analyst asks for: which seeds (ids and/or a tag), when (cron XOR interval),
    the limits of each crawl, and whether it starts enabled."""

    name: str
    seed_ids: tuple[int, ...] = ()
    seed_tag: str | None = None
    cron: str | None = None
    interval_seconds: int | None = None
    depth: int | None = None
    max_pages: int | None = None
    time_budget_seconds: int = DEFAULT_TIME_BUDGET_SECONDS
    enabled: bool = True
    # CIDR blocks its crawls may reach besides the seeds' hosts (checked by the caller:
    # crawler.services.addresses)
    allow_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleInfo:
    id: int
    name: str
    seed_ids: tuple[int, ...]
    seed_tag: str | None
    cron: str | None
    interval_seconds: int | None
    depth: int | None
    max_pages: int | None
    time_budget_seconds: int
    enabled: bool
    next_due_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    last_crawl_id: int | None = None
    last_outcome: str | None = None
    allow_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunningCrawl:
    """A crawl row still marked running: the scheduler checks that its process is alive."""

    id: int
    pid: int | None
    schedule_id: int | None
    started_at: datetime
    seed_ids: tuple[int, ...]


def _info(row: Schedule) -> ScheduleInfo:
    return ScheduleInfo(
        id=row.id,
        name=row.name,
        seed_ids=tuple(int(i) for i in json.loads(row.seed_ids or "[]")),
        seed_tag=row.seed_tag,
        cron=row.cron,
        interval_seconds=row.interval_seconds,
        depth=row.depth,
        max_pages=row.max_pages,
        time_budget_seconds=row.time_budget_seconds,
        enabled=row.enabled,
        next_due_at=row.next_due_at,
        last_run_at=row.last_run_at,
        created_at=row.created_at,
        allow_addresses=tuple(str(a) for a in json.loads(row.allow_addresses or "[]")),
    )


def _state(enabled: bool) -> str:
    return "enabled" if enabled else "paused"


def _check_spec(spec: ScheduleSpec) -> None:
    if not spec.name.strip():
        raise ScheduleError("A schedule needs a name (e.g. 'nightly-forums').")
    if spec.name.strip().isdigit():
        raise ScheduleError(
            f"Schedule name {spec.name!r} is a number, which reads like an id; "
            "use a name with a letter in it."
        )
    if bool(spec.cron) == bool(spec.interval_seconds):
        raise ScheduleError(
            f"Schedule {spec.name!r} needs exactly one of a cron expression or an interval."
        )
    if not spec.seed_ids and not spec.seed_tag:
        raise ScheduleError(
            f"Schedule {spec.name!r} has no seeds: give seed ids or a seed tag."
        )
    for what, value in (("depth", spec.depth), ("max pages", spec.max_pages)):
        if value is not None and value < 0:
            raise ScheduleError(f"Schedule {spec.name!r}: {what} must not be negative.")
    if spec.time_budget_seconds <= 0:
        raise ScheduleError(f"Schedule {spec.name!r}: the time budget must be positive.")


def add_schedule(store: Store, spec: ScheduleSpec, *, next_due_at: datetime,
                 actor: str | None = None) -> ScheduleInfo:
    """Create a schedule due first at next_due_at. Refuses a duplicate name and seed ids
    that do not exist, naming them. With `actor`, audited in the same transaction."""
    _check_spec(spec)
    name = spec.name.strip()
    with store.session() as session:
        if session.scalar(select(Schedule.id).where(Schedule.name == name)) is not None:
            raise ScheduleError(
                f"A schedule named {name!r} already exists; pick another name or remove it "
                "first (`trawl schedule remove`)."
            )
        ids = sorted(set(spec.seed_ids))
        if ids:
            found = set(session.scalars(select(Seed.id).where(Seed.id.in_(ids))))
            missing = [i for i in ids if i not in found]
            if missing:
                raise ScheduleError(
                    f"No seed with id {', '.join(map(str, missing))}; "
                    "see `trawl seeds list` for the ids."
                )
        row = Schedule(
            name=name,
            seed_ids=json.dumps(ids),
            seed_tag=spec.seed_tag or None,
            cron=spec.cron or None,
            interval_seconds=spec.interval_seconds or None,
            depth=spec.depth,
            max_pages=spec.max_pages,
            time_budget_seconds=spec.time_budget_seconds,
            allow_addresses=json.dumps(list(dict.fromkeys(spec.allow_addresses))),
            enabled=spec.enabled,
            next_due_at=next_due_at,
            last_run_at=None,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        if actor is not None:
            append_audit(session, actor=actor, action="add", entity="schedule",
                         entity_id=row.id, to_state=_state(spec.enabled),
                         detail={"name": name, "seed_ids": ids, "seed_tag": row.seed_tag,
                                 "cron": row.cron, "interval_seconds": row.interval_seconds,
                                 "next_due_at": next_due_at.isoformat()})
        return _info(row)


def _last_crawls(store: Store, schedule_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    ids = list(schedule_ids)
    if not ids:
        return {}
    with store.read_session() as session:
        latest = (
            select(Crawl.schedule_id, func.max(Crawl.id).label("crawl_id"))
            .where(Crawl.schedule_id.in_(ids))
            .group_by(Crawl.schedule_id)
            .subquery()
        )
        rows = session.execute(
            select(latest.c.schedule_id, Crawl.id, Crawl.outcome).join(
                Crawl, Crawl.id == latest.c.crawl_id
            )
        )
        return {int(s): (int(c), str(o)) for s, c, o in rows}


def list_schedules(store: Store, *, enabled_only: bool = False) -> list[ScheduleInfo]:
    """Every schedule by id, with the id and outcome of its latest crawl."""
    with store.read_session() as session:
        query = select(Schedule).order_by(Schedule.id)
        if enabled_only:
            query = query.where(Schedule.enabled.is_(True))
        infos = [_info(r) for r in session.scalars(query)]
    last = _last_crawls(store, [i.id for i in infos])
    return [replace(i, last_crawl_id=last[i.id][0], last_outcome=last[i.id][1])
            if i.id in last else i for i in infos]


def get_schedule(store: Store, ref: int | str) -> ScheduleInfo:
    """A schedule by id (an int or a string of digits) or by name."""
    with store.read_session() as session:
        if isinstance(ref, int) or str(ref).strip().isdigit():
            row = session.get(Schedule, int(ref))
        else:
            row = session.scalar(select(Schedule).where(Schedule.name == str(ref).strip()))
        if row is None:
            raise ScheduleNotFoundError(
                f"No schedule {ref!r}; `trawl schedule list` shows ids and names."
            )
        info = _info(row)
    last = _last_crawls(store, [info.id]).get(info.id)
    return replace(info, last_crawl_id=last[0], last_outcome=last[1]) if last else info


def set_enabled(store: Store, schedule_id: int, enabled: bool, *,
                actor: str | None = None) -> ScheduleInfo:
    """Pause (False) or resume (True). A resumed schedule whose due time passed while it was
    paused runs once, soon: the scheduler's catch-up rule, not a burst. With `actor`, a
    change of state is audited in the same transaction."""
    with store.session() as session:
        before = session.scalar(select(Schedule.enabled).where(Schedule.id == schedule_id))
        if before is None:
            raise ScheduleNotFoundError(f"No schedule with id {schedule_id}.")
        session.execute(
            update(Schedule).where(Schedule.id == schedule_id).values(enabled=enabled)
        )
        if actor is not None and before != enabled:
            append_audit(session, actor=actor, action="resume" if enabled else "pause",
                         entity="schedule", entity_id=schedule_id,
                         from_state=_state(before), to_state=_state(enabled))
    return get_schedule(store, schedule_id)


def set_next_due(store: Store, schedule_id: int, next_due_at: datetime, *,
                 actor: str | None = None) -> ScheduleInfo:
    """Move the schedule's next run (to now: the running scheduler starts it at its next
    pass). With `actor`, audited as `run_now` in the same transaction."""
    with store.session() as session:
        result = session.execute(
            update(Schedule).where(Schedule.id == schedule_id).values(next_due_at=next_due_at)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise ScheduleNotFoundError(f"No schedule with id {schedule_id}.")
        if actor is not None:
            append_audit(session, actor=actor, action="run_now", entity="schedule",
                         entity_id=schedule_id,
                         detail={"next_due_at": next_due_at.isoformat()})
    return get_schedule(store, schedule_id)


def remove_schedule(store: Store, schedule_id: int, *, actor: str | None = None) -> None:
    """Delete the schedule; its crawls stay in the history with no schedule. With `actor`,
    audited in the same transaction (the detail keeps what the schedule was)."""
    with store.session() as session:
        row = session.get(Schedule, schedule_id)
        if row is None:
            raise ScheduleNotFoundError(f"No schedule with id {schedule_id}.")
        gone = _info(row)
        session.execute(
            update(Crawl).where(Crawl.schedule_id == schedule_id).values(schedule_id=None)
        )
        session.execute(delete(Schedule).where(Schedule.id == schedule_id))
        if actor is not None:
            append_audit(session, actor=actor, action="remove", entity="schedule",
                         entity_id=schedule_id, from_state=_state(gone.enabled),
                         to_state="removed",
                         detail={"name": gone.name, "seed_ids": list(gone.seed_ids),
                                 "seed_tag": gone.seed_tag, "cron": gone.cron,
                                 "interval_seconds": gone.interval_seconds})


def due_schedules(store: Store, now: datetime) -> list[ScheduleInfo]:
    """Enabled schedules due at `now`, most overdue first."""
    with store.read_session() as session:
        rows = session.scalars(
            select(Schedule)
            .where(Schedule.enabled.is_(True), Schedule.next_due_at <= now)
            .order_by(Schedule.next_due_at, Schedule.id)
        )
        return [_info(r) for r in rows]


def next_due_time(store: Store) -> datetime | None:
    """The earliest due time of any enabled schedule (the scheduler sleeps until then)."""
    with store.read_session() as session:
        value: datetime | None = session.scalar(
            select(func.min(Schedule.next_due_at)).where(Schedule.enabled.is_(True))
        )
        return value


def claim_due_run(
    store: Store,
    schedule_id: int,
    *,
    expected_due: datetime,
    next_due: datetime,
    now: datetime,
    start_urls: Sequence[str],
    seed_ids: Sequence[int],
) -> int | None:
    """Move the schedule's due time from expected_due to next_due and record its crawl row
    (outcome running, no pid yet), in ONE transaction. Returns the crawl id, or None when
    another scheduler (or an earlier life of this one) already claimed that slot: the
    compare-and-set on next_due_at is what makes a run happen exactly once.

    Raises SeedsBusyError (nothing changed) when a seed is in a running crawl; the check is
    serialised with other crawl starts, so two schedulers never start one seed twice.
    """
    seeds = sorted(set(seed_ids))
    with store.session() as session:
        if store.dialect == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_CRAWL_START_LOCK_KEY}
            )
        if seeds:
            busy = {
                int(seed): int(crawl)
                for seed, crawl in session.execute(
                    select(CrawlSeed.seed_id, CrawlSeed.crawl_id)
                    .join(Crawl, Crawl.id == CrawlSeed.crawl_id)
                    .where(Crawl.outcome == "running", CrawlSeed.seed_id.in_(seeds))
                )
            }
            if busy:
                raise SeedsBusyError(busy)
        result = session.execute(
            update(Schedule)
            .where(
                Schedule.id == schedule_id,
                Schedule.next_due_at == expected_due,
                Schedule.enabled.is_(True),
            )
            .values(next_due_at=next_due, last_run_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        started = utcnow()
        crawl = Crawl(
            started_at=started,
            outcome="running",
            schedule_id=schedule_id,
            pid=None,
            host=socket.gethostname(),  # the crawl process runs here, as the scheduler's child
            heartbeat_at=started,
            start_urls=json.dumps(list(start_urls)),
            stats="{}",
        )
        session.add(crawl)
        session.flush()
        for seed_id in seeds:
            session.add(CrawlSeed(crawl_id=crawl.id, seed_id=seed_id))
        return int(crawl.id)


def set_crawl_pid(store: Store, crawl_id: int, pid: int) -> None:
    """Record the crawl process of a claimed run (so a restarted scheduler can find it)."""
    with store.session() as session:
        session.execute(update(Crawl).where(Crawl.id == crawl_id).values(pid=pid))


def close_crawl(
    store: Store,
    crawl_id: int,
    *,
    outcome: str,
    reason: str,
    only_if: Sequence[str] = ("running",),
) -> bool:
    """Set a crawl's outcome and reason, keeping the stats its process saved, but only while
    its outcome is one of only_if: a crawl that recorded its own end is never overwritten by
    a scheduler that noticed it late. Returns whether the row changed; a change is audited
    (as Trawl itself: the scheduler decided it, not the crawl)."""
    with store.session() as session:
        before = session.scalar(select(Crawl.outcome).where(Crawl.id == crawl_id))
        result = session.execute(
            update(Crawl)
            .where(Crawl.id == crawl_id, Crawl.outcome.in_(list(only_if)))
            .values(outcome=outcome, reason=reason, finished_at=utcnow())
        )
        changed = bool(result.rowcount == 1)  # type: ignore[attr-defined]
        if changed:
            append_audit(
                session, actor=SYSTEM_ACTOR,
                action="crawl_marked_failed" if outcome == "failed" else "crawl_closed",
                entity="crawl", entity_id=crawl_id, from_state=before, to_state=outcome,
                detail={"reason": reason},
            )
        return changed


def running_crawls(store: Store) -> list[RunningCrawl]:
    """Every crawl row still marked running, oldest first."""
    with store.read_session() as session:
        rows = list(
            session.execute(
                select(Crawl.id, Crawl.pid, Crawl.schedule_id, Crawl.started_at)
                .where(Crawl.outcome == "running")
                .order_by(Crawl.id)
            )
        )
        seeds: dict[int, list[int]] = {}
        if rows:
            pairs = session.execute(
                select(CrawlSeed.crawl_id, CrawlSeed.seed_id).where(
                    CrawlSeed.crawl_id.in_([r[0] for r in rows])
                )
            )
            for crawl_id, seed_id in pairs:
                seeds.setdefault(int(crawl_id), []).append(int(seed_id))
        return [
            RunningCrawl(
                id=int(i),
                pid=p,
                schedule_id=s,
                started_at=t,
                seed_ids=tuple(sorted(seeds.get(int(i), []))),
            )
            for i, p, s, t in rows
        ]


def schedule_crawl_ids(store: Store, schedule_id: int, *, limit: int = 50) -> list[int]:
    """The ids of a schedule's crawls, newest first."""
    with store.read_session() as session:
        return [
            int(i)
            for i in session.scalars(
                select(Crawl.id)
                .where(Crawl.schedule_id == schedule_id)
                .order_by(Crawl.id.desc())
                .limit(limit)
            )
        ]
