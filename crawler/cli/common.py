"""Shared CLI plumbing: the config object, output formats, and the one error type."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

import click

from crawler.config import Config
from crawler.services.notices.clock import ClockError, now_from_env
from storage.db import StorageError, Store, open_store
from storage.review import WorkflowError

F = TypeVar("F", bound=Callable[..., Any])

pass_config = click.make_pass_decorator(Config)


class TrawlError(click.ClickException):
    """An error a user can meet: a sentence saying what was wrong and what to do."""

    exit_code = 1


class StoppedBySignal(TrawlError):
    """The command was stopped by a signal (exit code 130, as shells report SIGINT)."""

    exit_code = 130


@contextmanager
def opened_store(config: Config, *, migrate: bool = True) -> Iterator[Store]:
    """Open the configured database for one command; its errors become CLI errors.

    StorageError, WorkflowError and ClockError messages are already sentences for users
    (unreachable server, bad URL, a hit already decided, a bad TRAWL_NOW), so they are
    shown as they are, with exit code 1.
    """
    try:
        store = open_store(config.db_url, migrate=migrate)
    except StorageError as exc:
        raise TrawlError(str(exc)) from None
    try:
        yield store
    except (WorkflowError, StorageError, ClockError) as exc:
        raise TrawlError(str(exc)) from None
    finally:
        store.close()


def clock() -> datetime | None:
    """The time to record (TRAWL_NOW when set, for reproducible runs); None: now."""
    try:
        return now_from_env()
    except ClockError as exc:
        raise TrawlError(str(exc)) from None


def format_option(choices: Sequence[str] = ("table", "json")) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + ("Z" if value.tzinfo is None else "")
    return value


def rows_of(items: Iterable[Any]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        data = asdict(item) if is_dataclass(item) and not isinstance(item, type) else dict(item)
        rows.append({k: _plain(v) for k, v in data.items()})
    return rows


def emit(items: Iterable[Any], fmt: str, columns: Sequence[str] | None = None) -> None:
    """Print rows as a table, JSON (a list) or CSV; columns pick and order table/CSV fields."""
    rows = rows_of(items)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    cols = list(columns) if columns else (list(rows[0]) if rows else [])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    if not rows:
        click.echo("(none)")
        return
    text = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [min(60, max(len(c), *(len(t[i]) for t in text))) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for t in text:
        cells = [
            (v if len(v) <= w else v[: w - 1] + "…").ljust(w)
            for v, w in zip(t, widths, strict=True)
        ]
        click.echo("  ".join(cells).rstrip())


def require_actor(config: Config) -> str:
    if not config.actor:
        raise TrawlError(
            "This action needs to know who you are: pass --as NAME (before the command, "
            "e.g. `trawl --as alice review confirm 3`) or set TRAWL_USER."
        )
    return config.actor
