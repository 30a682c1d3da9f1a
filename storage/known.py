"""Known-hash lists: all-or-nothing bulk import, listing, and streaming for the matcher."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

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
from storage.models import KnownHash, KnownList
from storage.records import ImportResult, KnownHashIn, KnownHashRow, KnownListInfo

if TYPE_CHECKING:
    from storage.db import Store

__all__ = [
    "ImportResult",
    "KnownHashIn",
    "KnownHashRow",
    "KnownListInfo",
    "import_known_list",
    "iter_known_hashes",
    "list_known_lists",
]

# Rows per executemany batch: big enough to amortise round trips, small enough that a
# million-line import never holds more than this many entries in memory at once.
IMPORT_CHUNK_ROWS = 10_000
# PostgreSQL work_mem for the import's transaction (sorting 1M staged rows needs ~80MB).
IMPORT_SORT_MEMORY = "128MB"
# Rows fetched per round trip when streaming known hashes to the matcher.
STREAM_ROWS = 10_000
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
_MOVE = """
    INSERT INTO known_hashes (list_id, hash_type, value, label, source, category, extra)
    SELECT :list_id, hash_type, value, label, source, category, extra
    FROM trawl_import_stage WHERE true ORDER BY hash_type, value, seq
    ON CONFLICT (list_id, hash_type, value) DO NOTHING
"""


def import_known_list(
    store: Store,
    *,
    name: str,
    fmt: str,
    source_file: str | None,
    entries: Iterable[KnownHashIn],
    actor: str,
    duplicates: int = 0,
    method: ImportMethod = "auto",
) -> ImportResult:
    """Import `entries` into the list called `name` (created if new) in ONE transaction:
    if anything fails, including the `entries` iterator raising half-way, nothing is kept,
    not even the list row. Entries already in the list count as already_present; entries
    repeated within this import count as duplicates (added to the parser's `duplicates`).
    An audit event records the actor and the counts.

    `entries` is consumed once, in chunks, so a million-line list is never all in memory.
    `method` is for benchmarks: on PostgreSQL "auto" loads with COPY, "executemany" with
    batched INSERTs; SQLite always uses executemany.
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
        _STAGE.create(conn)
        total = _stage(store, conn, _validated(entries), method)
        added = int(conn.execute(text(_MOVE), {"list_id": list_id}).rowcount)
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


# --- internals ----------------------------------------------------------------------


def _validated(entries: Iterable[KnownHashIn]) -> Iterator[tuple[Any, ...]]:
    """Stage rows (seq, hash_type, value, label, source, category, extra), checked."""
    for seq, entry in enumerate(entries, start=1):
        hash_type = (entry.hash_type or "").strip().lower()
        value = (entry.value or "").strip().lower()
        if not hash_type or len(hash_type) > MAX_HASH_TYPE_LENGTH:
            raise ValueError(
                f"Entry {seq} has hash type {entry.hash_type!r}: it must be a known type "
                f"name of at most {MAX_HASH_TYPE_LENGTH} characters."
            )
        if not value or len(value) > MAX_VALUE_LENGTH:
            raise ValueError(
                f"Entry {seq} ({hash_type}) has value {entry.value[:40]!r}: it must be "
                f"1 to {MAX_VALUE_LENGTH} hex characters."
            )
        extra = json.dumps(entry.extra, sort_keys=True) if entry.extra else None
        yield (seq, hash_type, value, _clean(entry.label), _clean(entry.source),
               _clean(entry.category), _clean(extra))


def _clean(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; a label never needs one."""
    if value is None:
        return None
    return value.replace("\x00", "") if "\x00" in value else value


def _stage(store: Store, conn: Connection, rows: Iterator[tuple[Any, ...]],
           method: ImportMethod) -> int:
    if store.dialect == "postgresql" and method in ("auto", "copy"):
        return _copy_rows(conn, rows)
    total = 0
    if store.dialect == "sqlite":
        sql = f"INSERT INTO trawl_import_stage VALUES ({', '.join('?' * len(_STAGE_COLUMNS))})"
        while chunk := list(islice(rows, IMPORT_CHUNK_ROWS)):
            conn.exec_driver_sql(sql, chunk)
            total += len(chunk)
        return total
    stmt = insert(_STAGE)
    while chunk := list(islice(rows, IMPORT_CHUNK_ROWS)):
        conn.execute(stmt, [dict(zip(_STAGE_COLUMNS, row, strict=True)) for row in chunk])
        total += len(chunk)
    return total


def _copy_rows(conn: Connection, rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY rows into the stage table through psycopg2, streaming from the iterator."""
    reader = _CopyReader(rows)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.copy_expert(
            f"COPY trawl_import_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN", reader
        )
    except Exception:
        if reader.error is not None:  # psycopg2 wraps it in QueryCanceled: give the original
            raise reader.error from None
        raise
    finally:
        cursor.close()
    return reader.count


class _CopyReader:
    """A file-like object giving COPY text format lines for staged rows, on demand."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.count = 0
        self.error: Exception | None = None
        self._buffer = ""

    def read(self, size: int = -1) -> str:
        want = size if size and size > 0 else 1 << 20
        parts = [self._buffer]
        length = len(self._buffer)
        while length < want:
            try:
                row = next(self.rows, None)
            except Exception as exc:  # the caller's iterator failed (e.g. a bad line)
                self.error = exc
                raise
            if row is None:
                break
            line = "\t".join(_copy_field(v) for v in row) + "\n"
            parts.append(line)
            length += len(line)
            self.count += 1
        data = "".join(parts)
        self._buffer = data[want:]
        return data[:want]


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, int):
        return str(value)
    text_value = str(value)
    if any(c in text_value for c in "\\\t\n\r"):
        text_value = (text_value.replace("\\", "\\\\").replace("\t", "\\t")
                      .replace("\n", "\\n").replace("\r", "\\r"))
    return text_value
