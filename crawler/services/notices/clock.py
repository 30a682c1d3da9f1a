"""The clock and environment knobs of the takedown workflow (TRAWL_NOW moves time in tests)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

NOW_ENV = "TRAWL_NOW"


class ClockError(ValueError):
    """A TRAWL_* environment value that cannot be read; the message names it."""


def now_from_env() -> datetime | None:
    """TRAWL_NOW (ISO 8601, e.g. 2024-05-01T12:00:00Z) as naive UTC, or None for real time.

    Only for tests and demos that must move the clock (re-notices due after 24 h)."""
    text = os.environ.get(NOW_ENV, "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(
            f"{NOW_ENV}={text!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z; "
            f"fix it or unset {NOW_ENV}"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def iso_z(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, seconds precision (how every notice shows time)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"
