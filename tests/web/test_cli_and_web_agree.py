"""The CLI and the web API give the same figures: seeds, schedules, crawls, lists,
providers and notices, read through `trawl ... --format json` and /api/v1 on one database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.clock import iso_z
from crawler.config import Config
from crawler.web.app import create_app
from storage.crawls import finish_crawl, start_crawl, update_crawl_stats
from storage.notices import prepare_notices
from storage.review import decide
from tests.takedown_helpers import T0
from tests.web.helpers import Seeded, app_for, client, session_for, store_of
from tests.web.ops_helpers import confirmed_hits
from tests.web.reviewdata import review_hits, takedown_history
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
        post("/api/v1/schedules", "ann", json={"name": "w", "tag": "t", "every": "6h",
                                               "allow_addresses": ["10.9.0.0/16"]})
        post("/api/v1/lists", "ada", files={"file": ("l.csv", GOOD_LIST.encode(), "text/csv")})

        def fields(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[tuple[Any, ...]]:
            return [tuple(row[n] for n in names) for row in rows]

        seed_fields = ("id", "url", "domain", "depth", "max_pages", "active", "tags")
        assert fields(api("/api/v1/seeds", "ann")["items"], seed_fields) == fields(
            trawl(seeded.db_url, "seeds", "list"), seed_fields)

        schedule_fields = ("id", "name", "seed_tag", "interval_seconds", "enabled",
                           "allow_addresses")
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


def test_cli_and_web_agree_on_hits_and_the_dashboard(seeded: Seeded) -> None:
    """`trawl hits list` and GET /api/v1/hits (paged) list the same images for every state
    and tier; `trawl stats`, the API's figures and the dashboard count the same."""
    now = T0 + timedelta(days=3)
    app = create_app(Config(db_url=seeded.db_url, now=now))
    store = store_of(app)
    ids = review_hits(store, count=6)
    takedown_history(store, ids, T0 + timedelta(days=1))
    decide(store, [ids[2]], actor="ann", decision="reject", now=T0 + timedelta(days=1))
    keys = ("id", "status", "tier", "confidence", "media_url", "page_count", "confirmations")
    with client(app) as web:
        headers = {"Authorization": f"Bearer {seeded.tokens['ann']}"}

        def api_hits(query: str) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            offset: int | None = 0
            while offset is not None:
                r = web.get(f"/api/v1/hits?{query}&limit=2&offset={offset}", headers=headers)
                assert r.status_code == 200, r.text
                rows += r.json()["items"]
                offset = r.json()["next_offset"]
            return rows

        counted: dict[str, int] = {}
        for status in (None, "pending", "confirmed", "rejected", "notified", "live", "removed"):
            for tier in ("high", "low", "all"):
                cli_rows = trawl(seeded.db_url, "hits", "list", "--tier", tier,
                                 *(["--status", status] if status else []))
                web_rows = api_hits(f"tier={tier}" + (f"&status={status}" if status else ""))
                assert [tuple(r[k] for k in keys) for r in cli_rows] == [
                    tuple(r[k] for k in keys) for r in web_rows], (status, tier)
                if status and tier == "all":
                    counted[status] = len(cli_rows)
        assert counted == {"pending": 4, "confirmed": 0, "rejected": 1, "notified": 1,
                           "live": 0, "removed": 1}

        out = CliRunner().invoke(cli, ["--db", seeded.db_url, "stats", "--format", "json"],
                                 env={"TRAWL_NOW": iso_z(now), "TRAWL_USER": ""})
        assert out.exit_code == 0, out.output
        figures = json.loads(out.stdout)
        assert web.get("/api/v1/stats", headers=headers).json() == figures
        assert figures["hits_by_status"] == counted
        session_for(app, web, "tom")
        page = web.get("/").text
        for status, n in counted.items():
            assert f'<td data-state="{status}">{n}</td>' in page
