"""Review and takedown at volume: claim, decide, export notices, send, re-check outcomes, stats.

Records N pending hits spread over many hosts and server IPs (as a crawl leaves them), then
times each workflow step through the storage functions the CLI calls. Prints a Markdown table.

    python3 bench/bench_takedown.py                     # 5000 hits, SQLite file in a temp dir
    python3 bench/bench_takedown.py --hits 20000
    python3 bench/bench_takedown.py --db postgresql+psycopg2://postgres@127.0.0.1:5432/bench

The PostgreSQL database must exist and be empty. No network: hosts are *.example names and
re-check outcomes are recorded directly (the spider's fetch time is the crawl's business).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.services.notices.formats import to_csv, to_json
from crawler.services.notices.render import NoticeRenderer
from storage.notices import (
    RecheckResult,
    mark_sent,
    prepare_notices,
    recheck_targets,
    record_recheck,
)
from storage.providers import ProviderSpec, import_providers
from storage.review import claim_next, decide
from storage.stats import takedown_stats
from tests.takedown_helpers import HitSpec, add_hits, make_store


def timed(rows: list[tuple[str, str, float]], step: str, what: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = fn()
    rows.append((step, what, time.perf_counter() - started))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=5000)
    parser.add_argument("--db", default=None, help="database URL (default: temp SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(args.db or f"sqlite:///{tmp}/bench.db")
        n = args.hits
        import_providers(store, [
            ProviderSpec(f"Provider {k}", f"abuse@p{k}.example", "NL", (f"10.{k}.0.0/16",), ())
            for k in range(20)
        ], actor="bench")
        specs = [HitSpec(f"http://img{i % 300}.site{i % 60}.example/{i}.jpg",
                         page_urls=(f"http://site{i % 60}.example/p{i}",),
                         server_ip=f"10.{i % 25}.{i % 250}.{i % 200}") for i in range(n)]
        rows: list[tuple[str, str, float]] = []
        ids = timed(rows, "record hits (setup)", f"{n} hits", lambda: add_hits(store, specs))
        timed(rows, "review next", "claim 50", lambda: claim_next(store, actor="a", limit=50))
        timed(rows, "review confirm", "batch of 100",
              lambda: decide(store, ids[:100], actor="a", decision="confirm"))
        timed(rows, "review confirm", f"all remaining {n - 100}",
              lambda: decide(store, ids[100:], actor="a", decision="confirm"))
        notices = timed(rows, "notices export", f"{n} URLs -> notices",
                        lambda: prepare_notices(store, actor="t"))
        timed(rows, "notices export again", "reuses unsent notices",
              lambda: prepare_notices(store, actor="t"))
        renderer = NoticeRenderer()
        timed(rows, "render csv", f"{len(notices)} notices", lambda: to_csv(notices))
        timed(rows, "render json", f"{len(notices)} notices", lambda: to_json(notices, "x"))
        timed(rows, "render text", f"{len(notices)} notices",
              lambda: [renderer.text(x) for x in notices])
        timed(rows, "render eml", f"{len(notices)} notices",
              lambda: [renderer.email(x).as_bytes() for x in notices])
        timed(rows, "notices mark-sent", f"{len(notices)} notices",
              lambda: mark_sent(store, [x.reference for x in notices], actor="t"))
        targets = timed(rows, "recheck targets", f"{n} hits", lambda: recheck_targets(store))
        results = [RecheckResult(h[0], "gone" if h[0] % 2 else "live", "bench")
                   for t in targets for h in t.hits]
        timed(rows, "recheck record", f"{len(results)} outcomes",
              lambda: record_recheck(store, results, actor="bench"))
        timed(rows, "stats", f"{n} hits", lambda: takedown_stats(store))
        store.close()
    print(f"hits={n} db={'sqlite (temp file)' if not args.db else args.db.split('@')[-1]}\n")
    print("| step | size | seconds |\n|---|---|---|")
    for step, what, seconds in rows:
        print(f"| {step} | {what} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
