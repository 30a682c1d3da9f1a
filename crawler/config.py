"""One config object, built from CLI options with environment-variable fallbacks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB_FILE = "trawl.db"


def default_db_url(cwd: Path | None = None) -> str:
    return f"sqlite:///{(cwd or Path.cwd()) / DEFAULT_DB_FILE}"


@dataclass(frozen=True)
class Config:
    db_url: str
    actor: str | None = None

    @classmethod
    def build(cls, db_url: str | None = None, actor: str | None = None) -> Config:
        return cls(
            db_url=db_url or os.environ.get("TRAWL_DATABASE_URL") or default_db_url(),
            actor=actor or os.environ.get("TRAWL_USER") or None,
        )
