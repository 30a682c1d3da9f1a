"""Shared CLI plumbing: the config object, the database opener, output formats, the actor."""

from __future__ import annotations

import csv
import getpass
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from crawler.clock import iso_z
from crawler.config import Config
from crawler.errors import TrawlError

if TYPE_CHECKING:
    from storage.db import Store

F = TypeVar("F", bound=Callable[..., Any])

pass_config = click.make_pass_decorator(Config)


@contextmanager
def opened_store(config: Config, *, create: bool = False) -> Iterator[Store]:
    """Open the configured database for one command, migrating an older schema.

    Only `trawl init` (and the demo, on its own file) create a database: any other command
    pointed at a path or server without one fails with a sentence saying to run `trawl init`,
    instead of creating an empty database under a mistyped name.
    """
    from storage.db import open_store

    store = open_store(config.db_url, create=create)
    try:
        yield store
    finally:
        store.close()


def format_option(choices: Sequence[str] = ("table", "json")) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def allow_address_option(func: F) -> F:
    """--allow-address CIDR (repeatable), the same for every command that fetches."""
    return click.option(
        "--allow-address", "allow_addresses", multiple=True, metavar="CIDR",
        help="Let this crawl reach an internal address or block (loopback, private, "
        "link-local, ...), besides its seeds' own hosts; repeatable. Env: "
        "TRAWL_ALLOW_ADDRESSES (comma-separated), added to these.",
    )(func)


def plain(value: Any) -> Any:
    """A value as JSON shows it: times as UTC ISO 8601 with a Z, containers recursively."""
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def rows_of(items: Iterable[Any]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        data = asdict(item) if is_dataclass(item) and not isinstance(item, type) else dict(item)
        rows.append({k: plain(v) for k, v in data.items()})
    return rows


def one_line(value: Any) -> str:
    """A value for one table cell or text line: control characters (newlines, tabs, line
    separators) shown escaped, so a note or a crawled string can never fake another line."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
    text = [[one_line(r.get(c)) for c in cols] for r in rows]
    widths = [min(60, max(len(c), *(len(t[i]) for t in text))) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for t in text:
        cells = [
            (v if len(v) <= w else v[: w - 1] + "…").ljust(w)
            for v, w in zip(t, widths, strict=True)
        ]
        click.echo("  ".join(cells).rstrip())


def require_actor(config: Config) -> str:
    """Who is deciding: review decisions, notices and provider imports always need --as."""
    if not config.actor:
        raise TrawlError(
            "This action needs to know who you are: pass --as NAME (before the command, "
            "e.g. `trawl --as alice review confirm 3`) or set TRAWL_USER."
        )
    return config.actor


def actor_or_login(config: Config) -> str:
    """Who an import is attributed to: --as / TRAWL_USER, else the operating-system user
    running the command (list imports are rarely a shared-account job)."""
    if config.actor:
        return config.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise TrawlError(
            "This command needs to know who you are for the audit trail: pass --as NAME "
            "(before the command, e.g. `trawl --as alice hashes import list.csv`) or set "
            "TRAWL_USER."
        ) from None
