"""When a schedule runs: interval and cron parsing, the first due time and the next one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from crawler.clock import ClockError

MIN_INTERVAL_SECONDS = 60  # a shorter interval is a mistake, not a schedule
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)



class ScheduleTimeError(ClockError):
    """A cron expression, interval or date a user typed that Trawl cannot use."""

    def __init__(self, message: str) -> None:
        super().__init__(message[:1].upper() + message[1:])  # messages start with a name


def parse_duration(text: str, *, what: str = "interval", minimum: int = 1) -> int:
    """Seconds from '90', '90s', '30m', '6h', '1d' or '2w'."""
    match = _DURATION.match(text)
    if not match:
        raise ScheduleTimeError(
            f"{what} {text!r} is not a duration; write a number of seconds or a number with "
            "a unit: 30m, 6h, 1d, 2w."
        )
    seconds = int(match.group(1)) * DURATION_UNITS[(match.group(2) or "s").lower()]
    if seconds < minimum:
        raise ScheduleTimeError(f"{what} {text!r} is too short: the least is {minimum} seconds.")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact form: 86400 -> '1d', 5400 -> '90m', 61 -> '61s'."""
    for unit in ("w", "d", "h", "m"):
        size = DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_cron(expression: str) -> str:
    """The expression, stripped, if croniter accepts it as five fields (minute precision)."""
    from croniter import croniter  # with dateutil: not for every command that imports this

    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise ScheduleTimeError(
            f"cron expression {expression!r} is not valid; give five fields "
            "'minute hour day-of-month month day-of-week' in UTC, e.g. '0 2 * * *'."
        )
    return expression


def next_cron_time(expression: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the cron expression (UTC) matches."""
    from croniter import croniter

    result: datetime = croniter(expression, after).get_next(datetime)
    return result


def first_due(
    *, cron: str | None, interval_seconds: int | None, now: datetime,
    start_at: datetime | None = None,
) -> datetime:
    """An interval schedule runs first at start_at (default now); a cron one at its first
    matching time at or after start_at (default now)."""
    if cron:
        base = start_at or now
        return next_cron_time(cron, base - timedelta(seconds=1))
    if interval_seconds:
        return start_at or now
    raise ScheduleTimeError("a schedule needs a cron expression or an interval.")


def next_due(
    *, cron: str | None, interval_seconds: int | None, due: datetime, now: datetime
) -> datetime:
    """The next due time after running the slot `due` at `now`: the first slot strictly after
    now, so a scheduler that was down for a day runs once, not once per missed slot. Interval
    slots stay on the grid due + k * interval, so a daily 02:00 run stays at 02:00."""
    if cron:
        return next_cron_time(cron, max(due, now))
    if not interval_seconds:
        raise ScheduleTimeError("a schedule needs a cron expression or an interval.")
    step = timedelta(seconds=interval_seconds)
    if due > now:
        return due + step
    missed = (now - due) // step
    return due + (missed + 1) * step
