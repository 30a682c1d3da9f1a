"""The known-hash matcher on disk: built once per list version, memory-mapped by every crawl.

A crawl, a rematch and a list import all call `load_or_build_matcher`. While the file's
stamp equals the database's known-lists version (storage.known.known_lists_stamp) the
file is mapped read-only in milliseconds and shared by every process through the page
cache; when the lists changed, or the file is missing, damaged or from another format
version, it is rebuilt from the database once (under a lock, so concurrent crawls do not
all rebuild) and replaced atomically. `current_matcher_file` does the same but stops short
of mapping the file: a crawl process whose hash workers match hands them the file and maps
it itself (numpy and the index code imported) only when it has to match.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.files import open_private, private_dir
from matchers.hashtypes import match_thresholds
from matchers.matcherfile import MatcherFileError, saved_info
from storage.db import Store
from storage.known import known_lists_stamp, known_snapshot

if TYPE_CHECKING:
    from matchers.decision import Matcher

logger = logging.getLogger(__name__)

INDEX_FILE = "known-hashes.matcher"
LOCK_FILE = "known-hashes.lock"


def index_dir_for(store: Store, home: Path | None = None) -> Path | None:
    """Where a database's matcher file lives: beside a SQLite file (`trawl.db.index/`), or
    for PostgreSQL under `home` (default $XDG_CACHE_HOME/trawl or ~/.cache/trawl) in a
    folder named for the database URL. None for an in-memory database: nothing to keep.
    """
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return None
        database = Path(url.database)
        return database.with_name(database.name + ".index")
    if home is None:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = Path(cache) / "trawl"
    key = hashlib.sha256(store.display_url.encode()).hexdigest()[:16]
    return home / "index" / key


@dataclass(frozen=True)
class SavedMatcher:
    """A current saved matcher, not mapped yet: what hash workers need to map it (path,
    stamp, thresholds, dihedral: the attributes `Matcher.load` gives a loaded one) and how
    many known hashes it holds."""

    path: Path
    stamp: str | None
    count: int
    thresholds: dict[str, int] = field(default_factory=dict)
    dihedral: bool = True

    def __len__(self) -> int:
        return self.count

    def load(self) -> Matcher:
        """Map the file (MatcherFileError if it became unusable since)."""
        from matchers.decision import Matcher

        return Matcher.load(self.path, thresholds=self.thresholds, dihedral=self.dihedral)


def current_matcher_file(
    store: Store,
    cache_dir: Path,
    thresholds: Mapping[str, int] | None = None,
    *,
    dihedral: bool = True,
) -> SavedMatcher | None:
    """The saved matcher for the database's current known lists in `cache_dir`, rebuilt
    (and saved) first when the lists changed since it was written, or the file is missing
    or unusable; None when it cannot be saved there (logged: the caller builds in memory).
    """
    limits = match_thresholds(thresholds or {})  # a bad override fails here, not in a worker
    path = cache_dir / INDEX_FILE
    found = _usable(path, known_lists_stamp(store))
    if found is None:
        try:
            private_dir(cache_dir)  # known lists are sensitive: the index is the owner's only
            with _locked(cache_dir / LOCK_FILE):
                # Another process may have rebuilt it while we waited for the lock.
                found = _usable(path, known_lists_stamp(store))
                if found is None:
                    _remove_leftovers(cache_dir)
                    started = time.monotonic()
                    matcher = _build(store, None, dihedral)
                    size = matcher.save(path)
                    logger.info("Built the known-hash index (%d hashes, %.0f MB) in %.1fs: %s",
                                len(matcher), size / 1e6, time.monotonic() - started, path)
                    found = (matcher.stamp, len(matcher))
                    del matcher
        except OSError as exc:  # e.g. a read-only folder: match from memory, say why
            logger.warning("Cannot save the known-hash index in %s (%s); building it in "
                           "memory for this run only", cache_dir, exc)
            return None
    return SavedMatcher(path, found[0], found[1], limits, dihedral)


def load_or_build_matcher(
    store: Store,
    cache_dir: Path | None,
    thresholds: Mapping[str, int] | None = None,
    *,
    dihedral: bool = True,
) -> Matcher:
    """The matcher for the database's current known lists, from `cache_dir` if current.

    Rebuilds (and saves) it when the lists changed since the file was written, or the file
    is missing or unusable; `cache_dir` None builds in memory without saving.
    """
    saved = None
    if cache_dir is not None:
        saved = current_matcher_file(store, cache_dir, thresholds, dihedral=dihedral)
    if saved is None:
        return _build(store, thresholds, dihedral)
    return saved.load()


def rebuild_matcher(store: Store, cache_dir: Path) -> None:
    """Build and save the matcher now if it is not current (e.g. right after an import)."""
    current_matcher_file(store, cache_dir)


def _usable(path: Path, stamp: str) -> tuple[str | None, int] | None:
    """(stamp, count) of the saved matcher at `path` if it is current, else None."""
    try:
        saved = saved_info(path)
    except MatcherFileError as exc:
        if path.exists():
            logger.warning("Rebuilding the known-hash index: %s", exc)
        return None
    if saved.stamp != stamp:
        logger.info("The known lists changed (%s -> %s): rebuilding the known-hash index",
                    saved.stamp, stamp)
        return None
    return saved.stamp, saved.rows


def _build(store: Store, thresholds: Mapping[str, int] | None, dihedral: bool) -> Matcher:
    from matchers.decision import MatcherBuilder

    with known_snapshot(store) as snapshot:
        builder = MatcherBuilder(snapshot.list_names, capacity=snapshot.count)
        for batch in snapshot.batches:
            builder.add(batch.ids, batch.list_ids, batch.hash_types, batch.values,
                        batch.labels, batch.categories, batch.variants)
        stamp = snapshot.stamp
    return builder.build(thresholds=thresholds, dihedral=dihedral, stamp=stamp)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open_private(path, "ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(cache_dir: Path) -> None:
    """Temporary files of a build that was killed (we hold the lock: none is being written)."""
    for leftover in cache_dir.glob(f".{INDEX_FILE}.*"):
        leftover.unlink(missing_ok=True)
