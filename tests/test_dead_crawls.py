"""A crawl killed with SIGKILL: its row says what it stored, and the next command marks it
failed (audited) instead of leaving its seeds blocked. Real `trawl crawl` processes, real
kill -9, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from crawler.cli.main import cli
from crawler.sitegen import images as gen
from crawler.sitegen.server import Reply, RouteServer
from storage.audit import list_audit
from storage.crawls import get_crawl, list_crawls
from storage.db import open_store
from storage.known import KnownHashIn, import_known_list
from storage.models import Hit, Media
from tests.crawlhelpers import REPO, crawl_command, crawl_env

pytestmark = pytest.mark.hostile

IMAGES = 40
DELAY = 0.25  # seconds per image, one at a time: ~10 s of images, time to be killed mid-way


@pytest.fixture
def slow_site() -> Iterator[tuple[RouteServer, list[bytes]]]:
    images = [gen.encode(gen.photo(100 + i, size=(64, 48)), "png") for i in range(IMAGES)]
    server = RouteServer("127.0.0.1", [])
    html = "".join(f'<img src="/img/{i}.png">' for i in range(IMAGES)).encode()
    server.routes["/"] = lambda _p, _h: Reply(200, b"<html><body>" + html + b"</body></html>")

    one_at_a_time = threading.Lock()

    def image(path: str, _h: dict[str, str]) -> Reply:
        with one_at_a_time:
            time.sleep(DELAY)
        return Reply(200, images[int(path.rsplit("/", 1)[1].split(".")[0])], "image/png")

    server.prefix_routes["/img/"] = image
    server.start()
    try:
        yield server, images
    finally:
        server.stop()


def _stored(db_url: str) -> tuple[int, int]:
    store = open_store(db_url)
    try:
        with store.read_session() as session:
            hits = session.scalar(select(func.count()).select_from(Hit)) or 0
            media = session.scalar(select(func.count()).select_from(Media)) or 0
        return hits, media
    finally:
        store.close()


def test_a_killed_crawl_row_matches_what_it_stored_and_is_marked_failed(
    db_url: str, slow_site: tuple[RouteServer, list[bytes]]
) -> None:
    server, images = slow_site
    store = open_store(db_url)
    import_known_list(store, name="slow", fmt="csv", source_file="test", actor="test", entries=[
        KnownHashIn(hash_type="sha256", value=hashlib.sha256(d).hexdigest(), label=f"i{i}",
                    source="test", category="test") for i, d in enumerate(images)])
    store.close()
    proc = subprocess.Popen(
        [*crawl_command(db_url, server.base_url + "/", "--no-progress",
                        "-s", "TRAWL_FLUSH_INTERVAL=0.2", "-s", "TRAWL_HEARTBEAT_INTERVAL=0.3")],
        env=crawl_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _stored(db_url)[0] < 5:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "no hits stored within 60 s"
            time.sleep(0.1)
        time.sleep(0.4)  # at least one heartbeat after the start
        os.killpg(proc.pid, signal.SIGKILL)  # the crawl and its hash worker, no goodbye
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    store = open_store(db_url)
    try:
        (crawl,) = list_crawls(store)
        assert crawl.outcome == "running"  # nothing could record its end
        hits, media = _stored(db_url)
        assert 5 <= hits < IMAGES
        assert (crawl.hits, crawl.images, crawl.hashed) == (hits, media, media)
        assert crawl.pages == 1
        assert crawl.heartbeat_at is not None
        assert crawl.heartbeat_at > crawl.started_at
        assert crawl.pid == proc.pid

        # The next command that looks at crawls marks it failed, audited as Trawl itself.
        shown = CliRunner().invoke(cli, ["--db", db_url, "crawls", "list", "--format", "json"])
        assert shown.exit_code == 0, shown.output
        (row,) = json.loads(shown.output[shown.output.index("["):])
        assert row["outcome"] == "failed"
        assert f"pid {proc.pid}" in row["reason"]
        after = get_crawl(store, crawl.id)
        assert after.outcome == "failed"
        assert after.hits == hits
        (entry,) = list_audit(store, entity="crawl", entity_id=crawl.id)
        assert (entry.actor, entry.action, entry.to_state) == ("trawl", "crawl_marked_failed",
                                                               "failed")
    finally:
        store.close()


def test_a_crawl_marked_failed_while_it_runs_stops_and_keeps_the_reason(
    sqlite_url: str, slow_site: tuple[RouteServer, list[bytes]]
) -> None:
    server, _images = slow_site
    proc = subprocess.Popen(
        crawl_command(sqlite_url, server.base_url + "/", "--no-progress",
                      "-s", "TRAWL_HEARTBEAT_INTERVAL=0.3"),
        env=crawl_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _stored(sqlite_url)[1] < 2:  # it is fetching images
            assert proc.poll() is None
            assert time.monotonic() < deadline, "no images stored within 60 s"
            time.sleep(0.1)
        marked = CliRunner().invoke(cli, ["--db", sqlite_url, "--as", "alice", "crawls",
                                          "mark-failed", "1", "--reason", "stuck"])
        assert marked.exit_code == 0, marked.output
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, err.decode()[-2000:]
    store = open_store(sqlite_url)
    try:
        crawl = get_crawl(store, 1)
        assert crawl.outcome == "failed"
        assert crawl.reason == "marked failed by alice: stuck"  # the decision, not overwritten
        assert crawl.stats.get("finish_reason") == "marked_failed"
    finally:
        store.close()


def test_a_dead_crawl_does_not_block_its_seed(sqlite_url: str) -> None:
    """A seed whose crawl's process is gone from this machine can be crawled again at once:
    `trawl crawl` marks the dead crawl failed before starting."""
    from storage.crawls import start_crawl
    from storage.seeds import SeedSpec, add_seeds

    gone = subprocess.Popen(["true"])
    gone.wait()
    store = open_store(sqlite_url)
    try:
        seed_id = add_seeds(store, [SeedSpec("http://127.0.0.1:9/", "127.0.0.1")])[0].id
        dead = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[seed_id],
                           pid=gone.pid, exclusive=True)
    finally:
        store.close()
    done = subprocess.run(crawl_command(sqlite_url, "--seed", str(seed_id), "--no-progress"),
                          env=crawl_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert "being crawled already" not in done.stderr, done.stderr
    assert f"crawl {dead} was still marked running" in done.stderr
    store = open_store(sqlite_url)
    try:
        assert get_crawl(store, dead).outcome == "failed"
        assert len(list_crawls(store)) == 2
    finally:
        store.close()


def test_the_scheduler_closing_a_crawl_is_audited(db_url: str) -> None:
    from storage.crawls import start_crawl
    from storage.schedules import close_crawl

    store = open_store(db_url)
    try:
        gone = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[])
        over = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[])
        assert close_crawl(store, gone, outcome="failed", reason="its process is gone")
        assert close_crawl(store, over, outcome="timeout", reason="over budget")
        assert not close_crawl(store, over, outcome="failed", reason="late")  # ended already
        (failed,) = list_audit(store, entity="crawl", entity_id=gone)
        assert (failed.actor, failed.action, failed.from_state, failed.to_state) == (
            "trawl", "crawl_marked_failed", "running", "failed")
        (closed,) = list_audit(store, entity="crawl", entity_id=over)
        assert (closed.action, closed.to_state) == ("crawl_closed", "timeout")
    finally:
        store.close()
