"""Staging an import: entries checked a chunk at a time into a temporary table.

storage.known moves the staged rows into known_hashes in the same transaction. The per-row
Python here is what bounds an import's speed, so each chunk is one comprehension, its
checks run over the chunk's distinct types and value lengths, and PostgreSQL gets one COPY
text block per chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table, Text, insert

from storage.models import KnownHash

if TYPE_CHECKING:
    from storage.db import Store

# Rows per executemany batch: big enough to amortise round trips, small enough that a
# million-line import never holds more than this many entries in memory at once.
IMPORT_CHUNK_ROWS = 10_000
# Bytes psycopg2 asks the COPY reader for at a time (its default, 8 KiB, means thousands
# of calls per chunk).
COPY_READ_BYTES = 1 << 20
MAX_HASH_TYPE_LENGTH = KnownHash.__table__.c.hash_type.type.length  # type: ignore[attr-defined]
MAX_VALUE_LENGTH = KnownHash.__table__.c.value.type.length  # type: ignore[attr-defined]
MAX_VARIANT_LENGTH = KnownHash.__table__.c.variant.type.length  # type: ignore[attr-defined]

ImportMethod = Literal["auto", "copy", "executemany"]

# The import first loads entries into this temporary table (no indexes: fast to fill), then
# moves them into known_hashes with one INSERT ... SELECT ... ON CONFLICT DO NOTHING, which
# tells how many were new; the first entry of a repeated hash wins.
@lru_cache(maxsize=1)
def _stage_table() -> Table:
    """The stage table for PostgreSQL. Built on first use: its postgresql_on_commit
    option loads SQLAlchemy's PostgreSQL dialect, which a crawl (or an SQLite import)
    never needs (~7% of a crawl's start)."""
    return Table(
        "trawl_import_stage",
        MetaData(),
        Column("seq", BigInteger, nullable=False),
        Column("hash_type", String(16), nullable=False),
        Column("value", String(128), nullable=False),
        Column("label", Text),
        Column("source", Text),
        Column("category", Text),
        Column("extra", Text),
        Column("variant", String(32)),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


_STAGE_COLUMNS = ("seq", "hash_type", "value", "label", "source", "category", "extra",
                  "variant")
# SQLite numbers staged rows itself (seq is the rowid): one column less to bind per row.
_SQLITE_STAGE_COLUMNS = _STAGE_COLUMNS[1:]
_SQLITE_STAGE = (
    "CREATE TEMPORARY TABLE trawl_import_stage (seq INTEGER PRIMARY KEY, hash_type TEXT "
    "NOT NULL, value TEXT NOT NULL, label TEXT, source TEXT, category TEXT, extra TEXT, "
    "variant TEXT)"
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
    @property
    def variant(self) -> str | None: ...


ImportProgress = Callable[[int], None]  # entries staged so far


def create_stage(store: Store, conn: Connection) -> None:
    """A fresh, empty trawl_import_stage in the caller's transaction."""
    conn.exec_driver_sql("DROP TABLE IF EXISTS trawl_import_stage")
    if store.dialect == "sqlite":
        conn.exec_driver_sql(_SQLITE_STAGE)
    else:
        _stage_table().create(conn)


def _stage_rows(chunk: Sequence[ImportEntry], first: int) -> _Chunk:
    """Stage rows (hash_type, value, label, source, category, extra, variant) of one chunk,
    checked.

    One comprehension per chunk and checks over the chunk's distinct types and value
    lengths: per-row Python work is what bounds an import's speed.
    """
    rows: list[tuple[Any, ...]] = [
        ((e.hash_type or "").strip().lower(), (e.value or "").strip().lower(), e.label,
         e.source, e.category, _extra_json(e.extra) if e.extra else None, e.variant)
        for e in chunk
    ]
    too_long = [i for i, row in enumerate(rows) if row[6] and len(row[6]) > MAX_VARIANT_LENGTH]
    if too_long:
        raise ValueError(
            f"Entry {first + too_long[0]} has variant {chunk[too_long[0]].variant!r}: a "
            f"variant name has at most {MAX_VARIANT_LENGTH} characters."
        )
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
    rows: list[tuple[Any, ...]]  # one tuple per entry: every stage column but seq
    needs_escape: bool  # a field holds a character COPY's text format escapes
    # Or, from a column block: its rows as columns (_BLOCK_COLUMNS), rows left empty.
    block: tuple[Sequence[Any], ...] | None = None

    def __len__(self) -> int:
        return len(self.rows) if self.block is None else len(self.block[1])


class ColumnBlock(Protocol):
    """Consecutive entries of one hash type as columns (matchers' EntryBlock): no source,
    category or variant, values already normalised by the parser (checked here all the
    same, a block at a time)."""

    @property
    def hash_type(self) -> str: ...
    @property
    def values(self) -> Sequence[str]: ...
    @property
    def labels(self) -> Sequence[str | None]: ...
    @property
    def extras(self) -> Sequence[Mapping[str, str]] | None: ...


_BLOCK_COLUMNS = ("hash_type", "value", "label", "extra")
_LOWER_HEX = b"0123456789abcdef"


def _stage_block(block: ColumnBlock, first: int) -> _Chunk:
    """Stage rows of a column block: built and checked by C loops (zip, map, join), no
    Python code per entry."""
    count = len(block.values)
    hash_type = (block.hash_type or "").strip().lower()
    if not hash_type or len(hash_type) > MAX_HASH_TYPE_LENGTH:
        raise ValueError(
            f"Entry {first} has hash type {block.hash_type!r}: it must be a known type "
            f"name of at most {MAX_HASH_TYPE_LENGTH} characters."
        )
    values = block.values
    if count != len(block.labels) or (block.extras is not None and count != len(block.extras)):
        raise ValueError(f"Entries {first}-{first + count - 1}: columns of unequal length.")
    joined_values = "".join(values)
    if not joined_values.isascii() or joined_values.encode().translate(None, _LOWER_HEX):
        values = [(v or "").strip().lower() for v in values]  # as _stage_rows does
    lengths = list(map(len, values))
    if min(lengths) < 1 or max(lengths) > MAX_VALUE_LENGTH:
        at = next(i for i, n in enumerate(lengths) if not 1 <= n <= MAX_VALUE_LENGTH)
        raise ValueError(
            f"Entry {first + at} ({hash_type}) has value {values[at][:40]!r}: it must "
            f"be 1 to {MAX_VALUE_LENGTH} hex characters."
        )
    if block.extras is None:
        extras: Sequence[str | None] = [None] * count
    else:
        ids = list(map(id, block.extras))
        distinct = dict(zip(ids, block.extras, strict=True))
        as_json = {i: _extra_json(m) if m else None for i, m in distinct.items()}
        extras = list(map(as_json.__getitem__, ids))
    labels = block.labels
    joined = "\x1f".join(chain(filter(None, labels), filter(None, extras)))
    if "\x00" in joined:
        labels = list(map(_no_nul, labels))
    return _Chunk(first, [], any(c in joined for c in _COPY_SPECIAL),
                  ((hash_type,) * count, values, labels, extras))


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
    """Stage rows IMPORT_CHUNK_ROWS entries at a time, or a column block at a time where
    `entries` gives them (matchers' KnownListStream.entry_blocks: lists of entries and
    column blocks, in file order)."""
    entry_blocks = getattr(entries, "entry_blocks", None)
    blocks: Iterator[list[ImportEntry] | ColumnBlock] = (
        entry_blocks(IMPORT_CHUNK_ROWS) if callable(entry_blocks) else _lists(entries))
    first = 1
    for block in blocks:
        if isinstance(block, list):
            if block:
                yield _stage_rows(block, first)
            first += len(block)
        elif block.values:
            yield _stage_block(block, first)
            first += len(block.values)


def _lists(entries: Iterable[ImportEntry]) -> Iterator[list[ImportEntry]]:
    source = iter(entries)
    while chunk := list(islice(source, IMPORT_CHUNK_ROWS)):
        yield chunk


def stage_entries(store: Store, conn: Connection, entries: Iterable[ImportEntry],
                  method: ImportMethod, progress: ImportProgress | None) -> int:
    """Check and load `entries` into the stage table, a chunk at a time; return the count."""
    if store.dialect == "postgresql" and method in ("auto", "copy"):
        return _copy_rows(conn, _chunks(entries), progress)
    total = 0
    if store.dialect == "sqlite":
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()  # the driver's own: rows are bound straight from tuples
        try:
            for chunk in _chunks(entries):
                rows: Iterable[tuple[Any, ...]]
                if chunk.block is None:
                    columns, rows = _filled_columns(chunk.rows)
                else:
                    columns, rows = _BLOCK_COLUMNS, zip(*chunk.block, strict=True)
                cursor.executemany(
                    f"INSERT INTO trawl_import_stage ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    rows,  # type: ignore[arg-type]  # sqlite3 takes any iterable
                )
                total += len(chunk)
                if progress is not None:
                    progress(total)
        finally:
            cursor.close()
        return total
    stmt = insert(_stage_table())
    for chunk in _chunks(entries):
        columns = _SQLITE_STAGE_COLUMNS if chunk.block is None else _BLOCK_COLUMNS
        rows = chunk.rows if chunk.block is None else zip(*chunk.block, strict=True)
        conn.execute(stmt, [{"seq": seq, **dict(zip(columns, row, strict=True))}
                            for seq, row in enumerate(rows, chunk.first)])
        total += len(chunk)
        if progress is not None:
            progress(total)
    return total


def _filled_columns(
    rows: list[tuple[Any, ...]],
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The stage columns some row of the chunk fills, and the rows cut to them.

    SQLite binds a NULL about as slowly as a text (measured: 7 parameters 4.9 us a row, the
    same rows without their 3 empty columns 2.9 us), and most lists have no source,
    category or variant; columns left out are NULL all the same. Checked and cut in C
    (itemgetter, list.count): ~0.3 us a row.
    """
    empty = len(rows)
    keep = [0, 1] + [i for i in range(2, len(_SQLITE_STAGE_COLUMNS))
                     if list(map(itemgetter(i), rows)).count(None) != empty]
    if len(keep) == len(_SQLITE_STAGE_COLUMNS):
        return _SQLITE_STAGE_COLUMNS, rows
    return tuple(_SQLITE_STAGE_COLUMNS[i] for i in keep), list(map(itemgetter(*keep), rows))


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
        if chunk.block is not None:
            return self._block_lines(chunk)
        rows = chunk.rows
        if chunk.needs_escape:
            rows = [tuple(None if f is None else f.translate(_COPY_ESCAPES) for f in row)
                    for row in rows]
        text = "".join(
            f"{seq}\t{t}\t{v}\t{_NULL if lab is None else lab}\t{_NULL if src is None else src}"
            f"\t{_NULL if cat is None else cat}\t{_NULL if ext is None else ext}"
            f"\t{_NULL if var is None else var}\n"
            for seq, (t, v, lab, src, cat, ext, var) in enumerate(rows, chunk.first)
        )
        self.count += len(rows)
        if self.progress is not None:
            self.progress(self.count)
        return text

    def _block_lines(self, chunk: _Chunk) -> str:
        """COPY text of a column block's rows, made by C loops (zip, map, join)."""
        assert chunk.block is not None
        hash_types, values, labels, extras = chunk.block
        count = len(values)
        columns: list[Sequence[str | None]] = [labels, extras]
        for i, column in enumerate(columns):
            if chunk.needs_escape:
                column = [None if f is None else f.translate(_COPY_ESCAPES) for f in column]
            if None in column:
                column = [_NULL if f is None else f for f in column]
            columns[i] = column
        text = "\n".join(map("\t".join, zip(
            map(str, range(chunk.first, chunk.first + count)), hash_types, values,
            columns[0], repeat(_NULL, count), repeat(_NULL, count), columns[1],
            repeat(_NULL, count), strict=True)))
        self.count += count
        if self.progress is not None:
            self.progress(self.count)
        return text + "\n"
