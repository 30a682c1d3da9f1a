"""`trawl crawls list|show` on real scheduled crawls, the catch-up rule, and cheap recrawls:
a second crawl of an unchanged site transfers no image bodies."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from crawler.cli.main import cli
from storage.crawls import start_crawl
from storage.db import open_store
from storage.known import KnownHashIn, import_known_list
from storage.schedules import close_crawl, due_schedules, get_schedule
from tests.test_scheduler import T0, LocalSite, add_every_hour, add_site_seed, scheduler

ROOT = Path(__file__).resolve().parents[1]


def _json(url: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", url, *args, "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_catch_up_then_unchanged_recrawl_transfers_no_image_bodies(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = open_store(sqlite_url)
    try:
        with LocalSite(pages=2, images_per_page=3, seed=20) as site:
            seed = add_site_seed(store, site)
            schedule = add_every_hour(store, "hourly", [seed])
            # the scheduler was down for 5.5 hours: one run, then the next slot on the grid
            late = T0 + timedelta(hours=5, minutes=30)
            [first] = scheduler(store, tmp_path, now=late).run_once()
            assert get_schedule(store, schedule.id).next_due_at == T0 + timedelta(hours=6)
            assert scheduler(store, tmp_path, now=late).run_once() == []  # nothing doubled
            body_bytes, bodies = site.image_bytes, site.image_bodies
            assert bodies == len(site.images) == 9
            assert body_bytes == sum(len(d) for d in site.images.values())

            # a list imported after the first crawl must still match on the recrawl
            known = site.images["/img/1-0.png"]
            import_known_list(
                store, name="later", fmt="plain", source_file=None, actor="test",
                entries=[KnownHashIn("md5", hashlib.md5(known).hexdigest(), label="k")],
            )
            [second] = scheduler(store, tmp_path, now=T0 + timedelta(hours=6)).run_once()
            assert site.image_bodies == bodies  # not one image body sent again
            assert site.image_bytes == body_bytes
            assert second.outcome == first.outcome == "finished"
    finally:
        store.close()

    listed = _json(sqlite_url, "crawls", "list")
    assert [c["id"] for c in listed] == [second.crawl_id, first.crawl_id]
    newest, oldest = listed
    assert (oldest["pages"], oldest["images"], oldest["hashed"], oldest["not_modified"]) == (
        3, 9, 9, 0)
    assert (newest["pages"], newest["images"], newest["not_modified"]) == (3, 9, 9)
    assert (oldest["hits"], newest["hits"]) == (0, 1)
    assert newest["schedule_id"] == schedule.id
    assert newest["seeds"] == f"#{seed.id}"

    [detail] = _json(sqlite_url, "crawls", "show", str(second.crawl_id))
    assert detail["recrawl"]["not_modified"] == 9
    assert detail["recrawl"]["conditional_requests"] == 9
    assert detail["start_urls"] == [site.start_url]
    trend = detail["trend"][str(seed.id)]
    assert [t["id"] for t in trend] == [second.crawl_id, first.crawl_id]
    assert (trend[0]["hits_change"], trend[0]["pages_change"], trend[1]["hits_change"]) == (
        "+1", "+0", None)

    text = CliRunner().invoke(cli, ["--db", sqlite_url, "crawls", "show", str(second.crawl_id)])
    assert text.exit_code == 0, text.output
    assert "9 conditional requests, 9 not modified" in text.output
    assert f"Trend of seed #{seed.id}" in text.output

    by_schedule = _json(sqlite_url, "crawls", "list", "--schedule", "hourly", "--limit", "1")
    assert [c["id"] for c in by_schedule] == [second.crawl_id]


def test_crawls_list_filters_and_reasons(sqlite_url: str) -> None:
    from storage.seeds import SeedSpec, add_seeds

    store = open_store(sqlite_url)
    try:
        a, b = add_seeds(store, [SeedSpec(url="http://a.test/", domain="a.test"),
                                 SeedSpec(url="http://b.test/", domain="b.test")])
        done = start_crawl(store, start_urls=[a.url], seed_ids=[a.id])
        close_crawl(store, done, outcome="timeout", reason="exceeded its time budget of 60s")
        running = start_crawl(store, start_urls=[b.url], seed_ids=[b.id])
        assert due_schedules(store, T0) == []
    finally:
        store.close()
    assert [c["id"] for c in _json(sqlite_url, "crawls", "list", "--seed", str(a.id))] == [done]
    assert [c["id"] for c in _json(sqlite_url, "crawls", "list", "--outcome", "running")] == [
        running]
    [timed_out] = _json(sqlite_url, "crawls", "list", "--outcome", "timeout")
    assert timed_out["reason"] == "exceeded its time budget of 60s"
    table = CliRunner().invoke(cli, ["--db", sqlite_url, "crawls", "list"])
    assert "timeout" in table.output
    assert "running" in table.output
    missing = CliRunner().invoke(cli, ["--db", sqlite_url, "crawls", "show", "999"])
    assert missing.exit_code == 1
    assert "No crawl has id 999" in missing.output


def test_crawls_list_through_the_entry_point(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    crawl_id = start_crawl(store, start_urls=["http://c.test/"], seed_ids=[])
    close_crawl(store, crawl_id, outcome="failed", reason="the crawl process was killed")
    store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRAWL_DATABASE_URL": sqlite_url}
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "crawls", "show", str(crawl_id)],
        env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"Crawl {crawl_id}: failed" in done.stdout
    assert "the crawl process was killed" in done.stdout
