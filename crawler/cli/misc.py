"""`trawl init`, `trawl hash`, `trawl rematch` and `trawl demo`, plus the CLI's store opener."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from crawler.cli.common import TrawlError, opened_store, pass_config
from crawler.config import Config
from matchers.digests import Digests
from matchers.hashtypes import HASH_TYPES, PDQ_QUALITY_THRESHOLD

# Rows `trawl hash --format csv` writes per image unless --type says otherwise: what
# hotline lists usually carry (exact md5/sha256 for identical files, PDQ for edited copies).
DEFAULT_LIST_TYPES = ("md5", "sha256", "pdq")


# --- trawl init ---------------------------------------------------------------------


@click.command("init")
@pass_config
def init_command(config: Config) -> None:
    """Create the database, or bring an existing one up to the current schema.

    Example: trawl --db postgresql://trawl@db.example/trawl init
    """
    with opened_store(config, migrate=True) as store:
        shown = store.display_url
    click.echo(f"Database ready: {shown}")


# --- trawl hash ---------------------------------------------------------------------


def _expand(paths: tuple[Path, ...]) -> Iterator[tuple[Path, str]]:
    """(file, default label): files as given, labelled by name; directories walked
    recursively in name order, labelled by their path inside the directory so that two
    IMG_0001.jpg in different folders stay two items of a list."""
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                yield found, found.relative_to(path).as_posix()
        else:
            yield path, path.name


def _warn(message: str) -> None:
    click.echo(message, err=True)


def _list_rows(path: Path, digests: Digests, types: tuple[str, ...], label: str) -> list[
    tuple[str, str, str]
]:
    """Trawl CSV list rows (hash_type, hash, label) for one image; a missing perceptual hash
    or a PDQ hash below the quality threshold is left out with a warning."""
    values = {**digests.exact(), **digests.perceptual()}
    rows: list[tuple[str, str, str]] = []
    for hash_type in types:
        value = values.get(hash_type)
        if value is None:
            _warn(f"{path}: no {hash_type} hash ({digests.status}: {digests.error}); "
                  f"its {hash_type} row is left out.")
            continue
        quality = digests.pdq_quality
        if hash_type == "pdq" and quality is not None and quality < PDQ_QUALITY_THRESHOLD:
            _warn(f"{path}: PDQ quality {quality} is below {PDQ_QUALITY_THRESHOLD} (too "
                  "little detail to match reliably); its pdq row is left out.")
            continue
        rows.append((hash_type, value, label))
    return rows


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
def hash_command(
    files: tuple[Path, ...], fmt: str, hash_types: tuple[str, ...], label: str | None,
    max_pixels: int | None,
) -> None:
    """Hash local image files (md5, sha1, sha256, pHash, dHash, PDQ); directories are walked.

    The image is decoded in full (no fast path), so the hashes are the ones the reference
    tools compute and fit for making lists. A file that cannot be read is reported on
    stderr and skipped; the exit code is then 1.

    Example: trawl hash photo.jpg --format csv > my-list.csv
    """
    from matchers.hashing import DEFAULT_MAX_PIXELS, hash_image  # numpy/Pillow: load on use

    types = hash_types or DEFAULT_LIST_TYPES
    pixels = max_pixels or DEFAULT_MAX_PIXELS
    failed = 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(("hash_type", "hash", "label"))
    for path, name in _expand(files):
        try:
            data = path.read_bytes()
        except OSError as exc:
            _warn(f"Error: cannot read {path}: {exc.strerror or exc}.")
            failed += 1
            continue
        digests = hash_image(data, max_pixels=pixels, fast=False)
        del data  # the bytes are not needed past hashing
        if digests.status != "ok" and fmt == "jsonl":
            _warn(f"{path}: {digests.status}: {digests.error}; only md5/sha1/sha256 computed.")
        if fmt == "jsonl":
            click.echo(json.dumps({"file": str(path), **digests.as_dict()}))
        elif fmt == "csv":
            writer.writerows(_list_rows(path, digests, types, label or name))
        elif digests.pdq is None:
            _warn(f"{path}: no PDQ hash ({digests.status}: {digests.error}); skipped.")
        else:
            writer.writerow((digests.pdq, digests.pdq_quality, str(path)))
        sys.stdout.flush()
    if failed:
        raise TrawlError(f"{failed} file(s) could not be read (see above); the others were "
                         "hashed.")


# --- trawl rematch ------------------------------------------------------------------


def _parse_thresholds(values: tuple[str, ...]) -> dict[str, int]:
    thresholds: dict[str, int] = {}
    for item in values:
        name, sep, number = item.partition("=")
        if not sep or name.strip().lower() not in HASH_TYPES or not number.strip().isdigit():
            raise TrawlError(
                f"Bad --threshold {item!r}: write TYPE=BITS with TYPE one of "
                f"{', '.join(HASH_TYPES)}, e.g. --threshold pdq=31."
            )
        thresholds[name.strip().lower()] = int(number)
    return thresholds


@click.command("rematch")
@click.option("--threshold", "thresholds", multiple=True, metavar="TYPE=BITS",
              help="Override a perceptual match threshold (repeatable), e.g. pdq=31.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_config
def rematch_command(config: Config, thresholds: tuple[str, ...], as_json: bool) -> None:
    """Match every stored image's hashes against the current lists; queue the new hits.

    Use it after importing a list: images crawled before are matched without crawling
    again. Rejected (suppressed) pairs and hits already queued are not queued again.

    Example: trawl rematch
    """
    from crawler.services.rematch import rematch

    overrides = _parse_thresholds(thresholds)

    def progress(checked: int, matches: int) -> None:
        _warn(f"rematch: {checked} images checked, {matches} matches so far")

    with opened_store(config) as store:
        try:
            summary = rematch(store, thresholds=overrides or None, progress=progress)
        except ValueError as exc:
            raise TrawlError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    if summary.known_hashes == 0:
        click.echo("No known hashes are loaded, so nothing was matched: import a list first "
                   "with `trawl hashes import FILE`.")
        return
    click.echo(
        f"Checked {summary.media} stored images against {summary.known_hashes} known hashes: "
        f"{summary.matches} matches, {summary.new_hits} new hits queued for review "
        f"({summary.duration:.1f} s)."
    )


# --- trawl demo ---------------------------------------------------------------------


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("trawl-demo"), show_default=True,
              help="Where the demo database and hash lists go (demo.db is recreated).")
@click.option("--time-budget", type=click.FloatRange(min=5), default=90.0, show_default=True,
              help="Stop the demo crawl after this many seconds.")
def demo_command(directory: Path, time_budget: float) -> None:
    """Crawl a generated site on 127.0.0.1 and show the known images found and missed.

    Everything is synthetic and local: the site (pages, images in several formats, edited
    copies of "known" images, a second image host on 127.0.0.2) is generated on the fly,
    the known-hash list is written to --dir, the real `trawl crawl` runs against it, and a
    second list imported after the crawl is matched with `trawl rematch` logic. Exits 0
    when every expected hit is found and nothing else is. The demo keeps its own
    database (DIR/demo.db, recreated each run); --db is not used.

    Example: trawl demo --dir /tmp/trawl-demo
    """
    from crawler.services.demo import DemoError, run_demo

    try:
        report = run_demo(directory, echo=click.echo, time_budget=time_budget)
    except DemoError as exc:
        raise TrawlError(str(exc)) from None
    if not report.ok:
        raise TrawlError(
            f"The demo did not get the expected result: {len(report.missed)} expected hits "
            f"missed, {len(report.unexpected)} unexpected hits, {len(report.leaked)} files "
            "holding image bytes (details above)."
        )


def register(cli: click.Group) -> None:
    """Add init, hash, rematch and demo to the top-level group."""
    for command in (init_command, hash_command, rematch_command, demo_command):
        cli.add_command(command)
