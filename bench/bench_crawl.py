"""End-to-end crawl throughput: `trawl crawl` vs a bare Scrapy spider on the same generated site.

The site (~130 KB JPEGs, every image URL distinct bytes) is served by a separate process.
For each size, the bare spider and `trawl crawl` run one after the other as subprocesses;
the table shows images/s (Scrapy's elapsed_time_seconds of each crawl), the ratio, and peak
RSS of each crawl's process tree (crawler + hashing workers), sampled every 0.2 s.

    python3 bench/bench_crawl.py                       # sizes 400x5 and 2000x5 pages x images
    python3 bench/bench_crawl.py --sizes 2000x5 --pool thread --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
# thread/inline pools hash in the crawl process: its BLAS must be single-threaded too (the
# process pool sets this for its workers itself; see crawler.engine.hashpool.WORKER_ENV).
SINGLE_THREADED_BLAS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


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


def _tree_rss_kb(pid: int) -> int:
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        todo += tree.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_measured(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[str, float, int]:
    """Run a command; return stdout, wall seconds and peak RSS (MiB) of its process tree."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return out, time.monotonic() - started, peak // 1024


def known_list(path: Path, site_url: str, work: Path) -> None:
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


def import_list(db_url: str, path: Path) -> None:
    from matchers.lists import parse_known_list
    from storage.db import open_store
    from storage.known import KnownHashIn, import_known_list

    parsed = parse_known_list(path, fmt="csv")
    store = open_store(db_url)
    import_known_list(
        store, name="bench", fmt="csv", source_file=str(path), actor="bench",
        entries=[KnownHashIn(e.hash_type, e.value, e.label, e.source, e.category)
                 for e in parsed.entries],
    )
    store.close()


def bench_size(pages: int, per_page: int, args: argparse.Namespace, work: Path) -> dict[str, object]:
    server = subprocess.Popen(
        [sys.executable, "-m", "crawler.sitegen", "bench", "--pages", str(pages),
         "--images-per-page", str(per_page), "--pool-size", str(args.pool_size)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        site = json.loads(server.stdout.readline())
        url = site["start_url"]
        bare_out, bare_wall, bare_rss = run_measured(
            [sys.executable, str(ROOT / "bench" / "bare_spider.py"), url, str(args.concurrency)],
            work,
        )
        bare = json.loads(bare_out.strip().splitlines()[-1])
        db_url = f"sqlite:///{work}/bench-{pages}.db"
        list_path = work / "known.csv"
        if not list_path.exists():
            known_list(list_path, url, work)
        import_list(db_url, list_path)
        trawl_out, trawl_wall, trawl_rss = run_measured(
            [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl", url,
             "--depth", "3", "--no-progress", "--format", "json",
             "-s", f"TRAWL_HASH_POOL={args.pool}", "-s", f"TRAWL_HASH_WORKERS={args.workers}",
             "-s", f"CONCURRENT_REQUESTS={args.concurrency}"],
            work,
            env={**ENV, **SINGLE_THREADED_BLAS} if args.pool != "process" else ENV,
        )
        trawl = json.loads(trawl_out)
    finally:
        server.terminate()
        server.wait(10)
    trawl_elapsed = trawl["stats"]["elapsed_time_seconds"]
    bare_rate = bare["images"] / bare["elapsed"]
    trawl_rate = trawl["images"] / trawl_elapsed
    return {
        "pages": pages, "images": site["images"],
        "bare_images": bare["images"], "bare_s": round(bare["elapsed"], 1),
        "bare_img_s": round(bare_rate, 1), "bare_rss_mb": bare_rss,
        "trawl_images": trawl["images"], "trawl_hashed": trawl["hashed"],
        "trawl_hits": trawl["hits"], "trawl_errors": trawl["errors"],
        "trawl_s": round(trawl_elapsed, 1), "trawl_img_s": round(trawl_rate, 1),
        "trawl_rss_mb": trawl_rss, "ratio": round(trawl_rate / bare_rate, 2),
        "wall_s": [round(bare_wall, 1), round(trawl_wall, 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="400x5,2000x5", help="PAGESxIMAGES_PER_PAGE,...")
    parser.add_argument("--pool", default="process", choices=["process", "thread", "inline"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(f"# load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    print(f"# pool={args.pool} workers={args.workers} concurrency={args.concurrency}")
    with tempfile.TemporaryDirectory(prefix="trawl-bench-") as tmp:
        for size in args.sizes.split(","):
            pages, per_page = (int(n) for n in size.split("x"))
            row = bench_size(pages, per_page, args, Path(tmp))
            print(json.dumps(row), flush=True)
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
