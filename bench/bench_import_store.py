"""Benchmark: importing a large known-hash list into SQLite and PostgreSQL (time, peak memory).

Each case runs in its own subprocess (so peak RSS is that case's alone) against a fresh
database: a SQLite file in a temp dir, or a new PostgreSQL database dropped afterwards.
Entries are generated lazily (synthetic hex digests, a mix of md5/sha1/sha256/pdq/phash,
1% repeated), so memory measures the import, not the input.

    python3 bench/bench_import_store.py                       # 1M rows, SQLite + PostgreSQL
    python3 bench/bench_import_store.py --rows 100000 --db sqlite
    python3 bench/bench_import_store.py --db postgresql --method copy --method executemany
    python3 bench/bench_import_store.py --rows 0 --images 0 --file-lines 10000000
    python3 bench/bench_import_store.py --quick            # 100k rows and lines, both DBs

`--file-lines N` (default 1M; 0 skips it) times what `trawl hashes import FILE` does, end to
end: a generated N-line list file (pdq-hasher format: hash,quality,filename, 1% repeats)
imported by `stream` = open_known_list's KnownListStream straight into import_known_list
(constant memory), against `parsed` = parse_known_list first, then import (the CLI before
streaming; only up to --parsed-max lines), each in a fresh process and database,
alternated round by round (--rounds).

A further table times storage.media.CrawlWriter (the crawl's write path) with --images N
(default 20000; 0 skips it): N image records, two pages each, 1% with a hit, written with
the default batch_size and flush_interval, timed until close() has committed the last.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("TRAWL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TYPES = (("sha256", 64), ("md5", 32), ("sha1", 40), ("pdq", 64), ("phash", 16))
DUPLICATE_EVERY = 100  # every 100th entry repeats an earlier one


def entries(rows: int) -> Iterator[object]:
    from storage.known import KnownHashIn

    for i in range(rows):
        n = i - 50 if i % DUPLICATE_EVERY == 99 else i
        hash_type, width = TYPES[n % len(TYPES)]
        value = hashlib.sha256(n.to_bytes(8, "little")).hexdigest()[:width]
        yield KnownHashIn(hash_type, value, label=f"series-{n % 97}", category="A1")


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(db: str, url: str, rows: int, method: str) -> dict[str, object]:
    from storage.db import open_store
    from storage.known import import_known_list, iter_known_hashes

    started = time.perf_counter()
    generated = sum(1 for _ in entries(rows))
    gen_seconds = time.perf_counter() - started
    store = open_store(url)
    baseline = _kib("VmRSS")
    started = time.perf_counter()
    result = import_known_list(
        store, name="bench", fmt="csv", source_file="bench.csv", entries=entries(rows),
        actor="bench", method=method,  # type: ignore[arg-type]
    )
    import_seconds = time.perf_counter() - started
    peak_import = _kib("VmHWM")
    started = time.perf_counter()
    again = import_known_list(
        store, name="bench", fmt="csv", source_file="bench.csv", entries=entries(rows),
        actor="bench", method=method,  # type: ignore[arg-type]
    )
    reimport_seconds = time.perf_counter() - started
    started = time.perf_counter()
    streamed = sum(1 for _ in iter_known_hashes(store))
    stream_seconds = time.perf_counter() - started
    store.close()
    return {
        "db": db, "method": method, "rows": generated, "added": result.added,
        "duplicates": result.duplicates, "reimport_present": again.already_present,
        "generate_s": round(gen_seconds, 2), "import_s": round(import_seconds, 2),
        "rows_per_s": int(generated / import_seconds),
        "peak_rss_delta_mib": round((peak_import - baseline) / 1024, 1),
        "reimport_s": round(reimport_seconds, 2),
        "stream_s": round(stream_seconds, 2), "streamed": streamed,
    }


def write_list_file(path: Path, lines: int) -> None:
    """pdq-hasher output with 1% repeats: `hash,quality,filename` per line."""
    with path.open("w") as out:
        out.write("hash,quality,filename\n")
        for i in range(lines):
            n = i - 50 if i % DUPLICATE_EVERY == 99 else i
            value = hashlib.sha256(n.to_bytes(8, "little")).hexdigest()
            out.write(f"{value},{n % 101},photos/{n}.jpg\n")


def file_child(db: str, url: str, path: str, mode: str) -> dict[str, object]:
    from matchers.lists import open_known_list, parse_known_list
    from storage.db import open_store
    from storage.known import KnownHashIn, import_known_list

    store = open_store(url)
    baseline = _kib("VmRSS")
    server = _server_cpu(store, url)
    started = time.perf_counter()
    cpu = time.process_time()
    if mode == "stream":
        with open_known_list(Path(path)) as entries:
            result = import_known_list(store, name="bench", fmt=entries.format,
                                       source_file=path, entries=entries, actor="bench")
    else:
        parsed = parse_known_list(Path(path))
        result = import_known_list(
            store, name="bench", fmt=parsed.format, source_file=path, actor="bench",
            duplicates=parsed.duplicates,
            entries=(KnownHashIn(e.hash_type, e.value, e.label, e.source, e.category,
                                 dict(e.extra) or None) for e in parsed.entries),
        )
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    server = _server_cpu(store, url) - server
    peak = _kib("VmHWM")
    store.close()
    return {"db": db, "mode": mode, "added": result.added, "duplicates": result.duplicates,
            "seconds": seconds, "cpu_s": cpu, "server_cpu_s": server,
            "peak_rss_delta_mib": (peak - baseline) / 1024, "peak_rss_mib": peak / 1024}


def _server_cpu(store: object, url: str) -> float:
    """CPU seconds of the PostgreSQL backends serving this database (the server is local:
    read from /proc); 0 for SQLite, whose work is in the process's own CPU time."""
    if not url.startswith("postgresql"):
        return 0.0
    import sqlalchemy as sa

    with store.session() as session:  # type: ignore[attr-defined]
        pids = session.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def bench_file(args: argparse.Namespace) -> None:
    import numpy as np

    print(f"\n{args.file_lines:,}-line list file, `trawl hashes import` path\n")
    print("| db | mode | lines | added | duplicates | wall s (min / median / max) "
          "| lines/s (median) | process CPU s (min / median / max) | lines per process CPU s "
          "(median) | server CPU s (median) | lines per CPU s, both (median) "
          "| peak RSS MiB (delta) | load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    modes = ["stream"] + (["parsed"] if args.file_lines <= args.parsed_max else [])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.txt"
        write_list_file(path, args.file_lines)
        for db in args.db or ["sqlite", "postgresql"]:
            runs: dict[str, list[dict[str, object]]] = {m: [] for m in modes}
            loads = []
            for round_no in range(args.rounds):
                for mode in modes if round_no % 2 == 0 else modes[::-1]:
                    loads.append(os.getloadavg()[0])
                    runs[mode].append(run_case(db, 0, mode, mode="file", path=str(path)))
            for mode, results in runs.items():
                seconds = sorted(float(r["seconds"]) for r in results)  # type: ignore[arg-type]
                median = float(np.median(seconds))
                cpus = sorted(float(r["cpu_s"]) for r in results)  # type: ignore[arg-type]
                cpu = float(np.median(cpus))
                server = float(np.median([float(r["server_cpu_s"])  # type: ignore[arg-type]
                                          for r in results]))
                both = float(np.median([float(r["cpu_s"]) + float(r["server_cpu_s"])  # type: ignore[arg-type]
                                        for r in results]))
                last = results[-1]
                print(
                    f"| {db} | {mode} | {args.file_lines:,} | {last['added']:,} "
                    f"| {last['duplicates']:,} | {seconds[0]:.1f} / {median:.1f} / "
                    f"{seconds[-1]:.1f} | {args.file_lines / median:,.0f} "
                    f"| {cpus[0]:.1f} / {cpu:.1f} / {cpus[-1]:.1f} "
                    f"| {args.file_lines / cpu:,.0f} | {server:.1f} "
                    f"| {args.file_lines / both:,.0f} "
                    f"| {max(float(r['peak_rss_mib']) for r in results):,.0f} "  # type: ignore[arg-type]
                    f"({max(float(r['peak_rss_delta_mib']) for r in results):,.1f}) "  # type: ignore[arg-type]
                    f"| {min(loads):.1f}-{max(loads):.1f} |",
                    flush=True,
                )


def bench_rows(args: argparse.Namespace) -> None:
    """Storage alone: synthetic KnownHashIn entries (generated lazily) into each database."""
    print()
    cases: list[tuple[str, str]] = []
    for db in args.db or ["sqlite", "postgresql"]:
        methods = ["executemany"] if db == "sqlite" else (args.method or ["copy", "executemany"])
        cases += [(db, m) for m in methods]
    columns = ["db", "method", "rows", "added", "duplicates", "import_s", "rows_per_s",
               "peak_rss_delta_mib", "reimport_s", "reimport_present", "stream_s",
               "generate_s"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for db, method in cases:
        row = run_case(db, args.rows, method)
        print("| " + " | ".join(str(row[c]) for c in columns) + " |", flush=True)


def writer_child(db: str, url: str, images: int) -> dict[str, object]:
    from storage.crawls import start_crawl
    from storage.db import open_store
    from storage.known import KnownHashIn, import_known_list, iter_known_hashes
    from storage.media import CrawlWriter, HitIn, MediaRecord

    store = open_store(url)
    import_known_list(store, name="w", fmt="csv", source_file=None, actor="bench",
                      entries=[KnownHashIn("sha256", f"{i:064x}") for i in range(0, images, 100)])
    known = {row.value: row.id for row in iter_known_hashes(store)}
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    started = time.perf_counter()
    with CrawlWriter(store, crawl) as writer:  # default batch_size and flush_interval
        for i in range(images):
            sha = f"{i:064x}"
            hits = [HitIn(known[sha], "sha256", 0)] if sha in known else []
            record = MediaRecord(url=f"http://img.test/{i}.jpg", host="img.test", sha256=sha,
                                 md5=sha[:32], sha1=sha[:40], size=50_000, format="jpeg",
                                 width=640, height=480, frames=1, phash="8f" * 8,
                                 pdq="ab" * 32, pdq_quality=90, server_ip="127.0.0.1")
            pages = [f"http://site.test/{i // 10}", f"http://site.test/{i // 10 + 1}"]
            writer.add(record, pages, hits)
    total = time.perf_counter() - started
    store.close()
    return {"db": db, "images": images, "hits": writer.new_hits, "total_s": round(total, 2),
            "images_per_s": int(images / total)}


def run_case(
    db: str, rows: int, method: str, mode: str = "import", path: str = ""
) -> dict[str, object]:
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory() as tmp:
        admin = None
        name = f"trawl_bench_{uuid.uuid4().hex[:10]}"
        if db == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg2://", 1)
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            command = [sys.executable, __file__, f"--{mode}", db, url, str(rows), method]
            if mode == "file":
                command = [sys.executable, __file__, "--file", db, url, path, method]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
                admin.dispose()
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--import":
        db, url, rows, method = sys.argv[2:6]
        print(json.dumps(child(db, url, int(rows), method)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--file":
        db, url, path, mode = sys.argv[2:6]
        print(json.dumps(file_child(db, url, path, mode)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        db, url, images = sys.argv[2:5]
        print(json.dumps(writer_child(db, url, int(images))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--method", action="append", choices=("copy", "executemany"),
                        help="PostgreSQL load method(s); SQLite always uses executemany")
    parser.add_argument("--file-lines", type=int, default=1_000_000)
    parser.add_argument("--parsed-max", type=int, default=1_000_000,
                        help="largest file the parse-first contender runs on")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="100k rows and lines, 2,000 images, one round")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.file_lines, args.images, args.rounds = 100_000, 100_000, 2000, 1
    print(f"load average {os.getloadavg()[0]:.1f} at start\n")
    if args.file_lines:
        bench_file(args)
    if args.rows:
        bench_rows(args)
    if args.images:
        columns = ["db", "images", "hits", "total_s", "images_per_s"]
        print("\n| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for db in args.db or ["sqlite", "postgresql"]:
            row = run_case(db, args.images, "-", mode="writer")
            print("| " + " | ".join(str(row[c]) for c in columns) + " |", flush=True)


if __name__ == "__main__":
    main()
