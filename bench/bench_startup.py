"""Benchmark: what a crawl pays to get its matcher, with N known hashes in the database.

Contenders, each in a fresh Python process (as a crawl starts), alternated round by round:

  load     the saved matcher file is current: crawler.index_cache.load_or_build_matcher maps it
  rebuild  the lists changed (file removed first): build from the database in column
           batches, save, then map it; its peak RSS is compared with the file's size
  rows     the previous way, every crawl (crawler.rematch.build_matcher): a KnownRef per
           row into Matcher.build; only for sizes up to --rows-max (slow)
  crawl    (--crawl) a whole `trawl crawl` of a one-page loopback site, the matcher file
           current: "matcher s" is then the time from starting the process to the site's
           first request (the crawl's start, imports and all), "open_store s" the whole
           run, and the last column the crawl process's CPU seconds up to that first
           request (what the start takes on an idle core) and the whole run's CPU seconds;
           Trawl's own modules are byte-compiled first (compileall), as an installed
           package's are: with PYTHONDONTWRITEBYTECODE set and no __pycache__, every start
           would otherwise compile ~100 of them again

Each figure is the wall time of getting the matcher once the store is open (open_store,
which checks the schema's migration, is shown apart; imports are excluded), then the first
lookup of an image's digests (page faults of the mapped file). Peak RSS growth is VmHWM
minus the RSS before getting the matcher; for `rebuild` it is compared with the file's
size (the target: building peaks at <= 1.2x the finished index). The database is filled directly (sorted COPY / executemany into
known_hashes, one list), not through `trawl hashes import`, which bench_import_store.py
measures. Known hashes are a mix of md5/sha1/sha256/pHash/PDQ (--mix all) or PDQ only
(--mix pdq), each with a unique label (like pdq-photo-hasher's file names).

    python3 bench/bench_startup.py                       # 1M and 10M, SQLite
    python3 bench/bench_startup.py --quick               # 100k, to check the script
    python3 bench/bench_startup.py --db postgresql --sizes 1000000 --mix pdq
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("TRAWL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MIXES = {
    "all": (("md5", 16), ("sha1", 20), ("sha256", 32), ("phash", 8), ("pdq", 32)),
    "pdq": (("pdq", 32),),
}
FILL_BATCH = 200_000


def rss_mib(field: str = "VmHWM") -> float:
    """VmHWM (peak) or VmRSS (now) of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def fill(url: str, db: str, n: int, mix: str, seed: int) -> None:
    """One list of n known hashes, inserted in (type, value) order for sequential indexes."""
    from storage.db import open_store

    store = open_store(url)
    with store.session() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "INSERT INTO known_lists (id, name, format, imported_at, entry_count, "
            f"duplicate_count) VALUES (1, 'bench', 'csv', CURRENT_TIMESTAMP, {n}, 0)"
        )
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        rng = np.random.default_rng(seed)
        types = MIXES[mix]
        done = 0
        for number, (hash_type, width) in enumerate(sorted(types)):
            count = n // len(types) + (number < n % len(types))
            codes = rng.integers(0, 256, (count, width), dtype=np.uint8)
            codes = codes[np.argsort(codes[:, :8].copy().view(">u8").ravel(), kind="stable")]
            for start in range(0, count, FILL_BATCH):
                part = codes[start : start + FILL_BATCH]
                text = part.tobytes().hex()
                step = 2 * width
                rows = [
                    (hash_type, text[i * step : (i + 1) * step], f"img-{done + i}.jpg")
                    for i in range(len(part))
                ]
                if db == "sqlite":
                    cursor.executemany(
                        "INSERT INTO known_hashes (list_id, hash_type, value, label, category)"
                        " VALUES (1, ?, ?, ?, 'A1')", rows)
                else:
                    import io

                    data = "".join(f"1\t{t}\t{v}\t{lab}\tA1\n" for t, v, lab in rows)
                    cursor.copy_expert(
                        "COPY known_hashes (list_id, hash_type, value, label, category) "
                        "FROM STDIN", io.StringIO(data))
                done += len(part)
        cursor.close()
    store.close()


def child(url: str, cache: str, contender: str) -> dict[str, object]:
    """One start-up, timed in a fresh process; prints a JSON line."""
    from crawler.index_cache import INDEX_FILE, load_or_build_matcher
    from matchers.decision import KnownRef, Matcher
    from matchers.digests import Digests
    from storage.db import Store, open_store
    from storage.known import iter_known_hashes

    def build_matcher(store: Store) -> Matcher:
        """What every crawl did before (crawler.rematch.build_matcher): a KnownRef per row."""
        return Matcher.build(
            KnownRef(r.id, r.list_name, r.hash_type, r.value, r.label, r.category)
            for r in iter_known_hashes(store)
        )

    folder = Path(cache)
    if contender == "rebuild":
        (folder / INDEX_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    store = open_store(url)
    opened = time.perf_counter() - started
    before = rss_mib("VmRSS")
    started = time.perf_counter()
    matcher = build_matcher(store) if contender == "rows" else load_or_build_matcher(store, folder)
    ready = time.perf_counter() - started
    probe = Digests(md5="ab" * 16, sha1="cd" * 20, sha256="ef" * 32, size=1, width=640,
                    height=480, phash="8f" * 8, pdq="5a" * 32, pdq_quality=90, flatness=0.1)
    started = time.perf_counter()
    matcher.match(probe)
    first = time.perf_counter() - started
    store.close()
    size = (folder / INDEX_FILE).stat().st_size if (folder / INDEX_FILE).exists() else 0
    return {"contender": contender, "known": len(matcher), "seconds": ready,
            "open_s": opened, "first_match_ms": 1000 * first,
            "peak_rss_mib": rss_mib() - before, "file_mb": size / 1e6}


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compile_trawl() -> None:
    """Byte-compile Trawl's packages in place (what pip does on install), so a crawl's start
    is not timed compiling them whatever PYTHONDONTWRITEBYTECODE says."""
    import compileall

    for package in ("crawler", "matchers", "storage", "spiders"):
        compileall.compile_dir(ROOT / package, quiet=2)


def crawl_start(url: str, root: Path = ROOT) -> dict[str, object]:
    """`trawl crawl` of a one-page site on 127.0.0.1: seconds to its first request and to
    its end, the crawl process's CPU seconds up to its first request (what the start costs
    on an idle core), and the CPU seconds of the whole run (process and hash workers)."""
    import resource
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    first: list[tuple[float, float]] = []
    crawl_pid = [0]

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not first:
                first.append((time.perf_counter(), _cpu_s(crawl_pid[0])))
            body = b"<html><body>one page</body></html>"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "PYTHONPATH": str(root), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli.main", "--db", url, "crawl",
         f"http://127.0.0.1:{server.server_address[1]}/", "--depth", "0", "--no-progress",
         "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root, env=env,
    )
    crawl_pid[0] = proc.pid
    out, err = proc.communicate()
    ended = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server.shutdown()
    if proc.returncode != 0 or not first:
        raise SystemExit(f"the crawl failed: {err[-2000:]}")
    summary = json.loads(out)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"contender": "crawl", "known": int(summary["stats"].get("trawl/known_hashes", 0)),
            "seconds": first[0][0] - started, "open_s": ended - started,
            "first_match_ms": 0.0, "peak_rss_mib": 0.0, "file_mb": 0.0, "cpu_s": cpu,
            "start_cpu_s": first[0][1]}


def run_child(url: str, cache: Path, contender: str) -> dict[str, object]:
    if contender == "crawl":
        return crawl_start(url)
    out = subprocess.run(
        ["nice", "-n", "0", sys.executable, __file__, "--child", url, str(cache), contender],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bench_size(args: argparse.Namespace, n: int) -> None:
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory() as tmp:
        admin = None
        name = f"trawl_bench_{uuid.uuid4().hex[:10]}"
        if args.db == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg2://", 1)
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            started = time.perf_counter()
            fill(url, args.db, n, args.mix, args.seed)
            filled = time.perf_counter() - started
            cache = Path(tmp) / "index"
            contenders = ["rebuild", "load"] if not args.crawl_only else []
            if n <= args.rows_max and not args.crawl_only:
                contenders.append("rows")
            if args.crawl or args.crawl_only:
                contenders.append("crawl")
            results: dict[str, list[dict[str, object]]] = {c: [] for c in contenders}
            rounds = {"load": args.rounds, "rebuild": args.rebuild_rounds,
                      "rows": args.rebuild_rounds, "crawl": args.rounds}
            if not args.crawl_only:
                run_child(url, cache, "rebuild")  # the first build: not timed
            if "crawl" in contenders:  # builds the crawl's own matcher file: not timed
                compile_trawl()
                crawl_start(url)
            for round_no in range(max(rounds.values())):
                order = contenders if round_no % 2 == 0 else contenders[::-1]
                for contender in order:
                    if len(results[contender]) >= rounds[contender]:
                        continue
                    load_now = os.getloadavg()[0]
                    result = run_child(url, cache, contender)
                    result["load"] = load_now
                    results[contender].append(result)
            for contender, runs in results.items():
                seconds = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
                first = [float(r["first_match_ms"]) for r in runs]  # type: ignore[arg-type]
                peak = max(float(r["peak_rss_mib"]) for r in runs)  # type: ignore[arg-type]
                opened = [float(r["open_s"]) for r in runs]  # type: ignore[arg-type]
                size = max(float(r["file_mb"]) for r in runs)  # type: ignore[arg-type]
                loads = [float(r["load"]) for r in runs]  # type: ignore[arg-type]
                ratio = f"{peak * 2**20 / 1e6 / size:.2f}" if contender == "rebuild" and size else "-"
                if contender == "crawl":
                    cpu_s = [float(r["cpu_s"]) for r in runs]  # type: ignore[arg-type]
                    start = [float(r["start_cpu_s"]) for r in runs]  # type: ignore[arg-type]
                    ratio = (f"start CPU {min(start):.2f} / {float(np.median(start)):.2f} / "
                             f"{max(start):.2f} s; run CPU {float(np.median(cpu_s)):.2f} s")
                print(
                    f"| {args.db} | {args.mix} | {n:,} | {contender} | {min(seconds):.3f} / "
                    f"{float(np.median(seconds)):.3f} / {max(seconds):.3f} "
                    f"| {float(np.median(opened)):.2f} "
                    f"| {float(np.median(first)):.1f} | {peak:,.0f} | {size:,.0f} | {ratio} "
                    f"| {min(loads):.1f}-{max(loads):.1f} | {filled:.0f} |",
                    flush=True,
                )
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:5])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--mix", choices=sorted(MIXES), default="all")
    parser.add_argument("--rounds", type=int, default=5, help="timed loads per size")
    parser.add_argument("--rebuild-rounds", type=int, default=2,
                        help="timed rebuilds (and per-row builds) per size: minutes each at 10M")
    parser.add_argument("--rows-max", type=int, default=1_000_000,
                        help="largest size at which the per-row 'rows' contender runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="100k known hashes, 2 rounds")
    parser.add_argument("--crawl", action="store_true",
                        help="also time a whole `trawl crawl` start (see the contenders)")
    parser.add_argument("--crawl-only", action="store_true",
                        help="only the `trawl crawl` start (no load/rebuild/rows contenders)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.rounds, args.rebuild_rounds = "100000", 2, 1
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    print("\n| db | mix | known | contender | matcher s (min / median / max) | open_store s "
          "| first match ms | peak RSS growth MiB | file MB | growth / file | load | fill s |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(args, n)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
