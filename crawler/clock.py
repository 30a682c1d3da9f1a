"""The one clock: naive-UTC now, or a fixed time from TRAWL_NOW for tests and drills."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from crawler.errors import TrawlError
from storage.clock import utcnow

__all__ = ["NOW_ENV", "Clock", "ClockError", "clock_for", "fixed_time", "iso_z",
           "parse_datetime", "utcnow"]

NOW_ENV = "TRAWL_NOW"

Clock = Callable[[], datetime]


class ClockError(TrawlError, ValueError):
    """A date-time a user typed (or TRAWL_NOW) that Trawl cannot read; the message names it."""


def parse_datetime(text: str, *, what: str = "date") -> datetime:
    """ISO 8601 date-time ('2030-01-02T03:00', 'Z' or an offset allowed) as naive UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(
            f"{what} {text!r} is not an ISO 8601 date-time; write it like 2030-01-02T03:00:00Z "
            "(UTC)."
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def fixed_time(environ: Mapping[str, str] = os.environ) -> datetime | None:
    """TRAWL_NOW as naive UTC, or None for real time. Only tests and drills set it, to move
    the clock (re-notices due after 24 h, schedules due)."""
    text = environ.get(NOW_ENV, "").strip()
    if not text:
        return None
    try:
        return parse_datetime(text, what=NOW_ENV)
    except ClockError:
        raise ClockError(
            f"{NOW_ENV}={text!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z; fix it or "
            f"unset {NOW_ENV}."
        ) from None


def clock_for(fixed: datetime | None) -> Clock:
    """A clock that always says `fixed`, or the real one when it is None."""
    if fixed is None:
        return utcnow
    return lambda: fixed


def iso_z(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, seconds precision (how notices and JSON output show time)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"
