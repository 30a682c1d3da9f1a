"""`trawl hashes import|lists`, `trawl hash` and `trawl rematch`: known-hash lists."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from crawler.cli.common import actor_or_login, emit, format_option, opened_store, pass_config
from crawler.config import Config
from crawler.errors import TrawlError
from crawler.services.lists import DEFAULT_LIST_TYPES, STDIN
from matchers.hashtypes import HASH_TYPES

LIST_FORMATS = ("auto", "csv", "te", "pdq-hasher", "plain")
LARGE_FILE_BYTES = 8_000_000  # say "reading ..." before parsing a file this big
LIST_COLUMNS = ("id", "name", "format", "entry_count", "duplicate_count", "imported_at",
                "imported_by", "source_file")


def _warn(message: str) -> None:
    click.echo(message, err=True)


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
    from crawler.services.lists import import_list_file

    actor = actor_or_login(config)

    def progress(done: int) -> None:
        _warn(f"import: {done} entries stored")

    if str(file) != STDIN and file.stat().st_size >= LARGE_FILE_BYTES:
        _warn(f"import: reading {file} ({file.stat().st_size // 1_000_000} MB)")
    with opened_store(config) as store:
        result = import_list_file(store, file, name=list_name, fmt=fmt, hash_type=hash_type,
                                  actor=actor, progress=progress)
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


@click.command("hash")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="FILE...")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "pdq-hasher"]),
              default="jsonl", show_default=True,
              help="jsonl: every digest, one JSON object per file. csv: a Trawl hash list "
              "(hash_type,hash,label) ready for `trawl hashes import`. pdq-hasher: "
              "hash,quality,filename like Meta's pdq-photo-hasher.")
@click.option("--type", "hash_types", multiple=True, type=click.Choice(sorted(HASH_TYPES)),
              help=f"With --format csv: hash types to write (repeatable; default "
              f"{', '.join(DEFAULT_LIST_TYPES)}).")
@click.option("--label", default=None,
              help="With --format csv: label for every row (default: the file name, or "
              "its path inside a directory given).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse to decode images with more pixels than this (default: the "
              "crawler's limit).")
@click.option("--variants", "variants", type=click.Choice(["none", "crops"]), default="none",
              show_default=True,
              help="With --format csv or jsonl: crops also writes the PDQ and pHash (and "
              "dHash with --type dhash) of 22 crops of each image (centre 90% and 80%, the "
              "four 90% corners, and the sixteen crops cutting 2.5% or 7.5% off each side) "
              "and of its picture without a border, if it has one, as variants of the same "
              "item (column variant), so that re-posts cropped by up to 10% per side match; "
              "for a graphic also the canonical PDQ (of a 64x64 box thumbnail) of the "
              "image, its trim and its crops (canon, canon-trim, canon-crop-...).")
def hash_command(
    files: tuple[Path, ...], fmt: str, hash_types: tuple[str, ...], label: str | None,
    max_pixels: int | None, variants: str,
) -> None:
    """Hash local image files (md5, sha1, sha256, pHash, dHash, PDQ); directories are walked.

    The image is decoded in full (no fast path), so the hashes are the ones the reference
    tools compute and fit for making lists. A file that cannot be read is reported on
    stderr and skipped; the exit code is then 1.

    Example: trawl hash photo.jpg --format csv > my-list.csv

    Example: trawl hash held/ --format csv --variants crops > my-list-with-crops.csv
    """
    from crawler.services.lists import hash_files

    crops = variants == "crops"
    if crops and fmt == "pdq-hasher":
        raise TrawlError("--variants crops needs --format csv or jsonl: pdq-hasher output "
                         "has no column to mark a crop with.")
    failed = 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(("hash_type", "hash", "label", *(["variant"] if crops else [])))
    for hashed in hash_files(files, max_pixels=max_pixels, crops=crops):
        if hashed.digests is None:
            _warn(f"Error: {hashed.error}.")
            failed += 1
            continue
        _emit_hashed(hashed, fmt, writer, hash_types, label, crops)
        sys.stdout.flush()
    if failed:
        raise TrawlError(f"{failed} file(s) could not be read (see above); the others were "
                         "hashed.")


def _emit_hashed(hashed: Any, fmt: str, writer: Any, hash_types: tuple[str, ...],
                 label: str | None, crops: bool) -> None:
    """One hashed file in the chosen output format (warnings on stderr)."""
    from crawler.services.lists import list_rows

    d = hashed.digests
    if fmt == "jsonl":
        if d.status != "ok":
            _warn(f"{hashed.path}: {d.status}: {d.error}; only md5/sha1/sha256 computed.")
        extra = {"variants": [v.as_dict() for v in d.variants]} if crops else {}
        click.echo(json.dumps({"file": str(hashed.path), **d.as_dict(), **extra}))
    elif fmt == "csv":
        rows = list_rows(hashed, hash_types or DEFAULT_LIST_TYPES, label, variants=crops)
        for warning in rows.warnings:
            _warn(warning)
        writer.writerows(rows.rows)
    elif d.pdq is None:
        _warn(f"{hashed.path}: no PDQ hash ({d.status}: {d.error}); skipped.")
    else:
        writer.writerow((d.pdq, d.pdq_quality, str(hashed.path)))


@click.command("rematch")
@click.option("--threshold", "thresholds", multiple=True, metavar="TYPE=BITS",
              help="Override a perceptual match threshold (repeatable), e.g. pdq=31.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_config
def rematch_command(config: Config, thresholds: tuple[str, ...], as_json: bool) -> None:
    """Match every stored image's hashes against the current lists; record what is new.

    Use it after importing a list: images crawled before are matched without crawling
    again. New matches become evidence of their image; decided images are not re-opened.

    Example: trawl rematch
    """
    from crawler.services.rematch import parse_thresholds, rematch

    overrides = parse_thresholds(thresholds)

    def progress(checked: int, matches: int) -> None:
        _warn(f"rematch: {checked} images checked, {matches} matches so far")

    with opened_store(config) as store:
        summary = rematch(store, thresholds=overrides or None, progress=progress)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    if summary.known_hashes == 0:
        click.echo("No known hashes are loaded, so nothing was matched: import a list first "
                   "with `trawl hashes import FILE`.")
        return
    reopened = (f"; {summary.reopened} rejected image(s) re-opened by new high-tier evidence"
                if summary.reopened else "")
    click.echo(
        f"Checked {summary.media} stored images against {summary.known_hashes} known hashes: "
        f"{summary.images_matched} images match ({summary.matches} matches, "
        f"{summary.new_matches} of them new); {summary.new_hits} images newly queued for "
        f"review{reopened} ({summary.duration:.1f} s)."
    )


def register(cli: click.Group) -> None:
    cli.add_command(hashes_group)
    cli.add_command(hash_command)
    cli.add_command(rematch_command)
