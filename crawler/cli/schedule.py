"""`trawl schedule`, `trawl scheduler` and `trawl crawls`: planned crawls and their history."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from crawler.cli.common import TrawlError, emit, format_option, opened_store, pass_config
from crawler.config import Config
from crawler.services.scheduler.scheduler import (
    DEFAULT_KILL_GRACE_SECONDS,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_POLL_SECONDS,
    STOP_MODES,
    Scheduler,
    SchedulerOptions,
    default_log_dir,
)
from crawler.services.scheduler.history import (
    LIST_COLUMNS,
    TREND_COLUMNS,
    crawl_detail,
    crawl_row,
)
from crawler.services.scheduler.timing import (
    MIN_INTERVAL_SECONDS,
    ScheduleTimeError,
    check_cron,
    clock_from_env,
    first_due,
    format_duration,
    parse_datetime,
    parse_duration,
)
from storage.schedules import (
    DEFAULT_TIME_BUDGET_SECONDS,
    ScheduleError,
    ScheduleInfo,
    ScheduleSpec,
    add_schedule,
    get_schedule,
    list_schedules,
    remove_schedule,
    schedule_crawl_ids,
    set_enabled,
    set_next_due,
)

SCHEDULE_COLUMNS = (
    "id", "name", "seeds", "when", "depth", "max_pages", "budget", "state", "next_due_at",
    "last_run_at", "last_crawl_id", "last_outcome",
)


def schedule_row(info: ScheduleInfo) -> dict[str, Any]:
    """A schedule as a flat row: JSON keeps the raw fields and adds the readable ones."""
    seeds = [f"#{i}" for i in info.seed_ids] + ([f"tag:{info.seed_tag}"] if info.seed_tag else [])
    return {
        "id": info.id,
        "name": info.name,
        "seeds": " ".join(seeds),
        "seed_ids": list(info.seed_ids),
        "seed_tag": info.seed_tag,
        "when": f"cron {info.cron}" if info.cron
        else f"every {format_duration(info.interval_seconds or 0)}",
        "cron": info.cron,
        "interval_seconds": info.interval_seconds,
        "depth": info.depth,
        "max_pages": info.max_pages,
        "budget": format_duration(info.time_budget_seconds),
        "time_budget_seconds": info.time_budget_seconds,
        "state": "enabled" if info.enabled else "paused",
        "enabled": info.enabled,
        "next_due_at": info.next_due_at,
        "last_run_at": info.last_run_at,
        "last_crawl_id": info.last_crawl_id,
        "last_outcome": info.last_outcome,
        "created_at": info.created_at,
    }


def _time_error(exc: ScheduleTimeError) -> TrawlError:
    text = str(exc)
    return TrawlError(text[:1].upper() + text[1:])


@click.group("schedule")
def schedule_group() -> None:
    """Plan crawls: seeds (by id or tag), a cron expression or interval, and limits.

    Times are UTC. `trawl scheduler` runs what is due.
    """


@schedule_group.command("add")
@click.argument("name")
@click.option("--seed", "seed_ids", type=int, multiple=True, help="A seed id (repeatable).")
@click.option("--tag", default=None, help="Every active seed with this tag, looked up at each run.")
@click.option("--cron", default=None,
              help="Cron expression in UTC, e.g. '0 2 * * *' (02:00 daily).")
@click.option("--every", "every", default=None, help="Interval: 30m, 6h, 1d, 2w (or seconds).")
@click.option("--depth", type=click.IntRange(0), default=None,
              help="Link depth for every seed (default: each seed's own).")
@click.option("--max-pages", type=click.IntRange(1), default=None,
              help="Page limit per seed (default: each seed's own).")
@click.option("--time-budget", default=format_duration(DEFAULT_TIME_BUDGET_SECONDS),
              show_default=True, help="Longest a crawl may run (e.g. 45m, 2h); killed after it.")
@click.option("--start-at", default=None,
              help="First run (ISO, UTC). Default: now for --every, the next cron time for --cron.")
@click.option("--paused", is_flag=True, help="Create it paused (resume with `schedule resume`).")
@format_option()
@pass_config
def schedule_add(
    config: Config, name: str, seed_ids: tuple[int, ...], tag: str | None, cron: str | None,
    every: str | None, depth: int | None, max_pages: int | None, time_budget: str,
    start_at: str | None, paused: bool, fmt: str,
) -> None:
    """Add schedule NAME.

    Examples: trawl schedule add nightly --tag forums --cron '0 2 * * *' --time-budget 2h;
    trawl schedule add watch --seed 3 --seed 7 --every 6h --max-pages 500
    """
    if bool(cron) == bool(every):
        raise TrawlError("Give exactly one of --cron EXPRESSION or --every INTERVAL.")
    if not seed_ids and not tag:
        raise TrawlError("Say which seeds to crawl: --seed ID (repeatable) and/or --tag TAG.")
    try:
        interval = parse_duration(every, minimum=MIN_INTERVAL_SECONDS) if every else None
        expression = check_cron(cron) if cron else None
        budget = parse_duration(time_budget, what="time budget")
        clock = clock_from_env()
        start = parse_datetime(start_at, what="--start-at") if start_at else None
        due = first_due(cron=expression, interval_seconds=interval, now=clock(), start_at=start)
    except ScheduleTimeError as exc:
        raise _time_error(exc) from None
    spec = ScheduleSpec(
        name=name, seed_ids=seed_ids, seed_tag=tag, cron=expression, interval_seconds=interval,
        depth=depth, max_pages=max_pages, time_budget_seconds=budget, enabled=not paused,
    )
    with opened_store(config) as store:
        try:
            info = add_schedule(store, spec, next_due_at=due)
        except ScheduleError as exc:
            raise TrawlError(str(exc)) from None
    emit([schedule_row(info)], fmt, SCHEDULE_COLUMNS)


@schedule_group.command("list")
@format_option()
@pass_config
def schedule_list(config: Config, fmt: str) -> None:
    """List schedules with their next due time and latest crawl."""
    with opened_store(config) as store:
        rows = [schedule_row(s) for s in list_schedules(store)]
    emit(rows, fmt, SCHEDULE_COLUMNS)


def _lookup(store: Any, ref: str) -> ScheduleInfo:
    try:
        return get_schedule(store, ref)
    except ScheduleError as exc:
        raise TrawlError(str(exc)) from None


def _set_enabled(config: Config, ref: str, enabled: bool, fmt: str) -> None:
    with opened_store(config) as store:
        info = set_enabled(store, _lookup(store, ref).id, enabled)
    emit([schedule_row(info)], fmt, SCHEDULE_COLUMNS)


@schedule_group.command("pause")
@click.argument("ref")
@format_option()
@pass_config
def schedule_pause(config: Config, ref: str, fmt: str) -> None:
    """Pause schedule REF (id or name): it starts no crawl until resumed."""
    _set_enabled(config, ref, False, fmt)


@schedule_group.command("resume")
@click.argument("ref")
@format_option()
@pass_config
def schedule_resume(config: Config, ref: str, fmt: str) -> None:
    """Resume schedule REF; if runs were missed while paused it runs once, soon."""
    _set_enabled(config, ref, True, fmt)


@schedule_group.command("remove")
@click.argument("ref")
@pass_config
def schedule_remove(config: Config, ref: str) -> None:
    """Remove schedule REF (id or name). Its crawls stay in `trawl crawls list`."""
    with opened_store(config) as store:
        info = _lookup(store, ref)
        remove_schedule(store, info.id)
    click.echo(f"Removed schedule {info.id} ({info.name}).")


@schedule_group.command("run-now")
@click.argument("ref")
@click.option("--queue", is_flag=True,
              help="Make it due now for the running scheduler instead of crawling here "
              "(its next runs then follow on from now).")
@click.option("--kill-grace", type=click.FloatRange(min=0), default=DEFAULT_KILL_GRACE_SECONDS,
              show_default=True, help="Seconds between SIGTERM and SIGKILL at the budget.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the crawl's log goes (default: $TRAWL_CRAWL_LOG_DIR or a temp dir).")
@format_option()
@pass_config
def schedule_run_now(
    config: Config, ref: str, queue: bool, kill_grace: float, log_dir: Path | None, fmt: str
) -> None:
    """Crawl schedule REF now, in a crawl process with its limits and budget, and wait.

    Its timetable is unchanged (use --queue to hand it to the running scheduler instead).
    """
    with opened_store(config) as store:
        info = _lookup(store, ref)
        if queue:
            try:
                now = clock_from_env()()
            except ScheduleTimeError as exc:
                raise _time_error(exc) from None
            info = set_next_due(store, info.id, now)
            click.echo(f"Schedule {info.id} ({info.name}) is due now; the scheduler will start it.")
            return
        _configure_logging()
        options = SchedulerOptions(kill_grace=kill_grace, log_dir=log_dir or default_log_dir())
        scheduler = Scheduler(store, options)
        try:
            crawl_id = scheduler.run_now(info)
        except RuntimeError as exc:
            raise TrawlError(str(exc)) from None
        with scheduler.signals_handled():
            scheduler.wait()
        results = [r for r in scheduler.finished if r.crawl_id == crawl_id]
    outcome = results[0].outcome if results else None
    reason = results[0].reason if results else None
    emit([{"crawl_id": crawl_id, "schedule": info.name, "outcome": outcome, "reason": reason}],
         fmt, ("crawl_id", "schedule", "outcome", "reason"))
    if outcome != "finished":
        raise TrawlError(f"Crawl {crawl_id} ended {outcome}: see `trawl crawls show {crawl_id}`.")


def _configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    for name in ("trawl", "crawler.services.scheduler"):
        logging.getLogger(name).setLevel(logging.INFO)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise TrawlError(f"{name}={value!r} is not a whole number.") from None


@click.command("scheduler")
@click.option("--once", is_flag=True,
              help="Run what is due now, wait for those crawls, and exit "
              "(for cron or systemd timers).")
@click.option("--max-concurrent", type=click.IntRange(1), default=None,
              help="Crawls at once (default 1; env TRAWL_SCHEDULER_MAX_CONCURRENT).")
@click.option("--poll", "poll_seconds", type=click.FloatRange(min=0.05),
              default=DEFAULT_POLL_SECONDS, show_default=True,
              help="Seconds between checks for due schedules.")
@click.option("--kill-grace", type=click.FloatRange(min=0), default=DEFAULT_KILL_GRACE_SECONDS,
              show_default=True,
              help="Seconds between SIGTERM and SIGKILL for a crawl over budget.")
@click.option("--on-stop", type=click.Choice(STOP_MODES), default="terminate", show_default=True,
              help="On SIGTERM/SIGINT: terminate running crawls (they record what they found), "
              "wait for them, or detach (a restarted scheduler takes them over).")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Crawl logs, one file per crawl (default: $TRAWL_CRAWL_LOG_DIR or a temp dir).")
@pass_config
def scheduler_command(
    config: Config, once: bool, max_concurrent: int | None, poll_seconds: float,
    kill_grace: float, on_stop: str, log_dir: Path | None,
) -> None:
    """Start due crawls, each in its own process, at most K at once, each within its budget.

    Never crawls one seed twice at once; after downtime a schedule runs once, not once per
    missed slot. Safe to kill and restart: due times and running crawls live in the database.
    """
    _configure_logging()
    k = max_concurrent or _env_int("TRAWL_SCHEDULER_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT)
    if k < 1:
        raise TrawlError(f"TRAWL_SCHEDULER_MAX_CONCURRENT must be at least 1, not {k}.")
    try:
        clock = clock_from_env()
    except ScheduleTimeError as exc:
        raise _time_error(exc) from None
    options = SchedulerOptions(
        max_concurrent=k, poll_seconds=poll_seconds, kill_grace=kill_grace, on_stop=on_stop,
        log_dir=log_dir or default_log_dir(),
    )
    with opened_store(config) as store:
        scheduler = Scheduler(store, options, clock=clock)
        with scheduler.signals_handled():
            if once:
                results = scheduler.run_once()
            else:
                scheduler.run_forever()
    if once:
        done = ", ".join(f"crawl {r.crawl_id} {r.outcome}" for r in results) or "nothing was due"
        click.echo(f"Scheduler pass done: {done}.", err=True)


# --- trawl crawls -------------------------------------------------------------------


@click.group("crawls")
def crawls_group() -> None:
    """Crawl history: outcome, duration, pages, images, hits, errors and drop reasons."""


@crawls_group.command("list")
@click.option("--seed", "seed_id", type=int, default=None, help="Only crawls of this seed.")
@click.option("--schedule", "schedule_ref", default=None, help="Only crawls of this schedule.")
@click.option("--outcome", type=click.Choice(["running", "finished", "failed", "killed",
                                              "timeout"]), default=None)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@format_option()
@pass_config
def crawls_list(
    config: Config, seed_id: int | None, schedule_ref: str | None, outcome: str | None,
    limit: int, fmt: str,
) -> None:
    """List crawls, newest first."""
    from storage.crawls import get_crawl, list_crawls

    with opened_store(config) as store:
        if schedule_ref is not None:
            schedule = _lookup(store, schedule_ref)
            crawls = [get_crawl(store, i) for i in schedule_crawl_ids(store, schedule.id,
                                                                       limit=limit * 10)]
            crawls = [c for c in crawls if (seed_id is None or seed_id in c.seed_ids)
                      and (outcome is None or c.outcome == outcome)][:limit]
        else:
            crawls = list_crawls(store, seed_id=seed_id, limit=limit, outcome=outcome)
    emit([crawl_row(c) for c in crawls], fmt, LIST_COLUMNS)


@crawls_group.command("show")
@click.argument("crawl_id", type=int)
@click.option("--trend", "trend_limit", type=click.IntRange(1), default=10, show_default=True,
              help="How many recent crawls of each seed to show.")
@format_option()
@pass_config
def crawls_show(config: Config, crawl_id: int, trend_limit: int, fmt: str) -> None:
    """Show crawl CRAWL_ID: counters, drop and error reasons, and each seed's trend."""
    from storage.crawls import get_crawl, list_crawls
    from storage.db import NotFoundError

    with opened_store(config) as store:
        try:
            info = get_crawl(store, crawl_id)
        except NotFoundError as exc:
            raise TrawlError(str(exc)) from None
        trends = {s: list_crawls(store, seed_id=s, limit=trend_limit) for s in info.seed_ids}
    detail = crawl_detail(info, trends)
    if fmt == "json":
        emit([detail], fmt)
        return
    _print_detail(detail)


def _print_detail(d: dict[str, Any]) -> None:
    click.echo(f"Crawl {d['id']}: {d['outcome']}"
               + (f" (schedule {d['schedule_id']})" if d["schedule_id"] else ""))
    click.echo(f"  started   {d['started_at']:%Y-%m-%d %H:%M:%S} UTC, ran {d['duration']}")
    if d["reason"]:
        click.echo(f"  reason    {d['reason']}")
    click.echo(f"  seeds     {d['seeds'] or '(ad-hoc URLs)'}")
    for url in d["start_urls"][:5]:
        click.echo(f"  start     {url}")
    if len(d["start_urls"]) > 5:
        click.echo(f"  start     ... and {len(d['start_urls']) - 5} more")
    counts = ", ".join(f"{d[k]} {k}" for k in ("pages", "images", "hashed", "hits", "errors"))
    click.echo(f"  counts    {counts}")
    re = d["recrawl"]
    click.echo(f"  recrawl   {re['conditional_requests']} conditional requests, "
               f"{re['not_modified']} not modified; {re['response_bytes']} bytes downloaded")
    for heading in ("dropped", "error_reasons", "image_status"):
        if d[heading]:
            click.echo(f"{heading.replace('_', ' ').capitalize()}:")
            width = max(len(k) for k in d[heading])
            for key, count in sorted(d[heading].items(), key=lambda kv: (-kv[1], kv[0])):
                click.echo(f"  {key.ljust(width)}  {count}")
    for seed, rows in d["trend"].items():
        click.echo(f"Trend of seed #{seed} (newest first):")
        emit(rows, "table", TREND_COLUMNS)


def register(cli: click.Group) -> None:
    """Add `trawl schedule ...`, `trawl scheduler` and `trawl crawls ...`."""
    cli.add_command(schedule_group)
    cli.add_command(scheduler_command)
    cli.add_command(crawls_group)
