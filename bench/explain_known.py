"""EXPLAIN every query the code runs on known_hashes, with ix_known_type_value and without.

    python3 bench/explain_known.py postgresql+psycopg2://postgres@127.0.0.1:5432/DBNAME
    python3 bench/explain_known.py sqlite:////path/to/trawl.db

For a database at revision 0009 or earlier (the index still there) holding lists of a
realistic size. On PostgreSQL the index is dropped inside a transaction that is rolled
back; a SQLite file is copied and the index dropped in the copy. Both plan from the same
statistics (one ANALYZE first: PostgreSQL's samples rows at random, and a plan near a
threshold, such as a list's cascade, may flip between two ANALYZEs). Prints each query's plan
and whether it differs without the index. The queries are those of storage/hits.py and
storage/known.py (built from the same statements where they are module constants).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from storage import hits, known  # noqa: E402
from storage.models import HitMatch, KnownHash, KnownList  # noqa: E402

IDS = list(range(1000, 1005))
_ROWS = (select(KnownHash.id, KnownList.name, KnownHash.hash_type, KnownHash.value,
                KnownHash.label, KnownHash.category, KnownHash.variant)
         .join(KnownList, KnownList.id == KnownHash.list_id).order_by(KnownHash.id))
QUERIES: dict[str, object] = {
    "hits._list_of_known": select(KnownHash.id, KnownHash.list_id).where(KnownHash.id.in_(IDS)),
    "hits._matched_lists": select(HitMatch.hit_id, KnownHash.list_id)
    .join(KnownHash, KnownHash.id == HitMatch.known_hash_id)
    .where(HitMatch.hit_id.in_(IDS)).distinct(),
    "hits._MATCHES": hits._MATCHES.params(ids=IDS),
    "known.list_known_lists": select(KnownHash.list_id, KnownHash.hash_type, func.count())
    .group_by(KnownHash.list_id, KnownHash.hash_type)
    .order_by(KnownHash.list_id, KnownHash.hash_type),
    "known.iter_known_hashes": _ROWS,
    "known.iter_known_hashes(['pdq']) (tests only)": _ROWS.where(KnownHash.hash_type.in_(["pdq"])),
    "known.iter_known_hashes(['md5']) (tests only)": _ROWS.where(KnownHash.hash_type.in_(["md5"])),
    "known.known_snapshot count": select(func.count()).select_from(KnownHash),
    "known._column_batches": "SELECT id, list_id, hash_type, value, label, category, variant "
                             "FROM known_hashes",
    "known._MOVE (ON CONFLICT, into list 2)": "move",
    "removing a list (its cascade)": "DELETE FROM known_hashes WHERE list_id = 2",
    "removing a known hash (hit_matches' cascade)":
        "SELECT 1 FROM hit_matches WHERE known_hash_id = 5",
}
STAGE = {
    "postgresql": "CREATE TEMPORARY TABLE trawl_import_stage (seq bigint, hash_type "
                  "varchar(16), value varchar(128), label text, source text, category text, "
                  "extra text, variant varchar(32))",
    "sqlite": "CREATE TEMPORARY TABLE trawl_import_stage (seq INTEGER PRIMARY KEY, hash_type "
              "TEXT, value TEXT, label TEXT, source TEXT, category TEXT, extra TEXT, variant TEXT)",
}


def plans(engine: sa.Engine, drop: bool) -> dict[str, list[str]]:
    dialect = engine.dialect.name
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        trans = conn.begin()
        if drop:
            conn.exec_driver_sql("DROP INDEX ix_known_type_value")
        conn.exec_driver_sql("DROP TABLE IF EXISTS trawl_import_stage")
        conn.exec_driver_sql(STAGE[dialect])
        for name, query in QUERIES.items():
            if query == "move":
                sql = known._MOVE.format(order=known._MOVE_ORDER[dialect]).replace(
                    ":list_id", "2")
            elif isinstance(query, str):
                sql = query
            else:
                sql = str(query.compile(  # type: ignore[attr-defined]
                    dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
            if dialect == "postgresql":
                rows = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + sql).scalars().all()
            else:
                rows = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
            found[name] = [str(r) for r in rows]
        trans.rollback()
    return found


def main() -> None:
    url = sys.argv[1]
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # once, kept: both phases plan from the same statistics
        conn.exec_driver_sql("ANALYZE")
    with_index = plans(engine, drop=False)
    with tempfile.TemporaryDirectory() as tmp:
        if engine.dialect.name == "sqlite":
            copy = Path(tmp) / "copy.db"
            shutil.copyfile(str(engine.url.database), copy)
            engine = sa.create_engine(f"sqlite:///{copy}")
        without = plans(engine, drop=True)
    for name, plan in with_index.items():
        same = plan == without[name]
        print(f"== {name}: {'same plan' if same else 'DIFFERENT'} without the index")
        print("\n".join("    " + line for line in plan))
        if not same:
            print("  without:\n" + "\n".join("    " + line for line in without[name]))


if __name__ == "__main__":
    main()
