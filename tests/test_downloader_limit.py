"""A host never has more requests in flight than its limit (CONCURRENT_REQUESTS_PER_DOMAIN).

Scrapy 2.19's own downloader starts every request queued for a host at once (its slots are
marked taken only when each request's coroutine first runs): with a per-host limit of 3 and
CONCURRENT_REQUESTS of 32 it had all 24 images of this site in flight together.
crawler.engine.downloader.PoliteDownloader holds it to the limit; this test watches from
the server's side, on a real crawl."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from tests.crawlhelpers import run_crawl_process, summary_of

IMAGES = 24
LIMIT = 3


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 9 % 256, seed * 31 % 256, 90)).save(out, "PNG")
    return out.getvalue()


def slow_png(seed: int) -> bytes:
    """A 1000x1000 grey noise PNG: ~20 ms to hash, so the next download of a host ends
    while an image still waits in the hash pool (a 40x30 PNG is hashed before it does)."""
    out = io.BytesIO()
    noise = Image.effect_noise((1000, 1000), 40 + seed)
    noise.save(out, "PNG")
    return out.getvalue()


class Site:
    """A page linking IMAGES images, each served after 0.1 s; counts requests in flight."""

    def __init__(self, image: Callable[[int], bytes] = png) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.served = 0
        site = self
        page = "".join(f'<img src="/img/{i}.png">' for i in range(IMAGES)).encode()
        images = {f"/img/{i}.png": image(i) for i in range(IMAGES)}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with site.lock:
                    site.in_flight += 1
                    site.most = max(site.most, site.in_flight)
                try:
                    if self.path == "/":
                        body, kind, status = b"<html><body>" + page + b"</body></html>", \
                            "text/html", 200
                    elif self.path in images:
                        time.sleep(0.1)
                        body, kind, status = images[self.path], "image/png", 200
                    else:
                        body, kind, status = b"not found", "text/plain", 404
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with site.lock:
                        site.in_flight -= 1
                        site.served += 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_host_gets_at_most_the_per_host_limit_of_requests_at_once(sqlite_url: str) -> None:
    site = Site()
    try:
        done = run_crawl_process(sqlite_url, site.url, "--depth", "1", "--no-progress",
                                 "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={LIMIT}",
                                 "-s", "CONCURRENT_REQUESTS=32")
        summary = summary_of(done)
    finally:
        site.close()
    assert summary["images"] == IMAGES, done.stderr[-3000:]
    assert site.most <= LIMIT, f"{site.most} requests in flight at once, limit {LIMIT}"
    assert site.most >= 2, "the crawl no longer fetches a host's images concurrently"


def test_image_downloads_wait_for_the_hash_backlog_and_all_are_hashed(sqlite_url: str) -> None:
    """TRAWL_HASH_BACKLOG_BYTES=1: an image download starts only when no image waits to be
    hashed; the crawl still fetches and hashes every image (a held queue is resumed)."""
    site = Site(slow_png)
    try:
        done = run_crawl_process(sqlite_url, site.url, "--depth", "1", "--no-progress",
                                 "-s", "TRAWL_HASH_BACKLOG_BYTES=1",
                                 "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={LIMIT}")
        summary = summary_of(done)
    finally:
        site.close()
    assert summary["images"] == IMAGES, done.stderr[-3000:]
    assert summary["hashed"] == IMAGES
    stats = summary["stats"]
    assert stats["trawl/hash_backlog_holds"] > 0  # queues were held, and all resumed
    assert stats["trawl/hash_backlog_peak_bytes"] > 0
