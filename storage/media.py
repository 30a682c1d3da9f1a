"""What the crawler saw: every image's digests, the pages showing it, and its hits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, select

from storage.crawls import add_crawl_counts
from storage.db import dialect_insert, key_batches, row_batches, url_key, utcnow
from storage.hits import Recorded, record_matches
from storage.models import Media, Observation
from storage.records import DIGEST_FIELDS, MatchIn, MediaDigestRow, MediaInfo, MediaRecord

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "CrawlWriter",
    "MatchIn",
    "MediaDigestRow",
    "MediaInfo",
    "MediaRecord",
    "get_media_by_url",
    "iter_hashed_urls",
    "iter_media_digests",
    "record_rematch",
]

logger = logging.getLogger(__name__)

STREAM_ROWS = 10_000
MAX_ERROR_LENGTH = 2000

# Describe the bytes that were hashed: a later failed fetch (404, timeout) of the same URL
# keeps them, so hits keep their evidence and conditional requests their validators.
DIGEST_COLUMNS = (*DIGEST_FIELDS, "content_type", "etag", "last_modified")
# Describe the latest fetch: always overwritten.
FETCH_COLUMNS = ("url", "host", "server_ip", "fetch_status", "error", "last_seen",
                 "last_crawl_id")
_LIMITS = {  # the length of every bounded text column a record fills
    name: length for name in (*DIGEST_COLUMNS, *FETCH_COLUMNS)
    if (length := getattr(Media.__table__.c[name].type, "length", None))
} | {"error": MAX_ERROR_LENGTH}


class CrawlWriter:
    """Buffers a crawl's media rows, observations and hits and writes them in batches.

    Why batches: one transaction per image would make the database the crawl's bottleneck
    (and SQLite's single writer would starve the CLI). Each flush is one short transaction
    using bulk INSERT ... ON CONFLICT statements; no transaction stays open between
    flushes. A flush happens when `batch_size` records are buffered, when `add` finds
    `flush_interval` seconds have passed since the last one, on `flush()` (call it from a
    timer so a quiet crawl still commits) and on `close()`. A process killed at any point
    keeps everything flushed before. Counter deltas given to `count` are written to the
    crawl row in the same transaction as the rows they describe, so a killed crawl's row
    matches what it stored.

    Thread safety: use a writer from ONE thread only (the reactor thread, or one writer
    thread); a call from a second thread raises RuntimeError rather than corrupt a batch.

    If a flush fails (database unreachable), the batch is kept and retried by the next
    flush: `flush()` raises, but `add()` only logs, so the crawl goes on.
    """

    def __init__(
        self, store: Store, crawl_id: int, *, flush_interval: float = 2.0, batch_size: int = 500
    ) -> None:
        self.store = store
        self.crawl_id = crawl_id
        self.flush_interval = flush_interval
        self.batch_size = max(1, batch_size)
        self.recorded = Recorded()  # what its flushes changed in the review queue, so far
        self.dropped_observations = 0  # pages named for an image that has no media row
        self._media: dict[str, dict[str, Any]] = {}  # url_key -> row; the latest record wins
        self._pages: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._matches: dict[str, list[MatchIn]] = {}  # url_key -> the image's matches
        self._counts: dict[str, int] = {}  # crawl-row counter -> amount to add at the flush
        self._last_attempt = time.monotonic()
        self._owner: int | None = None
        self._closed = False
        self._healthy = True  # False after a failed flush: retry at the interval only

    @property
    def pending(self) -> int:
        """Buffered records (and counter deltas) not yet committed."""
        return len(self._media) + len(self._pages) + len(self._matches) + bool(self._counts)

    def count(self, deltas: dict[str, int]) -> None:
        """Add to the crawl row's counters (pages, images, hashed, hits, errors) with the
        next flush, in its transaction (storage.crawls.add_crawl_counts)."""
        self._check_usable()
        for name, delta in deltas.items():
            if delta:
                self._counts[name] = self._counts.get(name, 0) + delta

    def add(self, record: MediaRecord, page_urls: Sequence[str],
            matches: Sequence[MatchIn]) -> None:
        """Buffer an image's media row, the pages that showed it, and its matches (the
        evidence of its one hit)."""
        self._check_usable()
        key = url_key(record.url)
        self._media[key] = _media_row(record, key, self.crawl_id, utcnow())
        for page_url in page_urls:
            self._observe(key, page_url)
        if matches:
            self._matches[key] = list(matches)
        self._maybe_flush()

    def add_observation(self, media_url: str, page_url: str) -> None:
        """Buffer that `page_url` showed an image already given to `add` (this crawl or
        earlier); for an image never recorded the observation is dropped and counted."""
        self._check_usable()
        self._observe(url_key(media_url), page_url)
        self._maybe_flush()

    def flush(self) -> Recorded:
        """Commit everything buffered; returns what this flush changed in the review queue.
        Raises on failure, keeping the batch for the next attempt."""
        self._check_thread()
        self._last_attempt = time.monotonic()
        if not self.pending:
            return Recorded()
        with self.store.session() as session:
            recorded, dropped = self._write(session)
        self.dropped_observations += dropped
        self.recorded += recorded
        self._media.clear()
        self._pages.clear()
        self._matches.clear()
        self._counts.clear()
        return recorded

    def close(self) -> None:
        """Flush what is left; the writer accepts nothing afterwards."""
        if self._closed:
            return
        self.flush()
        self._closed = True

    def __enter__(self) -> CrawlWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------

    def _check_thread(self) -> None:
        ident = threading.get_ident()
        if self._owner is None:
            self._owner = ident
        elif self._owner != ident:
            raise RuntimeError(
                "A CrawlWriter was called from a second thread: use each writer from one "
                "thread only (create one per thread)."
            )

    def _check_usable(self) -> None:
        self._check_thread()
        if self._closed:
            raise RuntimeError("This CrawlWriter is closed: create a new one to write more.")

    def _observe(self, media_key: str, page_url: str) -> None:
        page_url = _text(page_url) or ""
        if page_url:
            self._pages.setdefault((media_key, url_key(page_url)), (page_url, utcnow()))

    def _maybe_flush(self) -> None:
        elapsed = time.monotonic() - self._last_attempt
        full = self.pending >= self.batch_size
        # After a failure, wait an interval before retrying instead of on every add.
        if elapsed >= self.flush_interval or (full and self._healthy):
            try:
                self.flush()
            except Exception:
                self._healthy = False
                logger.exception(
                    "Could not write %d records of crawl %d to %s; keeping them for the "
                    "next flush", self.pending, self.crawl_id, self.store.display_url,
                )
            else:
                self._healthy = True

    def _write(self, session: Session) -> tuple[Recorded, int]:
        """One flush's statements; returns (what changed, observations of unknown images)."""
        now = utcnow()
        found = _upsert_media(session, self.store, list(self._media.values()))
        others = ({k for k, _ in self._pages} | set(self._matches)) - found.keys()
        found.update(_media_ids(session, others))
        observations = []
        dropped = 0
        for (media_key, page_key), (page_url, seen_at) in self._pages.items():
            if media_key not in found:
                dropped += 1
                continue
            observations.append({
                "crawl_id": self.crawl_id, "media_id": found[media_key][0],
                "page_url": page_url, "page_key": page_key, "seen_at": seen_at,
            })
        stmt = _observation_insert(self.store.dialect)
        for chunk in row_batches(observations):
            session.execute(stmt, chunk).all()
        images = [(*found[key], matches) for key, matches in self._matches.items()
                  if key in found]
        recorded = record_matches(session, self.store, images, crawl_id=self.crawl_id, now=now,
                                  fetched=True)
        if self._counts:
            add_crawl_counts(session, self.crawl_id, self._counts)
        return recorded, dropped


def get_media_by_url(store: Store, url: str) -> MediaInfo | None:
    """The stored row for an image URL (digests, ETag, Last-Modified), or None."""
    with store.read_session() as session:
        media = session.scalars(select(Media).where(Media.url_key == url_key(url))).first()
        if media is None:
            return None
        return MediaInfo(**{name: getattr(media, name) for name in MediaInfo.__dataclass_fields__})


def iter_media_digests(store: Store) -> Iterator[MediaDigestRow]:
    """Stream the digests of every image hashed so far (rows with a sha256), by id, so a
    newly imported list can be matched without crawling again. Exhaust or close() it."""
    names = [f.name for f in fields(MediaDigestRow)]
    query = (
        select(*(getattr(Media, name) for name in names))
        .where(Media.sha256.is_not(None))
        .order_by(Media.id)
    )
    with store.connect_for_reading() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
        for row in result:
            yield MediaDigestRow(**dict(zip(names, row, strict=True)))


def iter_hashed_urls(store: Store) -> Iterator[str]:
    """Stream the URL of every image hashed so far (rows with a sha256)."""
    query = select(Media.url).where(Media.sha256.is_not(None))
    with store.connect_for_reading() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
        for (url,) in result:
            yield url


def record_rematch(store: Store, images: Sequence[tuple[int, Sequence[MatchIn]]]) -> Recorded:
    """Record matches found by matching stored digests against the lists (media id,
    matches): new evidence for existing hits, new hits for images that had none. Nothing
    was fetched, so a removed image stays removed."""
    if not images:
        return Recorded()
    with store.session() as session:
        sha: dict[int, str | None] = {}
        for chunk in key_batches(sorted({media_id for media_id, _ in images})):
            for media_id, sha256 in session.execute(
                    select(Media.id, Media.sha256).where(Media.id.in_(chunk))):
                sha[media_id] = sha256
        rows = [(media_id, sha[media_id], matches) for media_id, matches in images
                if media_id in sha]
        return record_matches(session, store, rows, crawl_id=None, now=utcnow(), fetched=False)


# --- internals ----------------------------------------------------------------------


# The media row's columns filled from a record, each with how its value is made ready:
# text within its column's length and without NUL, numbers as int or float.
_ROW_COLUMNS = tuple(
    (name, _LIMITS.get(name),
     int if name in ("size", "width", "height", "frames", "pdq_quality")
     else float if name == "flatness" else None)
    for name in (*DIGEST_COLUMNS, "host", "server_ip", "fetch_status", "error")
)


def _media_row(record: MediaRecord, key: str, crawl_id: int, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {"url": record.url, "url_key": key}
    for name, limit, number in _ROW_COLUMNS:
        value = getattr(record, name)
        if isinstance(value, str):
            if "\x00" in value:
                value = value.replace("\x00", "")
            if limit:
                value = value[:limit]
        elif value is not None and number is not None:
            value = number(value)
        row[name] = value
    row["fetch_status"] = row["fetch_status"] or "ok"
    row["first_seen"] = row["last_seen"] = now
    row["last_crawl_id"] = crawl_id
    return row


def _text(value: str | None, limit: int | None = None) -> str | None:
    """Strings as PostgreSQL stores them: no NUL, within the column's length."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit] if limit else value


@cache
def _media_upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (url_key) DO UPDATE for media rows, RETURNING (url_key, id,
    sha256); built once per dialect, as building its CASE per column costs more than the
    flush of a few rows."""
    table = Media.__table__
    stmt = dialect_insert(dialect, table)
    new = stmt.excluded
    set_: dict[str, Any] = {
        name: case((new.sha256.is_(None), table.c[name]), else_=new[name])
        for name in DIGEST_COLUMNS
    }
    set_.update({name: new[name] for name in FETCH_COLUMNS})
    return stmt.on_conflict_do_update(index_elements=["url_key"], set_=set_).returning(
        table.c.url_key, table.c.id, table.c.sha256)


@cache
def _observation_insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for observations, built once per dialect."""
    table = Observation.__table__
    stmt = dialect_insert(dialect, table).on_conflict_do_nothing(
        index_elements=["crawl_id", "media_id", "page_key"])
    # RETURNING lets SQLAlchemy batch rows into multi-VALUES statements (it will not for
    # ON CONFLICT without it): one round trip per chunk, not per row.
    return stmt.returning(table.c.id)


def _upsert_media(
    session: Session, store: Store, rows: list[dict[str, Any]]
) -> dict[str, tuple[int, str | None]]:
    """Insert or update media rows by url_key; returns url_key -> (id, sha256)."""
    found: dict[str, tuple[int, str | None]] = {}
    stmt = _media_upsert(store.dialect)
    for chunk in row_batches(rows):
        for key, media_id, sha in session.execute(stmt, chunk):
            found[key] = (media_id, sha)
    return found


def _media_ids(session: Session, keys: Iterable[str]) -> dict[str, tuple[int, str | None]]:
    """url_key -> (media id, sha256) for the keys that have a media row."""
    found: dict[str, tuple[int, str | None]] = {}
    for chunk in key_batches(sorted(keys)):
        rows = session.execute(
            select(Media.url_key, Media.id, Media.sha256).where(Media.url_key.in_(chunk))
        )
        for key, media_id, sha in rows:
            found[key] = (media_id, sha)
    return found
