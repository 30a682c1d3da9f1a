"""Known-hash lists: import a list file all or nothing, and make list rows from local images."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from crawler.errors import TrawlError
from matchers.hashtypes import PDQ_QUALITY_THRESHOLD

if TYPE_CHECKING:
    from matchers.digests import Digests
    from storage.db import Store
    from storage.known import ImportResult

STDIN, STDIN_NAME = "-", "<stdin>"  # `trawl hashes import - --list NAME` reads a pipe
PROGRESS_EVERY = 100_000  # entries between progress reports during an import
# Rows `trawl hash --format csv` writes per image unless told otherwise: what hotline lists
# usually carry (exact md5/sha256 for identical files, PDQ for edited copies).
DEFAULT_LIST_TYPES = ("md5", "sha256", "pdq")

Progress = Callable[[int], None]  # entries stored so far


def _every(step: int, progress: Progress | None) -> Progress | None:
    """`progress`, called only when the count passes another multiple of `step`."""
    if progress is None:
        return None
    reported = 0

    def report(done: int) -> None:
        nonlocal reported
        if done // step > reported // step:
            reported = done
            progress(done)

    return report


class ListImportError(TrawlError, ValueError):
    """A list that cannot be imported for a reason the parser does not name (no list name
    for standard input, an unreadable encoding); nothing was imported."""


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
    """Import a list file (FILE '-' reads stdin) all or nothing, in memory independent of
    its length, then rebuild the known-hash index so the next crawl starts at once.

    The file is parsed as it is stored, inside one transaction: a malformed line anywhere
    (ListFormatError naming file, line and value) rolls everything back, so nothing from
    the file is kept.
    """
    from matchers.listformats.errors import ListFormatError

    if str(path) == STDIN:
        if not name:
            raise ListImportError(
                "A list read from standard input needs a name: pass --list NAME.")
        return import_list_stream(store, sys.stdin.buffer, name=name, source=STDIN_NAME,
                                  fmt=fmt, hash_type=hash_type, actor=actor,
                                  progress=progress)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ListFormatError(str(path), None, f"cannot read the file ({exc.strerror})") from None
    with stream:
        return import_list_stream(store, stream, name=name or path.stem, source=str(path),
                                  fmt=fmt, hash_type=hash_type, actor=actor,
                                  progress=progress)


def import_list_stream(
    store: Store,
    stream: BinaryIO,
    *,
    name: str,
    source: str,
    fmt: str = "auto",
    hash_type: str | None = None,
    actor: str,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a list from an open binary stream (a file, a pipe, an upload) as list `name`,
    all or nothing, then rebuild the known-hash index. `source` names the stream in errors
    (ListFormatError: source, line and value) and in the list's record."""
    from crawler.adapter import build_matcher
    from matchers.listformats.errors import ListFormatError
    from matchers.lists import KnownListStream
    from storage.known import import_known_list

    if not name.strip():
        raise ListImportError(f"{source}: the list needs a name. Nothing was imported.")
    try:
        entries = KnownListStream(stream, name=source, fmt=fmt, hash_type=hash_type)
        result = import_known_list(store, name=name.strip(), fmt=entries.format,
                                   source_file=source, entries=entries, actor=actor,
                                   progress=_every(PROGRESS_EVERY, progress))
    except ListFormatError:
        raise  # names the file, the line and the value already
    except (ValueError, UnicodeDecodeError) as exc:
        raise ListImportError(f"{source}: {exc}. Nothing was imported.") from None
    if result.added:
        build_matcher(store)  # the index file for the new lists, built now, not by a crawl
    return result


# --- making lists from images a hotline holds -----------------------------------------


@dataclass(frozen=True)
class HashedFile:
    """One local file: its digests (full decode, as the reference tools compute them), or
    why it could not be read."""

    path: Path
    label: str  # the file name, or its path inside a directory that was walked
    digests: Digests | None = None
    error: str | None = None


@dataclass(frozen=True)
class ListRows:
    """Trawl CSV rows (hash_type, hash, label[, variant]) for one image, and the rows left
    out."""

    rows: list[tuple[str, ...]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def expand_paths(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file, default label): files as given, labelled by name; directories walked
    recursively in name order, labelled by their path inside the directory so that two
    IMG_0001.jpg in different folders stay two items of a list."""
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                yield found, found.relative_to(path).as_posix()
        else:
            yield path, path.name


def hash_files(
    paths: Iterable[Path], *, max_pixels: int | None = None, crops: bool = False
) -> Iterator[HashedFile]:
    """Hash local image files (directories walked) on the full decode; the bytes are read,
    hashed and dropped one file at a time. crops=True adds the hashes of the crops a
    crop-augmented list stores (matchers.variants.LIST_CROPS) as the digests' variants."""
    from matchers.hashing import DEFAULT_MAX_PIXELS, hash_image

    for path, label in expand_paths(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield HashedFile(path, label, error=f"cannot read {path}: {exc.strerror or exc}")
            continue
        digests = hash_image(data, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, fast=False,
                             variants=False, crops=crops)
        del data
        yield HashedFile(path, label, digests=digests)


def list_rows(
    hashed: HashedFile, types: Iterable[str], label: str | None = None, *, variants: bool = False
) -> ListRows:
    """Trawl CSV list rows for one hashed image; a missing perceptual hash or a PDQ hash
    below the quality threshold is left out with a warning.

    variants=True: rows of four columns, the fourth the variant (empty for the image's own
    hashes), followed by the perceptual hashes of each of the digests' variants (the crops of
    `hash_files(crops=True)`) under the same label: PDQ and pHash
    (matchers.variants.LIST_CROP_TYPES) whatever `types` asks, and dHash if it asks for it;
    crops whose PDQ quality is too low have no PDQ row (a crop of a featureless corner)."""
    d = hashed.digests
    out = ListRows()
    if d is None:
        return out
    values = {**d.exact(), **d.perceptual()}
    for hash_type in types:
        value = values.get(hash_type)
        if value is None:
            out.warnings.append(f"{hashed.path}: no {hash_type} hash ({d.status}: {d.error}); "
                                f"its {hash_type} row is left out.")
            continue
        quality = d.pdq_quality
        if hash_type == "pdq" and quality is not None and quality < PDQ_QUALITY_THRESHOLD:
            out.warnings.append(
                f"{hashed.path}: PDQ quality {quality} is below {PDQ_QUALITY_THRESHOLD} (too "
                "little detail to match reliably); its pdq row is left out.")
            continue
        out.rows.append((hash_type, value, label or hashed.label, *([""] if variants else [])))
    if variants:
        from matchers.variants import LIST_CROP_TYPES  # numpy: only when hashing crops

        wanted = [t for t in ("pdq", "phash", "dhash")
                  if t in LIST_CROP_TYPES or t in types]
        for variant in d.variants:
            for hash_type in wanted:
                if hash_type == "pdq" and variant.pdq_quality < PDQ_QUALITY_THRESHOLD:
                    continue
                value = variant.perceptual().get(hash_type)
                if value is None:
                    continue  # a graphic's canonical form: PDQ only
                out.rows.append((hash_type, value, label or hashed.label, variant.name))
    return out
