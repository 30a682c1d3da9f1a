"""Known-hash lists: all-or-nothing bulk import, listing, and streaming for the matcher."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)

from storage.audit import append_audit
from storage.db import utcnow
from storage.models import KnownHash, KnownList, KnownListsVersion
from storage.records import ImportResult, KnownHashIn, KnownHashRow, KnownListInfo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "ImportResult",
    "KnownColumns",
    "KnownHashIn",
    "KnownHashRow",
    "KnownListInfo",
    "KnownSnapshot",
    "import_known_list",
    "iter_known_hashes",
    "known_lists_stamp",
    "known_snapshot",
    "list_known_lists",
    "note_known_lists_changed",
]

# Rows per executemany batch: big enough to amortise round trips, small enough that a
# million-line import never holds more than this many entries in memory at once.
IMPORT_CHUNK_ROWS = 10_000
# Bytes psycopg2 asks the COPY reader for at a time (its default, 8 KiB, means thousands
# of calls per chunk).
COPY_READ_BYTES = 1 << 20
# PostgreSQL work_mem for the import's transaction (sorting 1M staged rows needs ~80MB).
IMPORT_SORT_MEMORY = "128MB"
# Rows fetched per round trip when streaming known hashes to the matcher.
STREAM_ROWS = 10_000
# Rows per column batch handed to the matcher builder (see known_snapshot).
COLUMN_BATCH_ROWS = 20_000
MAX_HASH_TYPE_LENGTH = KnownHash.__table__.c.hash_type.type.length  # type: ignore[attr-defined]
MAX_VALUE_LENGTH = KnownHash.__table__.c.value.type.length  # type: ignore[attr-defined]
MAX_NAME_LENGTH = KnownList.__table__.c.name.type.length  # type: ignore[attr-defined]

ImportMethod = Literal["auto", "copy", "executemany"]

# The import first loads entries into this temporary table (no indexes: fast to fill), then
# moves them into known_hashes with one INSERT ... SELECT ... ON CONFLICT DO NOTHING, which
# tells how many were new; the first entry of a repeated hash wins.
_STAGE = Table(
    "trawl_import_stage",
    MetaData(),
    Column("seq", BigInteger, nullable=False),
    Column("hash_type", String(16), nullable=False),
    Column("value", String(128), nullable=False),
    Column("label", Text),
    Column("source", Text),
    Column("category", Text),
    Column("extra", Text),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_STAGE_COLUMNS = ("seq", "hash_type", "value", "label", "source", "category", "extra")
# Sorted so index inserts are sequential; COLLATE "C" lets PostgreSQL sort by bytes
# (hex and type names sort the same either way) instead of calling strcoll per comparison.
_MOVE = """
    INSERT INTO known_hashes (list_id, hash_type, value, label, source, category, extra)
    SELECT :list_id, hash_type, value, label, source, category, extra
    FROM trawl_import_stage WHERE true ORDER BY {order}
    ON CONFLICT (list_id, hash_type, value) DO NOTHING
"""
_MOVE_ORDER = {
    "postgresql": 'hash_type COLLATE "C", value COLLATE "C", seq',
    "sqlite": "hash_type, value, seq",
}
# SQLite numbers staged rows itself (seq is the rowid): one column less to bind per row.
_SQLITE_STAGE = (
    "CREATE TEMPORARY TABLE trawl_import_stage (seq INTEGER PRIMARY KEY, hash_type TEXT "
    "NOT NULL, value TEXT NOT NULL, label TEXT, source TEXT, category TEXT, extra TEXT)"
)


class ImportEntry(Protocol):
    """What an import reads of each entry: KnownHashIn, or matchers' KnownEntry as parsed."""

    @property
    def hash_type(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def extra(self) -> Mapping[str, str] | None: ...


ImportProgress = Callable[[int], None]  # entries staged so far


def import_known_list(
    store: Store,
    *,
    name: str,
    fmt: str,
    source_file: str | None,
    entries: Iterable[ImportEntry],
    actor: str,
    duplicates: int = 0,
    method: ImportMethod = "auto",
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Import `entries` into the list called `name` (created if new) in ONE transaction:
    if anything fails, including the `entries` iterator raising half-way, nothing is kept,
    not even the list row. Entries already in the list count as already_present; entries
    repeated within this import count as duplicates (added to the parser's `duplicates`).
    An audit event records the actor and the counts.

    `entries` is consumed once, in chunks, so a list of any length costs the same memory:
    pass a `matchers.lists.KnownListStream` straight in, and a bad line anywhere (its
    ListFormatError propagates) leaves nothing stored. Repeats are counted by the database
    (the entries go to a temporary stage table first), never in a Python set. `progress`
    is called with the number of entries staged after each chunk. `method` is for
    benchmarks: on PostgreSQL "auto" loads with COPY, "executemany" with batched INSERTs;
    SQLite always uses executemany.
    """
    name = name.strip()
    if not name:
        raise ValueError("A known list needs a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"List name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters.")
    if not actor or not actor.strip():
        raise ValueError("Importing a list needs an actor (who did it): pass --as NAME.")
    now = utcnow()
    with store.session() as session:
        conn = session.connection()
        existing = session.execute(
            select(KnownList.id, KnownList.entry_count).where(KnownList.name == name)
        ).first()
        if existing is None:
            list_id = int(session.execute(
                insert(KnownList).values(
                    name=name, format=fmt, source_file=source_file, imported_at=now,
                    imported_by=actor, entry_count=0, duplicate_count=0,
                ).returning(KnownList.id)
            ).scalar_one())
            before = 0
        else:
            list_id, before = int(existing[0]), int(existing[1])
        if store.dialect == "postgresql":
            # The move sorts the staged rows: in memory, not in temp files.
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{IMPORT_SORT_MEMORY}'")
        conn.exec_driver_sql("DROP TABLE IF EXISTS trawl_import_stage")
        if store.dialect == "sqlite":
            conn.exec_driver_sql(_SQLITE_STAGE)
        else:
            _STAGE.create(conn)
        total = _stage(store, conn, entries, method, progress)
        move = _MOVE.format(order=_MOVE_ORDER[store.dialect])
        added = int(conn.execute(text(move), {"list_id": list_id}).rowcount)
        if before:
            distinct = int(conn.execute(text(
                "SELECT COUNT(*) FROM (SELECT DISTINCT hash_type, value FROM trawl_import_stage)"
                " AS d")).scalar_one())
        else:
            distinct = added
        repeated = total - distinct
        already_present = distinct - added
        conn.exec_driver_sql("DROP TABLE trawl_import_stage")
        session.execute(
            update(KnownList).where(KnownList.id == list_id).values(
                format=fmt, source_file=source_file, imported_at=now, imported_by=actor,
                entry_count=before + added,
                duplicate_count=KnownList.duplicate_count + duplicates + repeated,
            )
        )
        if added:
            note_known_lists_changed(session)
        result = ImportResult(
            list_id=list_id, name=name, added=added, duplicates=duplicates + repeated,
            already_present=already_present,
        )
        append_audit(
            session, actor=actor, action="import", entity="list", entity_id=list_id,
            detail={"name": name, "format": fmt, "source_file": source_file, "added": added,
                    "duplicates": result.duplicates, "already_present": already_present},
        )
    return result


def list_known_lists(store: Store) -> list[KnownListInfo]:
    """Every list with its entry counts per hash type."""
    with store.read_session() as session:
        by_type: dict[int, dict[str, int]] = {}
        counts = session.execute(
            select(KnownHash.list_id, KnownHash.hash_type, func.count())
            .group_by(KnownHash.list_id, KnownHash.hash_type)
            .order_by(KnownHash.list_id, KnownHash.hash_type)
        )
        for list_id, hash_type, count in counts:
            by_type.setdefault(list_id, {})[hash_type] = int(count)
        return [
            KnownListInfo(
                id=k.id, name=k.name, format=k.format, source_file=k.source_file,
                imported_at=k.imported_at, imported_by=k.imported_by,
                entry_count=k.entry_count, duplicate_count=k.duplicate_count,
                by_type=by_type.get(k.id, {}),
            )
            for k in session.scalars(select(KnownList).order_by(KnownList.id))
        ]


def iter_known_hashes(
    store: Store, hash_types: Sequence[str] | None = None
) -> Iterator[KnownHashRow]:
    """Stream every known hash (of `hash_types`, if given) with its list's name, by id.

    Rows arrive in batches from a server-side cursor, so memory stays flat however long
    the lists are. Exhaust or close() the iterator: it holds a connection until then.
    """
    query = (
        select(KnownHash.id, KnownList.name, KnownHash.hash_type, KnownHash.value,
               KnownHash.label, KnownHash.category)
        .join(KnownList, KnownList.id == KnownHash.list_id)
        .order_by(KnownHash.id)
    )
    if hash_types is not None:
        query = query.where(KnownHash.hash_type.in_(list(hash_types)))
    with store.connect_for_reading() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
        for row in result:
            yield KnownHashRow(*row)


def note_known_lists_changed(session: Session) -> None:
    """Bump the known-lists version in the caller's transaction.

    Every change to the set of known hashes (an import that added rows, a list removed)
    must call this, so a matcher saved from the old set is known to be stale.
    """
    bumped = session.execute(
        update(KnownListsVersion).where(KnownListsVersion.id == 1).values(
            version=KnownListsVersion.version + 1, changed_at=utcnow())
    )
    if not bumped.rowcount:  # type: ignore[attr-defined]  # a schema made without 0005's row
        session.execute(insert(KnownListsVersion).values(
            id=1, instance=uuid.uuid4().hex, version=1, changed_at=utcnow()))


def known_lists_stamp(store: Store) -> str:
    """The known lists' version as "<database instance>:<version>" (see KnownListsVersion)."""
    with store.read_session() as session:
        return _stamp(session.connection())


@dataclass(frozen=True)
class KnownColumns:
    """One batch of known hashes as columns: what a matcher is built from, no row objects."""

    ids: npt.NDArray[np.int64]
    list_ids: npt.NDArray[np.int64]
    hash_types: Sequence[str]
    values: Sequence[str]
    labels: Sequence[str | None]
    categories: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class KnownSnapshot:
    """Every known hash as of one version: the stamp, counts, list names and the rows."""

    stamp: str
    count: int
    list_names: dict[int, str]
    batches: Iterator[KnownColumns]


@contextmanager
def known_snapshot(store: Store, *, batch_rows: int = COLUMN_BATCH_ROWS) -> Iterator[KnownSnapshot]:
    """Read the stamp, the list names and every known hash in ONE read transaction.

    So the rows are exactly those of the stamp's version (PostgreSQL: REPEATABLE READ;
    SQLite: one deferred transaction in WAL mode). Rows come through the driver's own
    cursor in batches of `batch_rows` (a server-side cursor on PostgreSQL): no ORM row
    objects, and memory bounded by one batch. Consume `batches` inside the block.
    """
    conn = store.connect_for_reading()
    if store.dialect == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        with conn.begin():
            stamp = _stamp(conn)
            count = int(conn.execute(select(func.count()).select_from(KnownHash)).scalar_one())
            names = {int(i): str(n) for i, n in conn.execute(select(KnownList.id, KnownList.name))}
            yield KnownSnapshot(stamp, count, names, _column_batches(store, conn, batch_rows))
    finally:
        conn.close()


def _stamp(conn: Connection) -> str:
    row = conn.execute(
        select(KnownListsVersion.instance, KnownListsVersion.version)
        .where(KnownListsVersion.id == 1)
    ).first()
    return "unversioned:0" if row is None else f"{row[0]}:{row[1]}"


def _column_batches(store: Store, conn: Connection, batch_rows: int) -> Iterator[KnownColumns]:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    sql = "SELECT id, list_id, hash_type, value, label, category FROM known_hashes"
    cursor: Any
    if store.dialect == "postgresql":
        cursor = dbapi.cursor(name="trawl_known_columns")  # type: ignore[call-arg]  # psycopg2
        cursor.itersize = batch_rows  # server-side: rows stream in batches
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch_rows):
            ids, list_ids, hash_types, values, labels, categories = zip(*rows, strict=True)
            yield KnownColumns(
                ids=np.array(ids, dtype=np.int64), list_ids=np.array(list_ids, dtype=np.int64),
                hash_types=hash_types, values=values, labels=labels, categories=categories,
            )
            del rows, ids, list_ids, hash_types, values, labels, categories
    finally:
        cursor.close()


# --- internals ----------------------------------------------------------------------


def _stage_rows(chunk: Sequence[ImportEntry], first: int) -> _Chunk:
    """Stage rows (hash_type, value, label, source, category, extra) of one chunk, checked.

    One comprehension per chunk and checks over the chunk's distinct types and value
    lengths: per-row Python work is what bounds an import's speed.
    """
    rows: list[tuple[Any, ...]] = [
        ((e.hash_type or "").strip().lower(), (e.value or "").strip().lower(), e.label,
         e.source, e.category, _extra_json(e.extra) if e.extra else None)
        for e in chunk
    ]
    for hash_type in {row[0] for row in rows}:
        if not hash_type or len(hash_type) > MAX_HASH_TYPE_LENGTH:
            at = next(i for i, row in enumerate(rows) if row[0] == hash_type)
            raise ValueError(
                f"Entry {first + at} has hash type {chunk[at].hash_type!r}: it must be a "
                f"known type name of at most {MAX_HASH_TYPE_LENGTH} characters."
            )
    lengths = [len(row[1]) for row in rows]
    if min(lengths) < 1 or max(lengths) > MAX_VALUE_LENGTH:
        at = next(i for i, n in enumerate(lengths) if not 1 <= n <= MAX_VALUE_LENGTH)
        raise ValueError(
            f"Entry {first + at} ({rows[at][0]}) has value {chunk[at].value[:40]!r}: it must "
            f"be 1 to {MAX_VALUE_LENGTH} hex characters."
        )
    # Every field in one string, built in C (None shows as "None": harmless here).
    joined = "\x1f".join(map(str, chain.from_iterable(rows)))
    if "\x00" in joined:  # PostgreSQL text cannot hold NUL; a label never needs one
        rows = [row[:2] + tuple(_no_nul(t) for t in row[2:]) for row in rows]
    return _Chunk(first, rows, any(c in joined for c in _COPY_SPECIAL))


@dataclass(frozen=True, slots=True)
class _Chunk:
    first: int  # number of the chunk's first entry in the import (1-based)
    rows: list[tuple[Any, ...]]
    needs_escape: bool  # a field holds a character COPY's text format escapes


@lru_cache(maxsize=4096)
def _extra_json_cached(items: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(items), sort_keys=True)


def _extra_json(extra: Mapping[str, str]) -> str:
    """JSON of the extra columns; cached, as lists repeat them (PDQ quality: 101 values)."""
    try:
        return _extra_json_cached(tuple(extra.items()))
    except TypeError:  # an unhashable value: encode it directly
        return json.dumps(dict(extra), sort_keys=True)


def _no_nul(value: str | None) -> str | None:
    return value.replace("\x00", "") if value is not None and "\x00" in value else value


def _chunks(entries: Iterable[ImportEntry]) -> Iterator[_Chunk]:
    """Stage rows IMPORT_CHUNK_ROWS entries at a time."""
    source = iter(entries)
    first = 1
    while entries_chunk := list(islice(source, IMPORT_CHUNK_ROWS)):
        yield _stage_rows(entries_chunk, first)
        first += len(entries_chunk)


def _stage(store: Store, conn: Connection, entries: Iterable[ImportEntry],
           method: ImportMethod, progress: ImportProgress | None) -> int:
    if store.dialect == "postgresql" and method in ("auto", "copy"):
        return _copy_rows(conn, _chunks(entries), progress)
    total = 0
    if store.dialect == "sqlite":
        sql = ("INSERT INTO trawl_import_stage (hash_type, value, label, source, category, "
               "extra) VALUES (?, ?, ?, ?, ?, ?)")
        for chunk in _chunks(entries):
            conn.exec_driver_sql(sql, chunk.rows)
            total += len(chunk.rows)
            if progress is not None:
                progress(total)
        return total
    stmt = insert(_STAGE)
    for chunk in _chunks(entries):
        conn.execute(stmt, [dict(zip(_STAGE_COLUMNS, (seq, *row), strict=True))
                            for seq, row in enumerate(chunk.rows, chunk.first)])
        total += len(chunk.rows)
        if progress is not None:
            progress(total)
    return total


def _copy_rows(conn: Connection, chunks: Iterator[_Chunk],
               progress: ImportProgress | None) -> int:
    """COPY rows into the stage table through psycopg2, streaming chunk by chunk."""
    reader = _CopyReader(chunks, progress)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.copy_expert(
            f"COPY trawl_import_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN", reader,
            size=COPY_READ_BYTES,
        )
    except Exception:
        if reader.error is not None:  # psycopg2 wraps it in QueryCanceled: give the original
            raise reader.error from None
        raise
    finally:
        cursor.close()
    return reader.count


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = "\\\t\n\r"


class _CopyReader:
    """A file-like object giving COPY text-format lines for staged rows, a chunk at a time."""

    def __init__(self, chunks: Iterator[_Chunk], progress: ImportProgress | None) -> None:
        self.chunks = chunks
        self.progress = progress
        self.count = 0
        self.error: Exception | None = None
        self._buffer = ""

    def read(self, size: int = -1) -> str:
        want = size if size and size > 0 else COPY_READ_BYTES
        while len(self._buffer) < want:
            try:
                chunk = next(self.chunks, None)
            except Exception as exc:  # the caller's entries failed (e.g. a bad line)
                self.error = exc
                raise
            if chunk is None:
                break
            self._buffer += self._lines(chunk)
        data, self._buffer = self._buffer[:want], self._buffer[want:]
        return data

    def _lines(self, chunk: _Chunk) -> str:
        rows = chunk.rows
        if chunk.needs_escape:
            rows = [tuple(None if f is None else f.translate(_COPY_ESCAPES) for f in row)
                    for row in rows]
        text = "".join(
            f"{seq}\t{t}\t{v}\t{_NULL if lab is None else lab}\t{_NULL if src is None else src}"
            f"\t{_NULL if cat is None else cat}\t{_NULL if ext is None else ext}\n"
            for seq, (t, v, lab, src, cat, ext) in enumerate(rows, chunk.first)
        )
        self.count += len(rows)
        if self.progress is not None:
            self.progress(self.count)
        return text
