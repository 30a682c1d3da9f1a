"""The scheduler's options and named defaults (a light module: the CLI shows them in help)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crawler.errors import TrawlError
from crawler.files import trawl_home

DEFAULT_MAX_CONCURRENT = 1  # a crawl keeps a core busy hashing; the reference machine has 2
DEFAULT_POLL_SECONDS = 5.0
DEFAULT_KILL_GRACE_SECONDS = 15.0  # SIGTERM -> SIGKILL: time for Scrapy to close and flush
# A running crawl row without a pid that is younger than this belongs to a scheduler that is
# between claiming the run and starting its process; older, that scheduler died in between.
LAUNCH_GRACE_SECONDS = 30.0
# The crawl process is asked to stop by itself this long before the scheduler's hard limit.
SOFT_BUDGET_FRACTION = 0.1
SOFT_BUDGET_MARGIN_MAX = 60.0
STOP_MODES = ("terminate", "wait", "detach")
SUPERVISE_SECONDS = 0.5  # how often running crawls are checked against their budget
LOG_DIR_ENV = "TRAWL_CRAWL_LOG_DIR"


class SchedulerOptionError(TrawlError, ValueError):
    """A scheduler option outside its range; the message names it."""


def default_log_dir() -> Path:
    """TRAWL_CRAWL_LOG_DIR, else crawl-logs/ in Trawl's per-user data folder (TRAWL_HOME or
    the XDG data dir): never a fixed shared path such as /tmp/trawl-crawls, where another
    user could read the logs or plant links. Created 0700 when a crawl starts."""
    configured = os.environ.get(LOG_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else trawl_home() / "crawl-logs"


def soft_budget(budget: float) -> float:
    """The --time-budget given to the crawl process: it closes gracefully (recording outcome
    'timeout' and everything it found) a margin before the scheduler would kill it."""
    margin = min(SOFT_BUDGET_MARGIN_MAX, max(1.0, budget * SOFT_BUDGET_FRACTION))
    return max(1.0, budget - margin)


@dataclass(frozen=True)
class SchedulerOptions:
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    poll_seconds: float = DEFAULT_POLL_SECONDS
    kill_grace: float = DEFAULT_KILL_GRACE_SECONDS
    on_stop: str = "terminate"  # terminate | wait | detach (see Scheduler.request_stop)
    log_dir: Path = field(default_factory=default_log_dir)
    launch_grace: float = LAUNCH_GRACE_SECONDS
    crawl_command: tuple[str, ...] = ()  # default: this Python, -m crawler.cli.main
    # --allow-address values for every crawl it starts (crawler.services.addresses, checked)
    allow_addresses: tuple[str, ...] = ()
    # Set: crawls are queued in this Redis frontier for `trawl worker` processes, and the
    # crawl process only waits for the crawl to end (its budget then applies to the workers).
    redis_url: str | None = None
    redis_prefix: str = "trawl"

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise SchedulerOptionError(
                f"max concurrent crawls must be at least 1, not {self.max_concurrent}."
            )
        if self.on_stop not in STOP_MODES:
            raise SchedulerOptionError(
                f"on-stop must be one of {', '.join(STOP_MODES)}, not {self.on_stop!r}."
            )
