"""End-to-end crawl throughput: `trawl crawl` vs a bare Scrapy spider on the same generated site.

The site (~150 KB 1024x768 JPEGs, every image URL distinct bytes) is served by a separate
process, started once per size. Per size and round, the bare spider (bench/bare_spider.py:
same links, same concurrency: CONCURRENT_REQUESTS 32, 8 per host, and trawl's
CONCURRENT_ITEMS; no hashing, no database) and `trawl crawl` (a fresh copy of a
database holding a 40,003-hash list and its built matcher file) run as subprocesses, one
after the other, their order alternating round by round. Reported per contender:

  img/s       images / Scrapy's elapsed_time_seconds (min / median / max over rounds)
  CPU ms/img  CPU time (user + system) of the whole process tree (crawl + hash workers),
              exact (getrusage of reaped children; this script is their subreaper),
              over images; for trawl split into the crawl process and its hash workers
              (sampled from /proc every 0.1 s); less sensitive to a shared machine than img/s
  server      CPU ms/img the site's server spent serving that run
  peak RSS    of the process tree, sampled every 0.1 s

A last line gives CPU ms/img of hash_image alone on the site's images (this process,
single-threaded BLAS), for the one-core target: trawl's CPU per image within 1.3x of bare
Scrapy's plus hashing's.

    python3 bench/bench_crawl.py                        # 400x5 and 2000x5, 3 rounds
    python3 bench/bench_crawl.py --sizes 4000x5 --rounds 1
    python3 bench/bench_crawl.py --sizes 400x5 --workers 2 --rounds 2
    python3 bench/bench_crawl.py --sizes 400x5 --contenders bare,polite,trawl
    python3 bench/bench_crawl.py --contenders base,trawl --base /tmp/trawl-old  # before/after

`polite` is the bare spider holding each host to its 8 requests in flight as Trawl does
(plain Scrapy 2.19 lets up to 32 go to one host: crawler/engine/downloader.py).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from crawler.engine import settings as trawl_engine_settings  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
# thread/inline pools hash in the crawl process: its BLAS must be single-threaded too (the
# process pool sets this for its workers itself; see crawler.engine.hashpool.WORKER_ENV).
SINGLE_THREADED_BLAS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TICK = os.sysconf("SC_CLK_TCK")
# Both spiders get trawl's CONCURRENT_ITEMS: Scrapy starts that many tasks per response.
TRAWL_CONCURRENT_ITEMS = trawl_engine_settings.CONCURRENT_ITEMS
PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Orphaned hash workers (a crawl that exits before reaping them) are reparented to us,
    so their CPU time is counted in RUSAGE_CHILDREN when we reap them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_orphans(keep: set[int]) -> None:
    """Wait for reparented workers (not the site servers in `keep`)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        orphans = [p for p in _children().get(os.getpid(), []) if p not in keep]
        if not orphans:
            return
        for pid in orphans:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.05)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _sample_tree(pid: int, cpu: dict[int, int],
                 per_process: dict[int, dict[str, int]] | None = None) -> int:
    """RSS (KiB) of pid's process tree now; records each process's CPU ticks so far, and in
    `per_process` each process's peak VmRSS / RssAnon / RssFile (KiB)."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        todo += tree.get(current, [])
        cpu[current] = max(cpu.get(current, 0), _cpu_ticks(current))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    kib = int(line.split()[1])
                    if key == "VmRSS":
                        total += kib
                    if per_process is not None:
                        peaks = per_process.setdefault(current, {})
                        peaks[key] = max(peaks.get(key, 0), kib)
        except OSError:
            pass
    return total


def run_measured(
    cmd: list[str], cwd: Path, env: dict[str, str], keep: set[int]
) -> dict[str, Any]:
    """Run a command; its stdout, wall s, exact CPU s of its tree, sampled CPU s of its
    main process, peak RSS MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    peak = 0
    cpu: dict[int, int] = {}
    per_process: dict[int, dict[str, int]] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _sample_tree(proc.pid, cpu, per_process))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.monotonic() - started
    _reap_orphans(keep)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # peak RSS MiB of the main process and of the rest (its workers), and the main
    # process's peak anonymous / file-backed RSS
    main = per_process.get(proc.pid, {})
    others = sum(v.get("VmRSS", 0) for p, v in per_process.items() if p != proc.pid)
    return {"out": out, "wall": wall, "cpu": total, "main_cpu": cpu.get(proc.pid, 0) / TICK,
            "rss": peak // 1024, "main_rss": main.get("VmRSS", 0) // 1024,
            "main_anon": main.get("RssAnon", 0) // 1024,
            "main_file": main.get("RssFile", 0) // 1024, "workers_rss": others // 1024}


def known_list(path: Path) -> None:
    """A realistic list: the PDQ of a few pool pictures (so some pages hit) + random hashes."""
    import random

    from crawler.sitegen.bench import pool_jpeg
    from matchers.hashing import hash_image

    rng = random.Random(7)
    rows = ["hash_type,hash,label,source,category"]
    for i in range(3):
        d = hash_image(pool_jpeg(i))
        rows.append(f"pdq,{d.pdq},bench-{i},bench,test")
    for i in range(20000):
        rows.append(f"md5,{rng.getrandbits(128):032x},random-{i},bench,test")
        rows.append(f"pdq,{rng.getrandbits(256):064x},random-{i},bench,test")
    path.write_text("\n".join(rows) + "\n")


def template_db(work: Path) -> Path:
    """A database holding the bench list and its built matcher file (copied per run)."""
    from crawler.index_cache import index_dir_for, rebuild_matcher
    from matchers.lists import parse_known_list
    from storage.db import open_store
    from storage.known import KnownHashIn, import_known_list

    db = work / "template.db"
    if db.exists():
        return db
    list_path = work / "known.csv"
    known_list(list_path)
    parsed = parse_known_list(list_path, fmt="csv")
    store = open_store(f"sqlite:///{db}")
    import_known_list(
        store, name="bench", fmt="csv", source_file=str(list_path), actor="bench",
        entries=[KnownHashIn(e.hash_type, e.value, e.label, e.source, e.category)
                 for e in parsed.entries],
    )
    index_dir = index_dir_for(store)
    assert index_dir is not None
    rebuild_matcher(store, index_dir)
    store.close()
    return db


def fresh_db(template: Path, work: Path, name: str) -> str:
    db = work / f"{name}.db"
    index = work / f"{name}.db.index"
    shutil.rmtree(index, ignore_errors=True)
    shutil.copyfile(template, db)
    shutil.copytree(template.with_name(template.name + ".index"), index)
    return f"sqlite:///{db}"


def run_bare(url: str, args: argparse.Namespace, work: Path, keep: set[int],
             polite: bool = False) -> dict[str, Any]:
    run = run_measured(
        [sys.executable, str(ROOT / "bench" / "bare_spider.py"), url, str(args.concurrency),
         str(args.items), *(["polite"] if polite else [])],
        work, ENV, keep,
    )
    bare = json.loads(run["out"].strip().splitlines()[-1])
    return {"images": bare["images"], "elapsed": bare["elapsed"], **run}


def run_trawl(url: str, args: argparse.Namespace, work: Path, keep: set[int],
              template: Path, n: int, root: Path = ROOT) -> dict[str, Any]:
    db_url = fresh_db(template, work, f"run-{n}")
    env = {**ENV, **SINGLE_THREADED_BLAS} if args.pool != "process" else ENV
    env = {**env, "PYTHONPATH": str(root)}
    run = run_measured(
        [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl", url,
         "--depth", "3", "--no-progress", "--format", "json",
         "-s", f"TRAWL_HASH_POOL={args.pool}", "-s", f"TRAWL_HASH_WORKERS={args.workers}",
         "-s", f"CONCURRENT_REQUESTS={args.concurrency}", *args.setting],
        work, env, keep,
    )
    trawl = json.loads(run["out"])
    if trawl["errors"]:
        print(f"# trawl run {n}: {trawl['errors']} errors", file=sys.stderr)
    return {"images": trawl["images"], "elapsed": trawl["stats"]["elapsed_time_seconds"],
            "hits": trawl["hits"], "hashed": trawl["hashed"], **run}


def hashing_cpu_ms(count: int = 60) -> float:
    """CPU ms per image of hash_image alone on the bench site's images (distinct bytes)."""
    from crawler.sitegen.bench import pool_jpeg
    from crawler.sitegen.images import with_jpeg_comment
    from matchers.hashing import hash_image, limit_blas_threads

    limit_blas_threads()
    images = [with_jpeg_comment(pool_jpeg(i), f"{i}-0".encode()) for i in range(count)]
    hash_image(images[0])
    started = time.process_time()
    for data in images:
        hash_image(data)
    return (time.process_time() - started) / count * 1000


def _spread(values: list[float], digits: int = 1) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values),
                                                   max(values)))


def bench_size(pages: int, per_page: int, args: argparse.Namespace, work: Path,
               template: Path) -> None:
    server: subprocess.Popen[str] | None = None
    if args.site:  # a site already serving (its CPU is not measured then)
        site = {"start_url": args.site, "images": pages * per_page}
    else:
        server = subprocess.Popen(
            [sys.executable, "-m", "crawler.sitegen", "bench", "--pages", str(pages),
             "--images-per-page", str(per_page), "--pool-size", str(args.pool_size)],
            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True,
        )
        assert server.stdout is not None
        site = json.loads(server.stdout.readline())
    keep = {server.pid} if server is not None else set()
    server_pid = server.pid if server is not None else 0
    results: dict[str, list[dict[str, Any]]] = {"bare": [], "polite": [], "base": [],
                                                "trawl": []}
    contenders = args.contenders.split(",")
    try:
        url = site["start_url"]
        for n in range(args.rounds):
            order = contenders if n % 2 == 0 else contenders[::-1]
            for name in order:
                served = _cpu_ticks(server_pid) if server_pid else 0
                load = os.getloadavg()[0]
                if name in ("bare", "polite"):
                    run = run_bare(url, args, work, keep, polite=name == "polite")
                elif name == "base":
                    run = run_trawl(url, args, work, keep, template, n, Path(args.base))
                else:
                    run = run_trawl(url, args, work, keep, template, n)
                run["server_cpu"] = (_cpu_ticks(server_pid) - served) / TICK if server_pid else 0
                run["load"] = load
                results[name].append(run)
                print(json.dumps({"size": f"{pages}x{per_page}", "round": n, "contender": name,
                                  "images": run["images"], "elapsed": round(run["elapsed"], 2),
                                  "img_s": round(run["images"] / run["elapsed"], 1),
                                  "cpu_ms_img": round(run["cpu"] / run["images"] * 1000, 2),
                                  "main_cpu_ms_img":
                                      round(run["main_cpu"] / run["images"] * 1000, 2),
                                  "server_ms_img":
                                      round(run["server_cpu"] / run["images"] * 1000, 2),
                                  "rss_mb": run["rss"], "main_rss_mb": run["main_rss"],
                                  "main_anon_mb": run["main_anon"],
                                  "main_file_mb": run["main_file"],
                                  "workers_rss_mb": run["workers_rss"],
                                  "hits": run.get("hits"),
                                  "wall": round(run["wall"], 1), "load": round(load, 2)}),
                      flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    results = {k: v for k, v in results.items() if v}
    rates = {k: [r["images"] / r["elapsed"] for r in v] for k, v in results.items()}
    ratios = [t / b for t, b in zip(rates.get("trawl", []), rates.get("bare", []), strict=False)]
    print(f"## {pages}x{per_page} ({site['images']} images), {args.rounds} rounds, "
          "min / median / max")
    for name, runs in results.items():
        cpu = [r["cpu"] / r["images"] * 1000 for r in runs]
        main = [r["main_cpu"] / r["images"] * 1000 for r in runs]
        workers = [(r["cpu"] - r["main_cpu"]) / r["images"] * 1000 for r in runs]
        server_ms = [r["server_cpu"] / r["images"] * 1000 for r in runs]
        line = (f"{name:6s} img/s {_spread(rates[name])} | CPU ms/img {_spread(cpu, 2)} "
                f"(crawl process {_spread(main, 2)}, workers {_spread(workers, 2)}) | "
                f"server ms/img {_spread(server_ms, 2)} | peak RSS MB "
                f"{_spread([float(r['rss']) for r in runs], 0)}")
        line += (f" | crawl process peak RSS MB {_spread([float(r['main_rss']) for r in runs], 0)}"
                 f" (anon {_spread([float(r['main_anon']) for r in runs], 0)}), workers "
                 f"{_spread([float(r['workers_rss']) for r in runs], 0)}")
        if name in ("trawl", "base"):
            line += f" | hits {sorted({r['hits'] for r in runs})}"
        print(line)
    if ratios:
        print(f"ratio (trawl/bare img/s, same round) {_spread(ratios, 2)}", flush=True)
    polite = [t / b for t, b in zip(rates.get("trawl", []), rates.get("polite", []),
                                    strict=False)]
    if polite:
        print(f"ratio (trawl/polite img/s, same round) {_spread(polite, 2)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="400x5,2000x5", help="PAGESxIMAGES_PER_PAGE,...")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", default="process", choices=["process", "thread", "inline"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--items", type=int, default=TRAWL_CONCURRENT_ITEMS,
                        help="the bare spider's CONCURRENT_ITEMS (default: trawl's own)")
    parser.add_argument("--contenders", default="bare,trawl",
                        help="of bare (plain Scrapy), polite (bare with Trawl's per-host "
                             "limit kept, PoliteDownloader), trawl and base (trawl from --base)")
    parser.add_argument("--base", help="another checkout of Trawl (e.g. `git archive REV | tar "
                                       "-x -C DIR`), run as contender `base`")
    parser.add_argument("--site", help="the start URL of a bench site already serving")
    parser.add_argument("--no-hash-alone", action="store_true")
    parser.add_argument("-s", "--setting", action="append", default=[],
                        help="extra `-s NAME=VALUE` for trawl crawl (repeatable)")
    args = parser.parse_args()
    args.setting = [part for value in args.setting for part in ("-s", value)]
    _become_subreaper()
    print(f"# load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    print(f"# pool={args.pool} workers={args.workers} concurrency={args.concurrency} "
          f"bare CONCURRENT_ITEMS={args.items} extra={args.setting}")
    with tempfile.TemporaryDirectory(prefix="trawl-bench-") as tmp:
        work = Path(tmp)
        template = template_db(work)
        for size in args.sizes.split(","):
            pages, per_page = (int(n) for n in size.split("x"))
            bench_size(pages, per_page, args, work, template)
    if not args.no_hash_alone:
        print(f"hash_image alone: CPU ms/img {hashing_cpu_ms():.2f} (this process)")
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
