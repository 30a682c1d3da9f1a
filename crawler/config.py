"""One config object, built once from CLI options with environment-variable fallbacks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crawler.clock import Clock, clock_for, fixed_time

DEFAULT_DB_FILE = "trawl.db"
DATABASE_ENV = "TRAWL_DATABASE_URL"
ACTOR_ENV = "TRAWL_USER"


def default_db_url(cwd: Path | None = None) -> str:
    return f"sqlite:///{(cwd or Path.cwd()) / DEFAULT_DB_FILE}"


@dataclass(frozen=True)
class Config:
    """What every command and the web app need to know about where and as whom they run.

    `db_url` has one name end to end: --db, env TRAWL_DATABASE_URL, and the Scrapy setting
    TRAWL_DATABASE_URL a crawl process reads. `now` is TRAWL_NOW (a fixed time for tests and
    drills), parsed once here; None means the real clock.
    """

    db_url: str
    actor: str | None = None
    now: datetime | None = None
    verbose: bool = False

    @classmethod
    def build(
        cls,
        db_url: str | None = None,
        actor: str | None = None,
        *,
        verbose: bool = False,
        environ: Mapping[str, str] = os.environ,
    ) -> Config:
        return cls(
            db_url=db_url or environ.get(DATABASE_ENV) or default_db_url(),
            actor=(actor or environ.get(ACTOR_ENV) or "").strip() or None,
            now=fixed_time(environ),
            verbose=verbose,
        )

    @property
    def clock(self) -> Clock:
        return clock_for(self.now)
