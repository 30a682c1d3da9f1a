"""`trawl schedule` (planned crawls) and `trawl scheduler` (the process that runs them)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crawler.cli.common import (
    allow_address_option,
    emit,
    format_option,
    opened_store,
    pass_config,
)
from crawler.cli.workers import redis_options
from crawler.config import Config
from crawler.errors import TrawlError
from crawler.gctune import steady
from crawler.services.scheduler.options import (
    DEFAULT_KILL_GRACE_SECONDS,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_POLL_SECONDS,
    STOP_MODES,
)
from crawler.services.scheduler.timing import format_duration
from storage.policy import DEFAULT_TIME_BUDGET_SECONDS

if TYPE_CHECKING:
    from storage.schedules import ScheduleInfo

SCHEDULE_COLUMNS = (
    "id", "name", "seeds", "when", "depth", "max_pages", "budget", "allow", "state", "next_due_at",
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
        "allow": " ".join(info.allow_addresses),
        "allow_addresses": list(info.allow_addresses),
        "state": "enabled" if info.enabled else "paused",
        "enabled": info.enabled,
        "next_due_at": info.next_due_at,
        "last_run_at": info.last_run_at,
        "last_crawl_id": info.last_crawl_id,
        "last_outcome": info.last_outcome,
        "created_at": info.created_at,
    }


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
@allow_address_option
@format_option()
@pass_config
def schedule_add(
    config: Config, name: str, seed_ids: tuple[int, ...], tag: str | None, cron: str | None,
    every: str | None, depth: int | None, max_pages: int | None, time_budget: str,
    start_at: str | None, paused: bool, allow_addresses: tuple[str, ...], fmt: str,
) -> None:
    """Add schedule NAME.

    Examples: trawl schedule add nightly --tag forums --cron '0 2 * * *' --time-budget 2h;
    trawl schedule add watch --seed 3 --seed 7 --every 6h --max-pages 500
    """
    from crawler.services.schedules import add_schedule

    with opened_store(config) as store:
        info, warnings = add_schedule(
            store, name, seed_ids=seed_ids, tag=tag, cron=cron, every=every, depth=depth,
            max_pages=max_pages, time_budget=time_budget, start_at=start_at,
            enabled=not paused, allow_addresses=allow_addresses, now=config.clock(),
            actor=config.actor,
        )
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    emit([schedule_row(info)], fmt, SCHEDULE_COLUMNS)


@schedule_group.command("list")
@format_option()
@pass_config
def schedule_list(config: Config, fmt: str) -> None:
    """List schedules with their next due time and latest crawl."""
    from storage.schedules import list_schedules

    with opened_store(config) as store:
        rows = [schedule_row(s) for s in list_schedules(store)]
    emit(rows, fmt, SCHEDULE_COLUMNS)


def _set_enabled(config: Config, ref: str, enabled: bool, fmt: str) -> None:
    from crawler.services.schedules import set_schedule_enabled

    with opened_store(config) as store:
        info = set_schedule_enabled(store, ref, enabled, actor=config.actor)
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
    from crawler.services.schedules import remove_schedule

    with opened_store(config) as store:
        info = remove_schedule(store, ref, actor=config.actor)
    click.echo(f"Removed schedule {info.id} ({info.name}).")


@schedule_group.command("run-now")
@click.argument("ref")
@click.option("--queue", is_flag=True,
              help="Make it due now for the running scheduler instead of crawling here "
              "(its next runs then follow on from now).")
@click.option("--kill-grace", type=click.FloatRange(min=0), default=DEFAULT_KILL_GRACE_SECONDS,
              show_default=True, help="Seconds between SIGTERM and SIGKILL at the budget.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the crawl's log goes (default: $TRAWL_CRAWL_LOG_DIR, else "
              "crawl-logs/ under $TRAWL_HOME or the XDG data dir).")
@allow_address_option
@format_option()
@pass_config
def schedule_run_now(
    config: Config, ref: str, queue: bool, kill_grace: float, log_dir: Path | None,
    allow_addresses: tuple[str, ...], fmt: str,
) -> None:
    """Crawl schedule REF now, in a crawl process with its limits and budget, and wait.

    Its timetable is unchanged (use --queue to hand it to the running scheduler instead).
    """
    from crawler.services.addresses import allowed_addresses
    from crawler.services.scheduler.options import SchedulerOptions, default_log_dir
    from crawler.services.scheduler.scheduler import Scheduler
    from crawler.services.schedules import queue_run_now
    from storage.schedules import get_schedule

    allowed = tuple(allowed_addresses(allow_addresses))

    with opened_store(config) as store:
        info = get_schedule(store, ref)
        if queue:
            info = queue_run_now(store, info.id, now=config.clock(), actor=config.actor)
            click.echo(f"Schedule {info.id} ({info.name}) is due now; the scheduler will start it.")
            return
        _configure_logging()
        options = SchedulerOptions(kill_grace=kill_grace, log_dir=log_dir or default_log_dir(),
                                   allow_addresses=allowed)
        scheduler = Scheduler(store, options)
        crawl_id = scheduler.run_now(info)
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


@click.command("scheduler")
@click.option("--once", is_flag=True,
              help="Run what is due now, wait for those crawls, and exit "
              "(for cron or systemd timers).")
@click.option("--max-concurrent", type=click.IntRange(1), default=DEFAULT_MAX_CONCURRENT,
              envvar="TRAWL_SCHEDULER_MAX_CONCURRENT", show_default=True,
              help="Crawls at once. Env: TRAWL_SCHEDULER_MAX_CONCURRENT.")
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
              help="Crawl logs, one file per crawl (default: $TRAWL_CRAWL_LOG_DIR, else "
              "crawl-logs/ under $TRAWL_HOME or the XDG data dir).")
@allow_address_option
@click.option("--distributed", is_flag=True,
              help="Queue each due crawl in the shared Redis frontier for `trawl worker` "
              "processes (on any machine) instead of crawling on this one.")
@redis_options
@pass_config
def scheduler_command(
    config: Config, once: bool, max_concurrent: int, poll_seconds: float,
    kill_grace: float, on_stop: str, log_dir: Path | None, allow_addresses: tuple[str, ...],
    distributed: bool, redis_url: str, redis_prefix: str,
) -> None:
    """Start due crawls, each in its own process, at most K at once, each within its budget.

    Never crawls one seed twice at once; after downtime a schedule runs once, not once per
    missed slot. Safe to kill and restart: due times and running crawls live in the database.
    """
    from crawler.services.addresses import allowed_addresses
    from crawler.services.scheduler.options import SchedulerOptions, default_log_dir
    from crawler.services.scheduler.scheduler import Scheduler

    allowed = tuple(allowed_addresses(allow_addresses))
    _configure_logging()
    options = SchedulerOptions(
        max_concurrent=max_concurrent, poll_seconds=poll_seconds, kill_grace=kill_grace,
        on_stop=on_stop, log_dir=log_dir or default_log_dir(), allow_addresses=allowed,
        redis_url=redis_url if distributed else None, redis_prefix=redis_prefix,
    )
    with opened_store(config) as store:
        scheduler = Scheduler(store, options, clock=config.clock)
        with scheduler.signals_handled():
            if once:
                results = scheduler.run_once()
            else:
                steady()  # a long run: the usual garbage-collector thresholds (crawler.gctune)
                scheduler.run_forever()
    if once:
        done = ", ".join(f"crawl {r.crawl_id} {r.outcome}" for r in results) or "nothing was due"
        click.echo(f"Scheduler pass done: {done}.", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(schedule_group)
    cli.add_command(scheduler_command)
