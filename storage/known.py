"""Known-hash lists: all-or-nothing bulk import, listing, and streaming for the matcher."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, text, update

from storage.audit import append_audit
from storage.db import utcnow
from storage.knownstage import (
    IMPORT_CHUNK_ROWS,
    ImportEntry,
    ImportMethod,
    ImportProgress,
    create_stage,
    stage_entries,
)
from storage.models import KnownHash, KnownList, KnownListsVersion
from storage.records import ImportResult, KnownHashIn, KnownHashRow, KnownListInfo

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = [
    "IMPORT_CHUNK_ROWS",
    "ImportEntry",
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

# PostgreSQL work_mem for the import's transaction (sorting 1M staged rows needs ~80MB).
IMPORT_SORT_MEMORY = "128MB"
# Rows fetched per round trip when streaming known hashes to the matcher.
STREAM_ROWS = 10_000
# Rows per column batch handed to the matcher builder (see known_snapshot).
COLUMN_BATCH_ROWS = 20_000
MAX_NAME_LENGTH = KnownList.__table__.c.name.type.length  # type: ignore[attr-defined]

# Sorted so index inserts are sequential; COLLATE "C" lets PostgreSQL sort by bytes
# (hex and type names sort the same either way) instead of calling strcoll per comparison.
# Value first: PostgreSQL's sort compares abbreviated keys (a column's first 8 bytes), which
# for hash_type first ("pdq" on every row of most lists) decided nothing (200k rows: 2.2 s
# sorting, 0.3-0.5 s value first); a list of several types still reaches each type's part
# of the indexes in order. The first entry of a repeated (type, value) still wins (seq).
_MOVE = """
    INSERT INTO known_hashes (list_id, hash_type, value, label, source, category, extra,
                              variant)
    SELECT :list_id, hash_type, value, label, source, category, extra, variant
    FROM trawl_import_stage WHERE true ORDER BY {order}
    ON CONFLICT (list_id, hash_type, value) DO NOTHING
"""
_MOVE_ORDER = {
    "postgresql": 'value COLLATE "C", hash_type COLLATE "C", seq',
    "sqlite": "value, hash_type, seq",
}
# Into a list this transaction created, PostgreSQL inserts plainly: no other transaction
# can hold or add rows of an uncommitted list, so nothing can conflict but the import's own
# repeats, which DISTINCT ON drops (keeping the first, as the sort puts the lowest seq
# first). ON CONFLICT's speculative insertion (a probe of uq_known_hash before each row,
# then a confirmation WAL record after it) cost 40% of the move: 1M rows, 6.8 -> 4.1 s of
# server CPU. Were a row to conflict anyway, the unique index refuses it and nothing is
# stored.
_MOVE_INTO_NEW_LIST = """
    INSERT INTO known_hashes (list_id, hash_type, value, label, source, category, extra,
                              variant)
    SELECT DISTINCT ON (value COLLATE "C", hash_type COLLATE "C")
           :list_id, hash_type, value, label, source, category, extra, variant
    FROM trawl_import_stage ORDER BY value COLLATE "C", hash_type COLLATE "C", seq
"""


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
        create_stage(store, conn)
        total = stage_entries(store, conn, entries, method, progress)
        move = _move_statement(store.dialect, new_list=existing is None)
        checked_once = store.dialect == "postgresql" and _check_list_once(conn, list_id)
        if checked_once:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        added = int(conn.execute(text(move), {"list_id": list_id}).rowcount)
        if checked_once:
            conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
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


def _move_statement(dialect: str, *, new_list: bool) -> str:
    """The INSERT ... SELECT that moves the staged rows into known_hashes."""
    if new_list and dialect == "postgresql":
        return _MOVE_INTO_NEW_LIST
    return _MOVE.format(order=_MOVE_ORDER[dialect])


# What PostgreSQL would check per moved row, and whether it is safe to check it once.
_INSERT_CHECKS = """
    SELECT current_setting('is_superuser') = 'on',
           (SELECT count(*) FROM pg_trigger
            WHERE tgrelid = 'known_hashes'::regclass AND NOT tgisinternal),
           (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
            WHERE c.conrelid = 'known_hashes'::regclass AND c.contype = 'f')
"""


def _check_list_once(conn: Connection, list_id: int) -> bool:
    """On PostgreSQL, check the moved rows' one foreign key once instead of per row.

    Every row the move inserts has list_id = `list_id`; its foreign-key trigger would
    lock that known_lists row FOR KEY SHARE once per row (a third of the move's time).
    Locking it once here does the same check for all of them: the row exists now and
    cannot be deleted, nor its id changed, until this transaction ends. The per-row
    triggers are then skipped for the move alone (session_replication_role = replica,
    reset right after it, and LOCAL to this transaction anyway), which needs a superuser
    and is done only while list_id is known_hashes' only foreign key and the table has no
    triggers of its own (anything else would be skipped too). Otherwise: False, and the
    move checks per row as before.
    """
    superuser, own_triggers, fk_columns = conn.exec_driver_sql(_INSERT_CHECKS).one()
    if not superuser or own_triggers or list(fk_columns or []) != ["list_id"]:
        return False
    locked = conn.execute(text("SELECT 1 FROM known_lists WHERE id = :id FOR KEY SHARE"),
                          {"id": list_id}).first()
    if locked is None:  # deleted by another transaction since it was read
        raise ValueError(f"List {list_id} was removed while it was being imported.")
    return True


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
               KnownHash.label, KnownHash.category, KnownHash.variant)
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
    variants: Sequence[str | None]

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
    import numpy as np  # only a matcher build reads columns: a crawl's start need not load it

    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    sql = "SELECT id, list_id, hash_type, value, label, category, variant FROM known_hashes"
    cursor: Any
    if store.dialect == "postgresql":
        cursor = dbapi.cursor(name="trawl_known_columns")  # type: ignore[call-arg]  # psycopg2
        cursor.itersize = batch_rows  # server-side: rows stream in batches
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch_rows):
            ids, list_ids, hash_types, values, labels, categories, variants = zip(
                *rows, strict=True)
            yield KnownColumns(
                ids=np.array(ids, dtype=np.int64), list_ids=np.array(list_ids, dtype=np.int64),
                hash_types=hash_types, values=values, labels=labels, categories=categories,
                variants=variants,
            )
            del rows, ids, list_ids, hash_types, values, labels, categories, variants
    finally:
        cursor.close()
