"""The CLI and the web API give the same figures: seeds, schedules, crawls, lists,
providers and notices, read through `trawl ... --format json` and /api/v1 on one database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from crawler.cli.main import cli
from storage.crawls import finish_crawl, start_crawl, update_crawl_stats
from storage.notices import prepare_notices
from tests.takedown_helpers import T0
from tests.web.helpers import Seeded, app_for, client, store_of
from tests.web.ops_helpers import confirmed_hits
from tests.web.test_operations_api import GOOD_LIST


def trawl(db_url: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db_url, *args, "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_and_api_agree(seeded: Seeded, tmp_path: Path) -> None:
    app = app_for(seeded.db_url)
    store = store_of(app)
    confirmed_hits(store, str(tmp_path))
    prepare_notices(store, actor="tom", now=T0)
    done = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[])
    finish_crawl(store, done, outcome="finished", stats={"trawl/pages": 3, "trawl/hits": 1},
                 reason=None)
    running = start_crawl(store, start_urls=["http://127.0.0.1:9/x"], seed_ids=[])
    update_crawl_stats(store, running, {"trawl/pages": 5, "trawl/images": 2})
    with client(app) as web:
        def api(path: str, name: str) -> Any:
            r = web.get(path, headers={"Authorization": f"Bearer {seeded.tokens[name]}"})
            assert r.status_code == 200, r.text
            return r.json()

        def post(path: str, name: str, **kwargs: Any) -> Any:
            r = web.post(path, headers={"Authorization": f"Bearer {seeded.tokens[name]}"},
                         **kwargs)
            assert r.status_code in (200, 201), r.text
            return r.json()

        post("/api/v1/seeds", "ann", json={"urls": ["https://example.org/a", "http://127.0.0.1:8/"],
                                           "tags": ["t"], "depth": 1})
        post("/api/v1/schedules", "ann", json={"name": "w", "tag": "t", "every": "6h"})
        post("/api/v1/lists", "ada", files={"file": ("l.csv", GOOD_LIST.encode(), "text/csv")})

        def fields(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[tuple[Any, ...]]:
            return [tuple(row[n] for n in names) for row in rows]

        seed_fields = ("id", "url", "domain", "depth", "max_pages", "active", "tags")
        assert fields(api("/api/v1/seeds", "ann")["items"], seed_fields) == fields(
            trawl(seeded.db_url, "seeds", "list"), seed_fields)

        schedule_fields = ("id", "name", "seed_tag", "interval_seconds", "enabled")
        assert fields(api("/api/v1/schedules", "ann")["items"], schedule_fields) == fields(
            trawl(seeded.db_url, "schedule", "list"), schedule_fields)

        crawl_fields = ("id", "outcome", "pages", "images", "hashed", "hits", "errors")
        assert fields(api("/api/v1/crawls", "ann")["items"], crawl_fields) == fields(
            trawl(seeded.db_url, "crawls", "list"), crawl_fields)

        list_fields = ("id", "name", "entry_count", "imported_by")
        assert fields(api("/api/v1/lists", "ada")["items"], list_fields) == fields(
            trawl(seeded.db_url, "hashes", "lists"), list_fields)

        provider_fields = ("id", "name", "abuse_email", "ranges", "domains")
        assert fields(api("/api/v1/providers", "tom")["items"], provider_fields) == fields(
            trawl(seeded.db_url, "providers", "list"), provider_fields)

        web_notices = [(n["reference"], n["provider"], len(n["items"]),
                        [i["hit_id"] for i in n["items"]])
                       for n in api("/api/v1/notices", "tom")["items"]]
        cli_notices = [(n["reference"], n["provider"], n["urls"], n["hit_ids"])
                       for n in trawl(seeded.db_url, "notices", "list")]
        assert web_notices == cli_notices
        assert len(web_notices) == 2
