"""`trawl crawls mark-failed`: an operator frees the seeds of a crawl whose process died."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from storage.audit import list_audit
from storage.crawls import get_crawl, running_seed_ids, start_crawl
from storage.db import open_store
from storage.seeds import SeedSpec, add_seeds

pytestmark = pytest.mark.hostile



def test_mark_failed(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        seed = add_seeds(store, [SeedSpec("http://127.0.0.1:1/", "127.0.0.1")])[0].id
        crawl_id = start_crawl(store, start_urls=["http://127.0.0.1:1/"], seed_ids=[seed],
                               pid=999_999)
        runner = CliRunner()
        nobody = runner.invoke(cli, ["--db", sqlite_url, "crawls", "mark-failed", str(crawl_id)],
                               env={"TRAWL_USER": ""})
        assert nobody.exit_code == 1
        assert "--as NAME" in nobody.output
        as_alice = ["--db", sqlite_url, "--as", "alice", "crawls", "mark-failed"]
        done = runner.invoke(cli, [*as_alice, str(crawl_id), "--reason", "kill -9"])
        assert done.exit_code == 0, done.output
        assert f"Crawl {crawl_id} marked failed (marked failed by alice: kill -9)" in done.output
        assert f"seeds (#{seed}) can be crawled again" in done.output
        assert get_crawl(store, crawl_id).outcome == "failed"
        assert running_seed_ids(store) == set()
        assert list_audit(store, entity="crawl")[-1].actor == "alice"
        again = runner.invoke(cli, [*as_alice, str(crawl_id)])
        assert again.exit_code == 1
        assert "already ended (failed" in again.output
        missing = runner.invoke(cli, [*as_alice, "999"])
        assert missing.exit_code == 1
        assert "No crawl has id 999" in missing.output
    finally:
        store.close()
