"""Schedules: planned crawls of seeds (by id or tag) by cron expression or interval."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from crawler.services.scheduler.timing import (
    MIN_INTERVAL_SECONDS,
    ScheduleTimeError,
    check_cron,
    first_due,
    parse_duration,
)

if TYPE_CHECKING:
    from storage.db import Store
    from storage.schedules import ScheduleInfo


def add_schedule(
    store: Store,
    name: str,
    *,
    seed_ids: Sequence[int] = (),
    tag: str | None = None,
    cron: str | None = None,
    every: str | None = None,
    depth: int | None = None,
    max_pages: int | None = None,
    time_budget: str = "1h",
    start_at: str | None = None,
    enabled: bool = True,
    allow_addresses: Sequence[str] = (),
    now: datetime,
    actor: str | None = None,
) -> tuple[ScheduleInfo, list[str]]:
    """Validate and create a schedule; returns it with warnings for the person adding it
    (a tag no seed carries yet, a tag whose seeds are all paused). `allow_addresses` are
    the --allow-address values its crawls get (the scheduler's own, and
    TRAWL_ALLOW_ADDRESSES where it runs, are added at each run)."""
    from crawler.clock import parse_datetime
    from crawler.services.addresses import allowed_addresses
    from storage.schedules import ScheduleSpec
    from storage.schedules import add_schedule as store_schedule
    from storage.seeds import list_seeds

    if bool(cron) == bool(every):
        raise ScheduleTimeError("Give exactly one of --cron EXPRESSION or --every INTERVAL.")
    if not seed_ids and not tag:
        raise ScheduleTimeError(
            "Say which seeds to crawl: --seed ID (repeatable) and/or --tag TAG.")
    interval = parse_duration(every, minimum=MIN_INTERVAL_SECONDS) if every else None
    expression = check_cron(cron) if cron else None
    budget = parse_duration(time_budget, what="time budget")
    start = parse_datetime(start_at, what="--start-at") if start_at else None
    due = first_due(cron=expression, interval_seconds=interval, now=now, start_at=start)
    spec = ScheduleSpec(
        name=name, seed_ids=tuple(seed_ids), seed_tag=tag, cron=expression,
        interval_seconds=interval, depth=depth, max_pages=max_pages,
        time_budget_seconds=budget, enabled=enabled,
        allow_addresses=tuple(allowed_addresses(allow_addresses, environ={})),
    )
    info = store_schedule(store, spec, next_due_at=due, actor=actor)
    warnings: list[str] = []
    if tag:
        tagged = list_seeds(store, tag=tag)
        if not tagged:
            warnings.append(f"no seed has the tag {tag!r} yet, so a run now would crawl "
                            f"nothing; add some with `trawl seeds add URL --tag {tag}`.")
        elif not any(s.active for s in tagged):
            warnings.append(f"every seed with the tag {tag!r} is paused, so a run now would "
                            "crawl nothing; resume them with `trawl seeds resume ID`.")
    return info, warnings


def queue_run_now(store: Store, ref: int | str, *, now: datetime,
                  actor: str | None = None) -> ScheduleInfo:
    """Make schedule `ref` (id or name) due now: the running `trawl scheduler` starts it at
    its next pass, within its limits, and its later runs follow on from now."""
    from storage.schedules import get_schedule, set_next_due

    return set_next_due(store, get_schedule(store, ref).id, now, actor=actor)


def set_schedule_enabled(store: Store, ref: int | str, enabled: bool, *,
                         actor: str | None = None) -> ScheduleInfo:
    """Pause (False) or resume (True) schedule `ref` (id or name)."""
    from storage.schedules import get_schedule, set_enabled

    return set_enabled(store, get_schedule(store, ref).id, enabled, actor=actor)


def remove_schedule(store: Store, ref: int | str, *, actor: str | None = None) -> ScheduleInfo:
    """Remove schedule `ref` (id or name); its crawls stay in the history. Returns what it
    was."""
    from storage.schedules import get_schedule
    from storage.schedules import remove_schedule as store_remove

    info = get_schedule(store, ref)
    store_remove(store, info.id, actor=actor)
    return info
