"""The known-hash matcher on disk: built once per list version, memory-mapped by every crawl.

A crawl, a rematch and a list import all call `load_or_build_matcher`. While the file's
stamp equals the database's known-lists version (storage.known.known_lists_stamp) the
file is mapped read-only in milliseconds and shared by every process through the page
cache; when the lists changed, or the file is missing, damaged or from another format
version, it is rebuilt from the database once (under a lock, so concurrent crawls do not
all rebuild) and replaced atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from crawler.files import open_private, private_dir
from matchers.decision import Matcher, MatcherBuilder
from matchers.matcherfile import MatcherFileError, saved_stamp
from storage.db import Store
from storage.known import known_lists_stamp, known_snapshot

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
    if cache_dir is None:
        return _build(store, thresholds, dihedral)
    path = cache_dir / INDEX_FILE
    current = _usable(path, known_lists_stamp(store))
    if current:
        return Matcher.load(path, thresholds=thresholds, dihedral=dihedral)
    try:
        private_dir(cache_dir)  # known lists are sensitive: the index is the owner's only
        with _locked(cache_dir / LOCK_FILE):
            # Another process may have rebuilt it while we waited for the lock.
            if not _usable(path, known_lists_stamp(store)):
                _remove_leftovers(cache_dir)
                started = time.monotonic()
                matcher = _build(store, None, dihedral)
                size = matcher.save(path)
                logger.info("Built the known-hash index (%d hashes, %.0f MB) in %.1fs: %s",
                            len(matcher), size / 1e6, time.monotonic() - started, path)
                del matcher
    except OSError as exc:  # e.g. a read-only folder: match from memory, say why
        logger.warning("Cannot save the known-hash index in %s (%s); building it in memory "
                       "for this run only", cache_dir, exc)
        return _build(store, thresholds, dihedral)
    return Matcher.load(path, thresholds=thresholds, dihedral=dihedral)


def rebuild_matcher(store: Store, cache_dir: Path) -> None:
    """Build and save the matcher now if it is not current (e.g. right after an import)."""
    load_or_build_matcher(store, cache_dir)


def _usable(path: Path, stamp: str) -> bool:
    try:
        saved = saved_stamp(path)
    except MatcherFileError as exc:
        if path.exists():
            logger.warning("Rebuilding the known-hash index: %s", exc)
        return False
    if saved != stamp:
        logger.info("The known lists changed (%s -> %s): rebuilding the known-hash index",
                    saved, stamp)
        return False
    return True


def _build(store: Store, thresholds: Mapping[str, int] | None, dihedral: bool) -> Matcher:
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
