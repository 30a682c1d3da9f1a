"""Server CPU of each phase of a PostgreSQL list import, variants of the move alternated.

    python3 bench/import_phases.py --lines 1000000 --variants base,plain,noix-plain --rounds 2

Each run: a fresh database at the head, a new list, then the import's steps as
storage.known does them (stage with COPY, check the list once, move, drop the stage,
commit), with the backend's CPU (user + system, from /proc: the server is local) read
around each. Variants (combine with '-'): `noix` drops ix_known_type_value first (for trees
that still have it), `plain` moves with storage.known._MOVE_INTO_NEW_LIST instead of
ON CONFLICT, `tb` sets temp_buffers = 256MB, `seq` gives the id sequence CACHE 1024; `base`
is the ON CONFLICT move as is. Prints one line per run and min / median / max per phase.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.bench_import_store import write_list_file  # noqa: E402

ADMIN = os.environ.get("TRAWL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(variant: str, path: Path) -> dict[str, float]:
    from matchers.lists import open_known_list
    from storage import known
    from storage.db import open_store
    from storage.knownstage import create_stage, stage_entries

    name = f"trawl_phases_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        store = open_store(ADMIN.rsplit("/", 1)[0] + "/" + name)
        with store.engine.begin() as conn:
            if "seq" in variant:
                conn.exec_driver_sql("ALTER SEQUENCE known_hashes_id_seq CACHE 1024")
            if "noix" in variant:
                conn.exec_driver_sql("DROP INDEX IF EXISTS ix_known_type_value")
        spent: dict[str, float] = {}
        with store.session() as session:
            conn = session.connection()
            pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            list_id = int(conn.exec_driver_sql(
                "INSERT INTO known_lists (name, format, imported_at, entry_count, "
                "duplicate_count) VALUES ('b', 'pdq-hasher', now(), 0, 0) RETURNING id"
            ).scalar_one())
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{known.IMPORT_SORT_MEMORY}'")
            if "tb" in variant:
                conn.exec_driver_sql("SET LOCAL temp_buffers = '256MB'")
            before, client = backend_cpu(pid), time.process_time()
            create_stage(store, conn)
            with open_known_list(path) as entries:
                stage_entries(store, conn, entries, "auto", None)
            spent["client"] = time.process_time() - client
            spent["stage"] = (now := backend_cpu(pid)) - before
            assert known._check_list_once(conn, list_id)
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            move = (known._MOVE_INTO_NEW_LIST if "plain" in variant
                    else known._MOVE.format(order=known._MOVE_ORDER["postgresql"]))
            spent["added"] = conn.execute(sa.text(move), {"list_id": list_id}).rowcount
            conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
            spent["move"] = (later := backend_cpu(pid)) - now
            conn.exec_driver_sql("DROP TABLE trawl_import_stage")
        spent["commit"] = backend_cpu(pid) - later
        store.close()
        return spent
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 f"WHERE datname = '{name}'")
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--variants", default="base,plain")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    variants = args.variants.split(",")
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.txt"
        write_list_file(path, args.lines)
        for round_no in range(args.rounds):
            for variant in variants if round_no % 2 == 0 else variants[::-1]:
                load = os.getloadavg()[0]
                spent = run(variant, path)
                results[variant].append(spent)
                shown = ", ".join(f"{k} {v:,.2f}" for k, v in spent.items())
                print(f"round {round_no} {variant}: {shown} (load {load:.1f})", flush=True)
    for variant, runs in results.items():
        for phase in ("client", "stage", "move", "commit"):
            values = sorted(r[phase] for r in runs)
            print(f"{variant} {phase} s: {values[0]:.2f} / {values[len(values) // 2]:.2f} / "
                  f"{values[-1]:.2f}")


if __name__ == "__main__":
    main()
