"""Time bounds a hostile site cannot get round: a slowloris image gets one deadline for all
its attempts; an image slow to hash costs its worker, not the crawl; `trawl crawl` has a
default time budget."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from PIL import Image

from crawler.cli.main import cli
from crawler.sitegen import images as gen
from storage.db import open_store
from storage.media import get_media_by_url
from storage.policy import DEFAULT_TIME_BUDGET_SECONDS
from tests.crawlhelpers import crawl_env, run_crawl_process, summary_of

pytestmark = pytest.mark.hostile

SLOW_IMAGES = 4


def _noise_jpeg(side: int) -> bytes:
    """Random noise, big: 6000 px takes ~1.5 s to hash even through the JPEG draft path
    (measured, unloaded), where a small photo takes milliseconds."""
    buf = io.BytesIO()
    Image.effect_noise((side, side), 60).convert("RGB").save(buf, "JPEG", quality=30)
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: dict[str, bytes] = {}
    images: dict[str, bytes] = {}
    stop = threading.Event()

    def do_GET(self) -> None:
        if self.path.startswith("/slowloris/"):
            self._trickle()
            return
        body = self.pages.get(self.path) or self.images.get(self.path)
        if body is None:
            self.send_error(404)
            return
        kind = "text/html" if self.path in self.pages else "image/png"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self) -> None:
        """Headers at once, then one byte every 0.2 s of a body that claims 100 kB: each
        read succeeds in time, so only a limit on the whole download stops it."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100000):
                if self.stop.wait(0.2):
                    return
                self.wfile.write(b"\x89")
                self.wfile.flush()
        except OSError:
            return

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.stop.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        _Handler.stop.set()
        httpd.shutdown()
        httpd.server_close()


def test_a_slowloris_image_gets_one_deadline_for_all_its_attempts(
    sqlite_url: str, server: str
) -> None:
    imgs = "".join(f'<img src="/slowloris/{i}.png">' for i in range(SLOW_IMAGES))
    _Handler.pages = {"/": f"<html><body>{imgs}</body></html>".encode()}
    started = time.monotonic()
    done = run_crawl_process(sqlite_url, server + "/", "--no-progress",
                             "-s", "TRAWL_IMAGE_DEADLINE=2")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    stats = summary_of(done)["stats"]
    # DOWNLOAD_TIMEOUT (15 s) per attempt and two retries would be 45 s; the deadline is 2 s
    # for all of them (plus the crawl process's own start-up).
    assert elapsed < 30, elapsed
    assert stats["trawl/drop/image_deadline"] == SLOW_IMAGES
    assert stats["trawl/image_status/timeout"] == SLOW_IMAGES
    store = open_store(sqlite_url)
    try:
        media = get_media_by_url(store, f"{server}/slowloris/0.png")
        assert media is not None
        assert media.fetch_status == "timeout"
        assert "TRAWL_IMAGE_DEADLINE" in (media.error or "")
    finally:
        store.close()


def test_an_image_slow_to_hash_is_a_timeout_and_its_worker_is_replaced(
    sqlite_url: str, server: str
) -> None:
    _Handler.images = {"/slow.jpg": _noise_jpeg(6000),
                       "/fine.png": gen.encode(gen.photo(3, size=(120, 90)), "png")}
    _Handler.pages = {"/": b'<html><body><img src="/slow.jpg"><img src="/fine.png"></body></html>'}
    done = run_crawl_process(sqlite_url, server + "/", "--no-progress",
                             env=crawl_env(TRAWL_HASH_TIMEOUT="0.4"))
    assert done.returncode == 0, done.stderr[-3000:]
    stats = summary_of(done)["stats"]
    assert stats["trawl/hash_timeouts"] == 1
    assert stats["trawl/hash_pool_restarts"] == 0  # a timeout is not a crash
    assert stats["trawl/image_status/timeout"] == 1
    assert stats["trawl/image_status/ok"] == 1  # the next image hashed on the new worker
    store = open_store(sqlite_url)
    try:
        slow = get_media_by_url(store, f"{server}/slow.jpg")
        assert slow is not None
        assert slow.fetch_status == "timeout"
        assert slow.sha256 is not None
        assert slow.pdq is None
        assert "TRAWL_HASH_TIMEOUT" in (slow.error or "")
        fine = get_media_by_url(store, f"{server}/fine.png")
        assert fine is not None
        assert fine.fetch_status == "ok"
        assert fine.pdq is not None
    finally:
        store.close()


def test_an_ad_hoc_crawl_has_a_default_time_budget(sqlite_url: str) -> None:
    """The same default as a scheduled crawl's; --time-budget 0 means none."""
    budget = next(p for p in cli.commands["crawl"].params if p.name == "time_budget")
    assert budget.default == DEFAULT_TIME_BUDGET_SECONDS
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = CliRunner().invoke(cli, ["--db", sqlite_url, "crawl", f"http://127.0.0.1:{port}/",
                                    "--time-budget", "-1"])
    assert done.exit_code == 2
    assert "-1" in done.output
