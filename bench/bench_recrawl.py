"""Recrawl savings: crawl a site twice, unchanged; the second crawl's image requests are
conditional (If-None-Match / If-Modified-Since from the first), so a 304 sends no body and
the stored digests are reused (and still matched against the lists).

Two sites, both served from threads of this process on 127.0.0.1 (127.0.0.2 for the CDN):
- `bulk`: a start page linking PAGES pages x IMAGES photo-like JPEGs (crawler.sitegen.images),
  ETag validators;
- `synthetic`: crawler.sitegen's test site (every way a page shows an image, known images
  and edits, hostile files), ETag on its CDN host and Last-Modified on its main host.
Each crawl is `python3 -m crawler.cli.main crawl --seed ID` in its own process, as the
scheduler runs it. The table shows bytes the servers sent (image bodies and everything),
image bodies sent, images hashed, 304s, hits, the crawl's own duration and the process's
wall time. The last column estimates transfer time of the image bytes at --mbit (loopback
has no bandwidth limit, so the measured saving is the hashing and decoding skipped).

    python3 bench/bench_recrawl.py                      # bulk 100x5 and synthetic
    python3 bench/bench_recrawl.py --pages 200 --images 5 --sites bulk
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from crawler.sitegen.images import encode, sample  # noqa: E402
from crawler.sitegen.server import Reply, RouteServer, static  # noqa: E402
from storage.db import open_store  # noqa: E402
from storage.known import KnownHashIn, import_known_list  # noqa: E402
from storage.seeds import SeedSpec, add_seeds  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
KNOWN_EVERY = 50  # every 50th bulk image is on the known list, so hits show on both crawls


class ByteCounter:
    """Wraps a RouteServer's reply() to count what it sends (bodies are not sent on 304)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.image_bytes = 0
        self.image_bodies = 0
        self.not_modified = 0

    def wrap(self, server: RouteServer) -> None:
        original: Callable[[str, dict[str, str]], Reply | None] = server.reply

        def reply(path: str, headers: dict[str, str]) -> Reply | None:
            answer = original(path, headers)
            if answer is not None:
                with self.lock:
                    if answer.status == 304:
                        self.not_modified += 1
                    else:
                        self.total += len(answer.body)
                        if answer.content_type.startswith("image/"):
                            self.image_bytes += len(answer.body)
                            self.image_bodies += 1
            return answer

        server.reply = reply  # type: ignore[method-assign]

    def snapshot(self) -> tuple[int, int, int, int]:
        with self.lock:
            return self.total, self.image_bytes, self.image_bodies, self.not_modified


def bulk_site(pages: int, images: int) -> tuple[list[RouteServer], str, list[str]]:
    """A start page linking `pages` pages, each with `images` distinct photo JPEGs (so the
    crawl is bound by fetching and hashing, not by a chain of page round trips); returns the
    servers, the start URL and the md5 of the known images."""
    server = RouteServer("127.0.0.1", [])
    links = "".join(f'<a href="/p{page}">page {page}</a>' for page in range(pages))
    server.routes["/"] = static(
        f"<!doctype html><html><body>{links}</body></html>".encode(), "text/html")
    known: list[str] = []
    for page in range(pages):
        tags = []
        for i in range(images):
            index = page * images + i
            data = encode(sample("photo", 7, index), "jpeg", quality=85)
            path = f"/img/{index}.jpg"
            server.routes[path] = static(data, "image/jpeg",
                                         etag='"' + hashlib.sha256(data).hexdigest()[:16] + '"')
            tags.append(f'<img src="{path}" alt="">')
            if index % KNOWN_EVERY == 0:
                known.append(hashlib.md5(data).hexdigest())
        body = f"<!doctype html><html><body>{''.join(tags)}</body></html>".encode()
        server.routes[f"/p{page}"] = static(body, "text/html")
    return [server], server.base_url + "/", known


def crawl(db_url: str, seed_id: int, extra: list[str]) -> tuple[dict[str, Any], float]:
    cmd = [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl", "--seed",
           str(seed_id), "--no-progress", "--format", "json", *extra]
    started = time.monotonic()
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"crawl failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary, wall


def measure(name: str, servers: list[RouteServer], start_url: str, known: list[KnownHashIn],
            extra: list[str], mbit: float, depth: int) -> list[dict[str, Any]]:
    counter = ByteCounter()
    for server in servers:
        counter.wrap(server)
        server.start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        store = open_store(db_url)
        [seed] = add_seeds(store, [SeedSpec(url=start_url, domain="127.0.0.1", depth=depth)])
        if known:
            import_known_list(store, name="bench", fmt="csv", source_file=None, entries=known,
                              actor="bench")
        store.close()
        try:
            for run in ("first", "second"):
                before = counter.snapshot()
                summary, wall = crawl(db_url, seed.id, extra)
                after = counter.snapshot()
                total, image_bytes, bodies, not_modified = (a - b for a, b in zip(after, before,
                                                                                 strict=True))
                stats = summary["stats"]
                rows.append({
                    "site": name, "crawl": run, "pages": summary["pages"],
                    "images": summary["images"], "bytes_sent": total,
                    "image_bytes": image_bytes, "image_bodies": bodies,
                    "not_modified": not_modified, "hashed": summary["hashed"],
                    "stat_not_modified": int(stats.get("trawl/not_modified", 0)),
                    "hits": summary["hits"], "duration": summary["duration"], "wall": wall,
                    "transfer_at_mbit": image_bytes * 8 / (mbit * 1e6),
                })
        finally:
            for server in servers:
                server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--images", type=int, default=5, help="images per bulk page")
    parser.add_argument("--sites", default="bulk,synthetic")
    parser.add_argument("--mbit", type=float, default=50.0,
                        help="link speed for the transfer-time estimate column")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for name in args.sites.split(","):
        if name == "bulk":
            began = time.monotonic()
            servers, start, md5s = bulk_site(args.pages, args.images)
            print(f"generated {args.pages * args.images} images in "
                  f"{time.monotonic() - began:.1f}s", file=sys.stderr)
            known = [KnownHashIn("md5", value, label="bench-known") for value in md5s]
            rows += measure(name, servers, start, known, [], args.mbit, depth=2)
        elif name == "synthetic":
            from crawler.sitegen.site import SyntheticSite

            site = SyntheticSite()
            known = [KnownHashIn(t, v, label=label, source=src, category=cat)
                     for t, v, label, src, cat in site.known_rows()]
            rows += measure(name, [site.main, site.cdn], site.start_url, known,
                            ["--max-image-size", str(site.max_image_size)], args.mbit, depth=3)
        else:
            raise SystemExit(f"unknown site {name!r}: use bulk and/or synthetic")
    print("| site | crawl | pages | images | bytes sent | image bytes | image bodies | 304s "
          "| hashed | hits | crawl s | process s | image transfer at "
          f"{args.mbit:g} Mbit/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['site']} | {r['crawl']} | {r['pages']} | {r['images']} | {r['bytes_sent']:,} "
              f"| {r['image_bytes']:,} | {r['image_bodies']} | {r['not_modified']} "
              f"| {r['hashed']} | {r['hits']} | {r['duration']:.1f} | {r['wall']:.1f} "
              f"| {r['transfer_at_mbit']:.1f} s |")


if __name__ == "__main__":
    main()
