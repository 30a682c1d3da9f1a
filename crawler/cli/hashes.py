"""`trawl hashes`: import known-hash lists (all-or-nothing, line-numbered errors) and list them."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crawler.cli.common import TrawlError, emit, format_option, opened_store, pass_config
from crawler.config import Config
from matchers.hashtypes import HASH_TYPES
from matchers.lists import KnownEntry, ListFormatError, parse_known_list, parse_known_stream

if TYPE_CHECKING:
    from storage.db import Store
    from storage.known import ImportResult, KnownHashIn

LIST_FORMATS = ("auto", "csv", "te", "pdq-hasher", "plain")
STDIN, STDIN_NAME = "-", "<stdin>"  # `trawl hashes import - --list NAME` reads a pipe
PROGRESS_EVERY = 100_000  # entries between progress lines on stderr during an import
LARGE_FILE_BYTES = 8_000_000  # say "reading ..." before parsing a file this big
LIST_COLUMNS = ("id", "name", "format", "entry_count", "duplicate_count", "imported_at",
                "imported_by", "source_file")

Progress = Callable[[int, int], None]  # (entries stored so far, total entries)


def import_actor(config: Config) -> str:
    """Who an import is attributed to in the audit trail: --as / TRAWL_USER, else the
    operating-system user running the command (imports are rarely a shared-account job)."""
    if config.actor:
        return config.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise TrawlError(
            "This import needs to know who you are for the audit trail: pass --as NAME "
            "(before the command, e.g. `trawl --as alice hashes import list.csv`) or set "
            "TRAWL_USER."
        ) from None


def _stored(entries: list[KnownEntry], progress: Progress | None) -> Iterator[KnownHashIn]:
    from storage.known import KnownHashIn

    total = len(entries)
    for done, entry in enumerate(entries, 1):
        yield KnownHashIn(
            hash_type=entry.hash_type,
            value=entry.value,
            label=entry.label,
            source=entry.source,
            category=entry.category,
            extra=dict(entry.extra) or None,
        )
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, total)


def import_list_file(
    store: Store,
    path: Path,
    *,
    name: str | None = None,
    fmt: str = "auto",
    hash_type: str | None = None,
    actor: str,
    progress: Progress | None = None,
) -> ImportResult:
    """Parse a list file completely, then store it in one transaction.

    Parsing first means a malformed line anywhere stops the import before the database is
    touched (ListFormatError names file, line and value); the storage transaction makes a
    failure half-way through the insert leave nothing behind either.
    """
    from storage.known import import_known_list

    if str(path) == STDIN:
        if not name:
            raise ValueError("a list read from standard input needs a name: pass --list NAME")
        parsed = parse_known_stream(sys.stdin.buffer, name=STDIN_NAME, fmt=fmt,
                                    hash_type=hash_type)
    else:
        parsed = parse_known_list(path, fmt=fmt, hash_type=hash_type)
    return import_known_list(
        store,
        name=name or path.stem,
        fmt=parsed.format,
        source_file=STDIN_NAME if str(path) == STDIN else str(path),
        entries=_stored(parsed.entries, progress),
        actor=actor,
        duplicates=parsed.duplicates,
    )


def format_error_message(exc: ListFormatError, path: Path) -> str:
    """The parser's message, making sure the file is named (the user may import many)."""
    message = str(exc)
    if str(path) not in message and path.name not in message:
        message = f"{path}: {message}"
    if "Nothing was imported" not in message:
        message = f"{message.rstrip('.')}. Nothing was imported from this file."
    return message


@click.group("hashes")
def hashes_group() -> None:
    """Known-hash lists: import them and see what is loaded."""


@hashes_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                        path_type=Path))
@click.option("--list", "list_name", default=None,
              help="Name of the list (default: the file name without extension). "
              "Importing into an existing list adds the entries it does not have yet.")
@click.option("--format", "fmt", type=click.Choice(LIST_FORMATS), default="auto",
              show_default=True, help="List format; auto detects it from the content.")
@click.option("--type", "hash_type", type=click.Choice(sorted(HASH_TYPES)), default=None,
              help="Hash type of every line (needed for --format plain).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_config
def import_command(
    config: Config, file: Path, list_name: str | None, fmt: str, hash_type: str | None,
    as_json: bool,
) -> None:
    """Import a known-hash list, all or nothing.

    A malformed line stops the import with its line number and value, and nothing is
    stored. The import is written to the audit trail under --as / TRAWL_USER, or the
    operating-system user name when neither is given.

    FILE may be - to read standard input (then --list is required).

    Example: trawl --as alice hashes import iwf-2024.csv --list iwf-2024
    """
    actor = import_actor(config)
    if str(file) == STDIN and not list_name:
        raise TrawlError("A list read from standard input needs a name: pass --list NAME.")

    def progress(done: int, total: int) -> None:
        click.echo(f"import: {done}/{total} entries stored", err=True)

    if str(file) != STDIN and file.stat().st_size >= LARGE_FILE_BYTES:
        click.echo(f"import: reading {file} ({file.stat().st_size // 1_000_000} MB)", err=True)
    with opened_store(config) as store:
        try:
            result = import_list_file(store, file, name=list_name, fmt=fmt,
                                      hash_type=hash_type, actor=actor, progress=progress)
        except ListFormatError as exc:
            raise TrawlError(format_error_message(exc, file)) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise TrawlError(f"{file}: {exc}. Nothing was imported.") from None
    if as_json:
        click.echo(json.dumps({
            "list_id": result.list_id, "name": result.name, "added": result.added,
            "duplicates": result.duplicates, "already_present": result.already_present,
        }, indent=2))
        return
    click.echo(
        f"Imported list {result.name!r} (id {result.list_id}) from {file}: {result.added} "
        f"added, {result.duplicates} duplicates within the file, {result.already_present} "
        "already present."
    )


@hashes_group.command("lists")
@format_option()
@pass_config
def lists_command(config: Config, fmt: str) -> None:
    """Show the imported lists with their entry counts.

    Example: trawl hashes lists --format json
    """
    from storage.known import list_known_lists

    with opened_store(config) as store:
        lists = list_known_lists(store)
    emit(lists, fmt, LIST_COLUMNS)


def register(cli: click.Group) -> None:
    """Add `trawl hashes` to the top-level group."""
    cli.add_command(hashes_group)
