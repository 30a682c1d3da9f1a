"""`trawl worker` end to end: real worker processes on one Redis frontier and one PostgreSQL,
crawling generated loopback sites (issue 13)."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.sitegen.images import encode, textured
from crawler.sitegen.layout import EXPECTED_PAGES
from crawler.sitegen.server import LoggedRequest, Reply, RouteServer, static
from crawler.sitegen.site import SyntheticSite
from matchers.hashing import hash_image
from storage.crawls import get_crawl
from storage.db import open_store
from storage.hits import list_hits
from storage.known import KnownHashIn, import_known_list
from storage.media import get_media_by_url
from storage.workers import crawl_worker_counts
from tests.crawlhelpers import REPO, crawl_env, import_site_list
from tests.workerhelpers import Workers, running_workers, unique_frontier

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(pg_url: str, tmp_path: Path) -> Iterator[Workers]:
    for frontier in unique_frontier():
        yield from running_workers(pg_url, frontier, tmp_path)


@pytest.fixture
def site() -> Iterator[SyntheticSite]:
    with SyntheticSite() as started:
        yield started


def _media_rows(db_url: str) -> dict[str, int]:
    import sqlalchemy as sa

    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT url, count(*) FROM media GROUP BY url"))
            return {url: int(n) for url, n in rows}
    finally:
        store.close()


def test_three_workers_find_every_hit_once_and_the_crawl_finishes_by_itself(
    workers: Workers, site: SyntheticSite,
) -> None:
    import_site_list(workers.db_url, site)
    for _ in range(3):
        workers.start()
    summary = workers.crawl(site.start_url, "--max-image-size", str(site.max_image_size))

    assert summary["outcome"] == "finished", workers.logs()
    assert summary["pages"] == EXPECTED_PAGES
    assert summary["images"] == len(site.expected)
    assert summary["hits"] == len(site.expected_hits)
    assert summary["hashed"] == len(site.expected) - 3
    assert summary["errors"] == 2
    store = open_store(workers.db_url)
    try:
        hits = list_hits(store)
        assert sorted(h.media_url for h in hits) == sorted(site.expected_hits)
        for hit in hits:  # every page that showed the image is recorded
            assert site.expected[hit.media_url].pages <= set(hit.page_urls), hit.media_url
        crawl_id = int(summary["crawl_id"])
        shares = crawl_worker_counts(store, crawl_id)
        crawl = get_crawl(store, crawl_id)
    finally:
        store.close()
    assert sum(w.pages for w in shares) == crawl.pages == EXPECTED_PAGES
    assert sum(w.images for w in shares) == crawl.images
    assert sum(w.hits for w in shares) == crawl.hits
    assert set(_media_rows(workers.db_url).values()) == {1}
    assert set(_media_rows(workers.db_url)) == set(site.expected)

    # Same rules as one process: scope, robots.txt and depth; every page and image URL of
    # the site fetched exactly once (robots.txt once per worker, /flaky retried once).
    for url in site.never_fetched:
        assert site.requested(url) == 0, url
    fetched = {r.url for r in site.log}
    for url in fetched:
        if url.endswith("/robots.txt") or "/flaky" in url:
            continue
        assert site.requested(url) == 1, url

    shown = workers.cli("crawls", "show", str(crawl_id))
    assert "Workers (frontier redis://" in shown
    listed = workers.cli("workers")
    assert listed.count("\n") >= 4, listed  # a header and three live workers


class SlowSite:
    """index -> /p/I (each with `images` images); images answer after `delay` seconds.
    Logs the start and end time of every request, and the most requests in flight."""

    def __init__(self, pages: int, images: int, delay: float) -> None:
        self.pages, self.images, self.delay = pages, images, delay
        self.log: list[LoggedRequest] = []
        self.times: list[tuple[float, float, str]] = []
        self.server = RouteServer("127.0.0.1", self.log)
        self.picture = encode(textured(7, (96, 72)), "png")
        self._lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        links = "".join(f'<a href="/p/{i}">p{i}</a>' for i in range(pages))
        self.server.routes["/"] = lambda path, headers: Reply(200, _html(links))
        self.server.prefix_routes = {"/p/": self._page, "/img/": self._image}

    def url(self, path: str) -> str:
        return self.server.base_url + path

    @property
    def image_urls(self) -> set[str]:
        return {self.url(f"/img/{i}-{j}.png") for i in range(self.pages)
                for j in range(self.images)}

    def _page(self, path: str, headers: dict[str, str]) -> Reply:
        i = int(path.rsplit("/", 1)[1])
        tags = "".join(f'<img src="/img/{i}-{j}.png">' for j in range(self.images))
        return Reply(200, _html(tags))

    def _image(self, path: str, headers: dict[str, str]) -> Reply:
        start = time.monotonic()
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
            self.times.append((start, time.monotonic(), path))
        # Distinct bytes per URL (a PNG text chunk would do; appended bytes are ignored).
        return Reply(200, self.picture + path.encode(), "image/png")

    def __enter__(self) -> SlowSite:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def _html(body: str) -> bytes:
    return f"<!doctype html><html><body>{body}</body></html>".encode()


def test_a_worker_killed_mid_crawl_loses_nothing(workers: Workers) -> None:
    import redis

    from crawler.engine.distributed.frontier import RedisFrontier

    with SlowSite(pages=12, images=6, delay=0.15) as site:
        victim = workers.start("TRAWL_WORKER_TTL=2", "TRAWL_HOST_CONCURRENCY=0")
        queued = workers.crawl(site.url("/"), "--depth", "1", wait=False)
        crawl_id = int(queued["crawl_id"])
        frontier = RedisFrontier(redis.Redis.from_url(workers.redis_url), workers.prefix)
        store = open_store(workers.db_url)
        try:
            deadline = time.monotonic() + 60
            # The victim is mid-crawl, holding leases, and has committed a first batch (its
            # hash workers may still be starting when the first images are served).
            while time.monotonic() < deadline:
                ids = frontier.live_workers()
                if (len(site.times) >= 8 and ids and frontier.leases_of(ids[0]) >= 3
                        and crawl_worker_counts(store, crawl_id)):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the worker never got going" + workers.logs())
        finally:
            store.close()
        held = frontier.leases_of(frontier.live_workers()[0])
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        workers.start("TRAWL_WORKER_TTL=2", "TRAWL_HOST_CONCURRENCY=0")
        store = open_store(workers.db_url)
        try:
            deadline = time.monotonic() + 120
            while get_crawl(store, crawl_id).outcome == "running":
                assert time.monotonic() < deadline, "the crawl never ended" + workers.logs()
                time.sleep(0.5)
            crawl = get_crawl(store, crawl_id)
            shares = crawl_worker_counts(store, crawl_id)
        finally:
            store.close()
        assert held >= 3
        assert crawl.outcome == "finished", crawl.reason
        media = _media_rows(workers.db_url)
        assert set(media) == site.image_urls  # nothing missing
        assert set(media.values()) == {1}  # nothing duplicated
        assert crawl.images == len(site.image_urls)  # never counted twice
        assert crawl.pages == site.pages + 1
        assert sum(w.images for w in shares) == crawl.images
        assert len(shares) == 2  # both workers committed a share


def test_per_host_limits_hold_across_workers(workers: Workers) -> None:
    with SlowSite(pages=4, images=5, delay=0.05) as site:
        for _ in range(3):
            workers.start("TRAWL_HOST_CONCURRENCY=1", "TRAWL_HOST_DELAY=0.2")
        summary = workers.crawl(site.url("/"), "--depth", "1")
    assert summary["outcome"] == "finished"
    assert summary["images"] == 20
    assert site.most_active == 1  # never two image downloads at once, across 3 workers
    spans = sorted((start, end) for start, end, _path in site.times)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # each one began after the previous one's answer
    starts = [start for start, _end in spans]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # The delay holds between the starts the workers take from Redis; at the server each
    # arrival also carries its client's scheduling jitter (tens of ms on a loaded machine),
    # so the average gap must hold in full and a single one at least half.
    assert (starts[-1] - starts[0]) / len(gaps) >= 0.2, gaps
    assert min(gaps) >= 0.1, gaps


def test_a_crawl_ends_soon_after_its_last_image_not_at_the_next_tick_or_commit(
    workers: Workers,
) -> None:
    # Housekeeping ticks and the commit interval 30 s apart: the crawl must not wait for
    # either. Idle workers notice it by polling the frontier (at most 0.4 s apart); each
    # writer commits once nothing new came for a moment; the ack of the crawl's last lease
    # ends it, and that worker records the end at once.
    slow = ("TRAWL_WORKER_HEARTBEAT=30", "TRAWL_WORKER_TTL=90", "TRAWL_FLUSH_INTERVAL=30",
            "TRAWL_HOST_CONCURRENCY=0")
    with SlowSite(pages=6, images=4, delay=0.02) as site:
        for _ in range(2):
            workers.start(*slow)
        workers.wait_ready()
        queued = workers.crawl(site.url("/"), "--depth", "1", wait=False)
        crawl_id = int(queued["crawl_id"])
        store = open_store(workers.db_url)
        try:
            deadline = time.monotonic() + 25  # before the first tick after the start
            while get_crawl(store, crawl_id).outcome == "running":
                assert time.monotonic() < deadline, "the crawl did not end" + workers.logs()
                time.sleep(0.02)
            ended = time.monotonic()
            crawl = get_crawl(store, crawl_id)
            shares = crawl_worker_counts(store, crawl_id)
        finally:
            store.close()
        last_image = max(end for _start, end, _path in site.times)
    assert crawl.outcome == "finished", crawl.reason
    assert crawl.images == len(site.image_urls)
    assert crawl.pages == site.pages + 1
    assert sum(w.images for w in shares) == crawl.images
    assert ended - last_image < 3.0, ended - last_image


def test_a_list_imported_mid_crawl_matches_later_images(workers: Workers) -> None:
    gate = threading.Event()
    early = encode(textured(11, (120, 90)), "png")
    late = encode(textured(12, (120, 90)), "png")
    log: list[LoggedRequest] = []
    server = RouteServer("127.0.0.1", log)

    def gated(path: str, headers: dict[str, str]) -> Reply:
        gate.wait(60)
        return Reply(200, _html('<img src="/late.png">'))

    server.routes.update({
        "/": lambda p, h: Reply(200, _html('<a href="/a">a</a><a href="/b">b</a>')),
        "/a": lambda p, h: Reply(200, _html('<img src="/early.png">')),
        "/b": gated,
        "/early.png": lambda p, h: Reply(200, early, "image/png"),
        "/late.png": lambda p, h: Reply(200, late, "image/png"),
    })
    server.start()
    try:
        workers.start("TRAWL_LIST_CHECK_INTERVAL=0.3")
        queued = workers.crawl(server.base_url + "/", wait=False)
        crawl_id = int(queued["crawl_id"])
        store = open_store(workers.db_url)
        try:
            deadline = time.monotonic() + 60
            while _media_rows(workers.db_url).get(server.base_url + "/early.png") is None:
                assert time.monotonic() < deadline, workers.logs()
                time.sleep(0.2)
            import_known_list(store, name="late", fmt="csv", source_file="test", actor="test",
                              entries=[KnownHashIn(hash_type="sha256",
                                                   value=hash_image(d).sha256, label=n)
                                       for n, d in (("early", early), ("late", late))])
            deadline = time.monotonic() + 30
            log_file = workers.log_dir / "worker0.log"
            while "Reloaded" not in log_file.read_text(errors="replace"):
                assert time.monotonic() < deadline, workers.logs()
                time.sleep(0.2)
            gate.set()
            while get_crawl(store, crawl_id).outcome == "running":
                assert time.monotonic() < deadline + 60, workers.logs()
                time.sleep(0.3)
            hits = {h.media_url for h in list_hits(store)}
        finally:
            store.close()
    finally:
        gate.set()
        server.stop()
    # Matched with the list loaded at start (none), then with the reloaded one: the image
    # fetched before the import is left to `trawl rematch`, the later one is a hit.
    assert hits == {server.base_url + "/late.png"}


def test_a_crawl_whose_start_urls_all_fail_ends_failed(workers: Workers) -> None:
    workers.start()
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "--db", workers.db_url, "crawl",
         "--distributed", "--wait", "--redis", workers.redis_url, "--redis-prefix",
         workers.prefix, f"http://127.0.0.1:{SyntheticSite.closed_port()}/"],
        env=crawl_env(), cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr + workers.logs()
    assert "nothing crawled: every start URL failed" in done.stderr


def test_a_crawl_reaches_the_addresses_it_was_queued_with(workers: Workers) -> None:
    """`trawl crawl --distributed --allow-address` holds on every worker, whose own
    allowance (none here) only adds to it; a crawl queued without it is refused."""
    picture = encode(textured(5, (64, 48)), "png")
    cdn = RouteServer("127.0.0.2", [])
    cdn.routes["/a.png"] = lambda p, h: Reply(200, picture, "image/png")
    main = RouteServer("127.0.0.1", [])
    cdn.start()
    main.start()
    try:
        image = cdn.base_url + "/a.png"
        main.routes["/"] = lambda p, h: Reply(200, _html(f'<img src="{image}">'))
        main.routes["/robots.txt"] = lambda p, h: Reply(404, b"")
        cdn.routes["/robots.txt"] = lambda p, h: Reply(404, b"")
        workers.start(env={"TRAWL_ALLOW_ADDRESSES": ""})
        refused = workers.crawl(main.base_url + "/", env={"TRAWL_ALLOW_ADDRESSES": ""})
        before = _media_status(workers.db_url, image)
        allowed = workers.crawl(main.base_url + "/", "--allow-address", "127.0.0.2",
                                env={"TRAWL_ALLOW_ADDRESSES": ""})
        after = _media_status(workers.db_url, image)
    finally:
        main.stop()
        cdn.stop()
    assert (refused["outcome"], refused["hashed"]) == ("finished", 0)
    assert before == "refused"
    assert (allowed["outcome"], allowed["images"], allowed["hashed"]) == ("finished", 1, 1)
    assert after == "ok", workers.logs()


def test_a_redirect_target_the_crawl_has_seen_is_not_fetched_again(workers: Workers) -> None:
    """/a and /c redirect to /b, which / also links: /b is fetched once, as in one process
    (its dupefilter drops a redirect to a page already requested). An image's redirect is
    followed for each URL that leads to it: each image row keeps the URL it was shown by."""
    picture = encode(textured(9, (64, 48)), "png")
    log: list[LoggedRequest] = []
    server = RouteServer("127.0.0.1", log)
    moved = {"Location": "/b"}
    server.routes.update({
        "/": lambda p, h: Reply(200, _html('<a href="/a">a</a><a href="/b">b</a>'
                                           '<a href="/c">c</a>')),
        "/robots.txt": lambda p, h: Reply(404, b""),
        "/a": lambda p, h: Reply(301, b"", headers=moved),
        "/c": lambda p, h: Reply(302, b"", headers=moved),
        "/b": lambda p, h: Reply(200, _html('<img src="/x.png"><img src="/y.png">')),
        "/x.png": lambda p, h: Reply(302, b"", headers={"Location": "/y.png"}),
        "/y.png": lambda p, h: Reply(200, picture, "image/png"),
    })
    server.start()
    try:
        for _ in range(2):
            workers.start()
        summary = workers.crawl(server.base_url + "/")
    finally:
        server.stop()
    fetched = [r.url.removeprefix(server.base_url) for r in log]
    assert summary["outcome"] == "finished", workers.logs()
    assert sorted(p for p in fetched if p != "/robots.txt") == [
        "/", "/a", "/b", "/c", "/x.png", "/y.png", "/y.png"]
    assert summary["pages"] == 2  # / and /b
    assert (summary["images"], summary["hashed"]) == (2, 2)
    media = _media_rows(workers.db_url)
    assert media == {server.base_url + "/x.png": 1, server.base_url + "/y.png": 1}


def test_a_worker_recrawls_images_of_earlier_crawls_conditionally(workers: Workers) -> None:
    """One worker runs both crawls: the second asks for the image hashed by the first with
    If-None-Match (the worker read the hashed URLs again when the crawl started), and the
    304 keeps the stored digests."""
    picture = encode(textured(13, (64, 48)), "png")
    log: list[LoggedRequest] = []
    server = RouteServer("127.0.0.1", log)
    server.routes.update({
        "/": lambda p, h: Reply(200, _html('<img src="/i.png">')),
        "/robots.txt": lambda p, h: Reply(404, b""),
        "/i.png": static(picture, "image/png", etag='"v1"'),
    })
    server.start()
    try:
        workers.start()
        first = workers.crawl(server.base_url + "/")
        second = workers.crawl(server.base_url + "/")
    finally:
        server.stop()
    image = [r for r in log if r.url.endswith("/i.png")]
    assert (first["outcome"], second["outcome"]) == ("finished", "finished"), workers.logs()
    assert [r.headers.get("if-none-match") for r in image] == [None, '"v1"']
    assert second["images"] == 1
    store = open_store(workers.db_url)
    try:
        info = get_media_by_url(store, server.base_url + "/i.png")
    finally:
        store.close()
    assert info is not None
    assert info.sha256 == hash_image(picture).sha256


def _media_status(db_url: str, url: str) -> str | None:
    from storage.media import get_media_by_url

    store = open_store(db_url)
    try:
        info = get_media_by_url(store, url)
    finally:
        store.close()
    return None if info is None else info.fetch_status




def test_worker_without_redis_says_what_to_check(pg_url: str, tmp_path: Path) -> None:
    from tests.conftest import _initialised

    _initialised(pg_url)
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "--db", pg_url, "worker", "--redis",
         "redis://127.0.0.1:1/0"], env=crawl_env(), cwd=REPO, capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode != 0
    assert "Cannot reach the Redis frontier at redis://127.0.0.1:1/0" in done.stderr


def test_several_crawls_share_the_workers_and_a_time_budget_spans_them(
    workers: Workers, site: SyntheticSite,
) -> None:
    import_site_list(workers.db_url, site)
    with SlowSite(pages=30, images=6, delay=0.3) as slow:
        for _ in range(2):
            workers.start("TRAWL_HOST_CONCURRENCY=2")
        workers.wait_ready()  # the budget counts from the moment the crawl is queued
        endless = workers.crawl(slow.url("/"), "--depth", "1", "--time-budget", "4",
                                wait=False)
        summary = workers.crawl(site.start_url, "--max-image-size", str(site.max_image_size))
        store = open_store(workers.db_url)
        try:
            deadline = time.monotonic() + 60
            while (crawl := get_crawl(store, int(endless["crawl_id"]))).outcome == "running":
                assert time.monotonic() < deadline, workers.logs()
                time.sleep(0.3)
        finally:
            store.close()
    assert summary["outcome"] == "finished"
    assert (summary["pages"], summary["hits"]) == (EXPECTED_PAGES, len(site.expected_hits))
    assert crawl.outcome == "timeout"
    assert crawl.reason == "stopped: time budget spent"
    assert 0 < crawl.images < 30 * 6
    assert crawl.finished_at is not None
    assert (crawl.finished_at - crawl.started_at).total_seconds() < 20


def test_the_scheduler_queues_due_crawls_for_the_workers(
    workers: Workers, site: SyntheticSite,
) -> None:
    import_site_list(workers.db_url, site)
    workers.cli("seeds", "add", site.start_url)
    workers.cli("schedule", "add", "nightly", "--seed", "1", "--every", "1d")
    workers.start()
    out = workers.cli("scheduler", "--once", "--distributed", "--redis", workers.redis_url,
                      "--redis-prefix", workers.prefix, "--log-dir",
                      str(workers.log_dir / "crawls"))
    store = open_store(workers.db_url)
    try:
        crawl = get_crawl(store, 1)
        hits = {h.media_url for h in list_hits(store)}
    finally:
        store.close()
    assert crawl.outcome == "finished", (out, crawl.reason, workers.logs())
    assert crawl.frontier == workers.redis_url
    assert crawl.pages == EXPECTED_PAGES
    assert hits >= {u for u in site.expected_hits if "huge" not in u}
