"""The operations API (/api/v1 seeds to notices) in-process: roles per area, the CLI's
validation and sentences, 422 naming the field (and the line of an uploaded file), CSRF for
cookie writes, pagination, and every change audited as the caller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crawler.cli.main import cli as cli_main
from crawler.config import Config
from crawler.services.seeds import SeedError, seed_specs
from crawler.web.app import create_app
from crawler.web.settings import WebSettings
from storage.audit import list_audit
from storage.crawls import finish_crawl, start_crawl, update_crawl_stats
from tests.web.helpers import Seeded, app_for, client, session_for, store_of
from tests.web.ops_helpers import confirmed_hits
from tests.web.test_routes import endpoints

GOOD_LIST = "hash_type,hash,label\nmd5,{0}1,a\nmd5,{0}2,b\n".format("0" * 31)
BAD_LIST = "hash_type,hash,label\nmd5,{0}1,a\nmd5,nothex,b\nmd5,{0}3,c\n".format("0" * 31)


def bearer(seeded: Seeded, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[name]}"}


def events(app: FastAPI, **filters: str) -> list[tuple[str, str, str, int | None]]:
    return [(e.actor, e.action, e.entity, e.entity_id)
            for e in list_audit(store_of(app), **filters)]  # type: ignore[arg-type]


# --- roles per area ----------------------------------------------------------------------

AREA_ROLES = {
    "seeds": {"analyst"}, "schedules": {"analyst"}, "crawls": {"analyst"},
    "providers": {"takedown"}, "notices": {"takedown"}, "recheck": {"takedown"},
    "lists": {"admin"},
}


def test_each_area_declares_its_role(app: FastAPI) -> None:
    """analyst: seeds, schedules, crawls; takedown: providers, notices, recheck; admin: lists
    (admin may do everything: tests/web/test_routes.py checks every route x every role)."""
    seen = set()
    for _method, path, roles in endpoints(app):
        area = path.removeprefix("/api/v1").strip("/").split("/")[0]
        if area in AREA_ROLES:
            assert roles == AREA_ROLES[area], (path, roles)
            seen.add(area)
    assert seen == set(AREA_ROLES)


# --- seeds -------------------------------------------------------------------------------


def test_seeds_are_validated_as_the_cli_does_and_audited(web: TestClient, app: FastAPI,
                                                         seeded: Seeded) -> None:
    r = web.post("/api/v1/seeds", headers=bearer(seeded, "ann"),
                 json={"urls": ["https://Example.ORG/forum#top"], "depth": 2, "tags": ["forum"]})
    assert r.status_code == 201, r.text
    [seed] = r.json()
    assert seed["url"] == "https://example.org/forum"  # the CLI's canonical form
    assert seed["tags"] == ["forum"]
    assert seed["depth"] == 2
    assert seed["active"]
    assert events(app, entity="seed") == [("ann", "add", "seed", seed["id"])]

    bad = ["ftp://example.org/", "https://example.org/ok"]
    with pytest.raises(SeedError) as cli_refusal:
        seed_specs(bad)
    r = web.post("/api/v1/seeds", headers=bearer(seeded, "ann"), json={"urls": bad})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == str(cli_refusal.value)  # the CLI's sentence, word for word
    assert r.json()["errors"][0]["field"] == "urls"
    assert len(web.get("/api/v1/seeds", headers=bearer(seeded, "ann")).json()["items"]) == 1

    r = web.post("/api/v1/seeds", headers=bearer(seeded, "ann"),
                 json={"urls": ["https://example.net/"], "tags": ["a,b"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "tags"
    r = web.post("/api/v1/seeds", headers=bearer(seeded, "ann"),
                 json={"urls": ["https://example.net/"], "depth": -1})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "depth"
    r = web.post("/api/v1/seeds", headers=bearer(seeded, "ann"), json={"urls": []})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "urls"


def test_seeds_pause_resume_filter_and_page(web: TestClient, app: FastAPI,
                                            seeded: Seeded) -> None:
    urls = [f"https://site{n}.example/" for n in range(5)]
    r = web.post("/api/v1/seeds", headers=bearer(seeded, "ada"),
                 json={"urls": urls, "tags": ["batch"]})
    ids = [s["id"] for s in r.json()]
    r = web.post(f"/api/v1/seeds/{ids[0]}/pause", headers=bearer(seeded, "ann"))
    assert r.status_code == 200
    assert r.json()["active"] is False
    assert web.post(f"/api/v1/seeds/{ids[0]}/pause",
                    headers=bearer(seeded, "ann")).status_code == 200  # no change, no event
    assert web.post(f"/api/v1/seeds/{ids[0]}/resume",
                    headers=bearer(seeded, "ann")).json()["active"] is True
    assert [e[:2] for e in events(app, entity="seed", actor="ann")] == [
        ("ann", "pause"), ("ann", "resume")]
    assert web.post("/api/v1/seeds/999/pause", headers=bearer(seeded, "ann")).status_code == 404

    first = web.get("/api/v1/seeds?limit=2", headers=bearer(seeded, "ann")).json()
    assert [s["id"] for s in first["items"]] == ids[:2]
    assert first["next_offset"] == 2
    last = web.get("/api/v1/seeds?limit=2&offset=4", headers=bearer(seeded, "ann")).json()
    assert [s["id"] for s in last["items"]] == ids[4:]
    assert last["next_offset"] is None
    r = web.get("/api/v1/seeds?limit=0", headers=bearer(seeded, "ann"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "limit"
    assert web.get("/api/v1/seeds?tag=nothing",
                   headers=bearer(seeded, "ann")).json()["items"] == []


def test_cookie_writes_need_the_csrf_header(web: TestClient, app: FastAPI) -> None:
    csrf = session_for(app, web, "ann")
    body = {"urls": ["https://example.org/"]}
    assert web.post("/api/v1/seeds", json=body).status_code == 403
    assert web.post("/api/v1/seeds", json=body,
                    headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert web.post("/api/v1/seeds", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert web.get("/api/v1/seeds").status_code == 200  # reads need none


# --- schedules ---------------------------------------------------------------------------


def test_schedules_add_pause_resume_run_now(web: TestClient, app: FastAPI,
                                            seeded: Seeded) -> None:
    headers = bearer(seeded, "ann")
    [seed] = web.post("/api/v1/seeds", headers=headers,
                      json={"urls": ["https://example.org/"], "tags": ["nightly"]}).json()
    r = web.post("/api/v1/schedules", headers=headers,
                 json={"name": "nightly", "tag": "nightly", "cron": "0 2 * * *"})
    assert r.status_code == 201, r.text
    nightly = r.json()["schedule"]
    assert nightly["when"] == "cron 0 2 * * *"
    assert nightly["next_due_at"].endswith("02:00:00Z")
    r = web.post("/api/v1/schedules", headers=headers,
                 json={"name": "watch", "seed_ids": [seed["id"]], "every": "6h",
                       "time_budget": "30m"})
    assert r.status_code == 201
    assert r.json()["schedule"]["when"] == "every 6h"
    r = web.post("/api/v1/schedules", headers=headers,
                 json={"name": "lonely", "tag": "nobody-has-it", "every": "1d"})
    assert r.status_code == 201
    assert "no seed has the tag" in r.json()["warnings"][0]

    for body, field in (
        ({"name": "x", "tag": "t", "cron": "not a cron"}, "cron"),
        ({"name": "x", "tag": "t", "cron": "0 2 * * *", "every": "1h"}, "cron"),
        ({"name": "x", "tag": "t", "every": "soon"}, "every"),
        ({"name": "x", "every": "1h"}, "seed_ids"),
        ({"name": "nightly", "tag": "t", "every": "1h"}, "name"),
        ({"name": "x", "tag": "t", "every": "1h", "time_budget": "forever"}, "time_budget"),
        ({"name": "x", "tag": "t", "every": "1h", "depth": -1}, "depth"),
    ):
        r = web.post("/api/v1/schedules", headers=headers, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, (body, r.json())

    sid = nightly["id"]
    assert web.post(f"/api/v1/schedules/{sid}/pause", headers=headers).json()["enabled"] is False
    assert web.post("/api/v1/schedules/nightly/resume", headers=headers).json()["enabled"]
    queued = web.post(f"/api/v1/schedules/{sid}/run-now", headers=headers).json()
    assert queued["next_due_at"] < nightly["next_due_at"]
    assert web.get("/api/v1/schedules/nightly", headers=headers).json()["id"] == sid
    assert web.post("/api/v1/schedules/nope/pause", headers=headers).status_code == 404
    assert [e[1] for e in events(app, entity="schedule", entity_id=sid)] == [
        "add", "pause", "resume", "run_now"]
    page = web.get("/api/v1/schedules?limit=2", headers=headers).json()
    assert len(page["items"]) == 2
    assert page["next_offset"] == 2
    assert web.delete("/api/v1/schedules/nightly", headers=headers).status_code == 204
    assert web.get("/api/v1/schedules/nightly", headers=headers).status_code == 404
    assert web.delete("/api/v1/schedules/nightly", headers=headers).status_code == 404
    [removed] = list_audit(store_of(app), entity="schedule", action="remove")
    assert removed.actor == "ann"
    assert json.loads(removed.detail or "{}")["cron"] == "0 2 * * *"


def test_schedule_allow_addresses_as_the_cli_takes_them(web: TestClient, app: FastAPI,
                                                        seeded: Seeded) -> None:
    """`allow_addresses` is `trawl schedule add --allow-address`: checked by the same
    service, stored, listed; a bad value is 422 naming the field and adds nothing."""
    headers = bearer(seeded, "ann")
    r = web.post("/api/v1/schedules", headers=headers,
                 json={"name": "lan", "tag": "lan", "every": "1d",
                       "allow_addresses": ["10.20.0.0/16", "[fd00::1]", "10.20.0.0/16"]})
    assert r.status_code == 201, r.text
    assert r.json()["schedule"]["allow_addresses"] == ["10.20.0.0/16", "fd00::1/128"]
    [listed] = web.get("/api/v1/schedules", headers=headers).json()["items"]
    assert listed["allow_addresses"] == ["10.20.0.0/16", "fd00::1/128"]
    cli = CliRunner().invoke(cli_main, ["--db", seeded.db_url, "schedule", "list",
                                        "--format", "json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)[0]["allow_addresses"] == listed["allow_addresses"]
    plain = web.post("/api/v1/schedules", headers=headers,
                     json={"name": "plain", "tag": "lan", "every": "1d"}).json()
    assert plain["schedule"]["allow_addresses"] == []

    for value in (["10.0.0.0/33"], ["not-an-address"], [""], ["fe80::1%eth0"], ["x" * 101]):
        r = web.post("/api/v1/schedules", headers=headers,
                     json={"name": "bad", "tag": "lan", "every": "1d", "allow_addresses": value})
        assert r.status_code == 422, (value, r.text)
        assert r.json()["errors"][0]["field"].startswith("allow_addresses"), (value, r.json())
    assert web.get("/api/v1/schedules/bad", headers=headers).status_code == 404
    r = web.post("/api/v1/schedules", headers=headers,
                 json={"name": "bad", "tag": "lan", "every": "1d",
                       "allow_addresses": ["10.0.0.1/8"]})
    assert "--allow-address" in r.json()["detail"]


# --- crawls ------------------------------------------------------------------------------


def test_crawls_history_live_counters_and_detail(web: TestClient, app: FastAPI,
                                                 seeded: Seeded) -> None:
    store = store_of(app)
    done = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[])
    finish_crawl(store, done, outcome="finished",
                 stats={"trawl/pages": 3, "trawl/drop/offsite": 2}, reason=None)
    running = start_crawl(store, start_urls=["http://127.0.0.1:9/x"], seed_ids=[])
    update_crawl_stats(store, running, {"trawl/pages": 5, "trawl/images": 7})
    headers = bearer(seeded, "ann")
    live = web.get("/api/v1/crawls?outcome=running", headers=headers).json()["items"]
    assert [(c["id"], c["pages"], c["images"]) for c in live] == [(running, 5, 7)]
    update_crawl_stats(store, running, {"trawl/pages": 9, "trawl/images": 7})
    live = web.get("/api/v1/crawls?outcome=running", headers=headers).json()["items"]
    assert live[0]["pages"] == 9
    everything = web.get("/api/v1/crawls?limit=1", headers=headers).json()
    assert [c["id"] for c in everything["items"]] == [running]
    assert everything["next_offset"] == 1
    detail = web.get(f"/api/v1/crawls/{done}", headers=headers).json()
    assert detail["dropped"] == {"offsite": 2}
    assert detail["start_urls"] == ["http://127.0.0.1:9/"]
    assert web.get("/api/v1/crawls/999", headers=headers).status_code == 404
    r = web.get("/api/v1/crawls?outcome=exploded", headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "outcome"


# --- lists -------------------------------------------------------------------------------


def test_list_upload_is_all_or_nothing_with_the_line_named(web: TestClient, app: FastAPI,
                                                           seeded: Seeded) -> None:
    headers = bearer(seeded, "ada")
    r = web.post("/api/v1/lists", headers=headers, data={"name": "bad"},
                 files={"file": ("hotline.csv", BAD_LIST.encode(), "text/csv")})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"] == [{"field": "file", "line": "3", "message": (
        "'nothex' is not a valid md5 hash: it contains non-hex characters 'hnotx'; want 32 "
        "hexadecimal characters (0-9, a-f)")}]
    assert problem["detail"].startswith("hotline.csv (uploaded), line 3:")
    assert "Nothing was imported" in problem["detail"]
    assert web.get("/api/v1/lists", headers=headers).json()["items"] == []

    r = web.post("/api/v1/lists", headers=headers,
                 files={"file": ("hotline.csv", GOOD_LIST.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "hotline"
    assert r.json()["added"] == 2
    [listed] = web.get("/api/v1/lists", headers=headers).json()["items"]
    assert listed["entry_count"] == 2
    assert listed["imported_by"] == "ada"
    assert listed["source_file"] == "hotline.csv (uploaded)"
    assert ("ada", "import", "list") in [e[:3] for e in events(app, entity="list")]

    r = web.post("/api/v1/lists", headers=headers, data={"format": "plain"},
                 files={"file": ("x.txt", b"0" * 32, "text/plain")})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "hash_type"
    r = web.post("/api/v1/lists", headers=headers, data={"format": "yaml"},
                 files={"file": ("x.txt", b"x", "text/plain")})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "format"
    assert web.post("/api/v1/lists", headers=bearer(seeded, "ann"),
                    files={"file": ("x.csv", GOOD_LIST.encode())}).status_code == 403


def test_uploads_are_size_limited_while_they_stream(seeded: Seeded) -> None:
    app = create_app(Config.build(db_url=seeded.db_url), WebSettings(max_upload_bytes=2000))
    with client(app) as web:
        big = ("hash_type,hash\n" + "md5,%s\n" % ("0" * 32) * 200).encode()
        r = web.post("/api/v1/lists", headers=bearer(seeded, "ada"),
                     files={"file": ("big.csv", big, "text/csv")})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert "larger than this server accepts" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b"x" * 1500
            yield b"x" * 1500

        r = web.post("/api/v1/seeds", headers={**bearer(seeded, "ann"),
                                               "content-type": "application/json"},
                     content=chunks())
        assert r.status_code == 413
        ok = web.post("/api/v1/lists", headers=bearer(seeded, "ada"),
                      files={"file": ("small.csv", GOOD_LIST.encode(), "text/csv")})
        assert ok.status_code == 201


# --- providers and notices -----------------------------------------------------------------


def test_provider_upload_names_every_bad_line(web: TestClient, seeded: Seeded) -> None:
    headers = bearer(seeded, "tom")
    bad = ("name,abuse_email,country,ranges,domains\n"
           "A,not-an-email,US,10.0.0.0/8,\nB,b@b.test,NL,300.1.1.1/8,\n")
    r = web.post("/api/v1/providers", headers=headers,
                 files={"file": ("providers.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422, r.text
    assert [e["line"] for e in r.json()["errors"]] == ["2", "3"]
    assert r.json()["detail"].startswith("providers.csv (uploaded): 2 problem(s)")
    assert web.get("/api/v1/providers", headers=headers).json()["items"] == []
    good = "name,abuse_email,country,ranges,domains\nA,abuse@a.test,US,10.0.0.0/8,a.test\n"
    r = web.post("/api/v1/providers", headers=headers,
                 files={"file": ("providers.csv", good.encode(), "text/csv")})
    assert r.status_code == 201
    assert r.json()["providers"] == ["A"]
    [provider] = web.get("/api/v1/providers", headers=headers).json()["items"]
    assert provider["ranges"] == ["10.0.0.0/8"]
    assert provider["domains"] == ["a.test"]


def test_notices_prepare_export_each_format_and_mark_sent(
    web: TestClient, app: FastAPI, seeded: Seeded, tmp_path: Path,
) -> None:
    confirmed_hits(store_of(app), str(tmp_path))
    headers = bearer(seeded, "tom")
    awaiting = web.get("/api/v1/notices/awaiting", headers=headers).json()
    assert [(g["provider"], g["new"], g["overdue"]) for g in awaiting] == [
        ("Big Cloud", 2, 0), ("Tiny Host", 1, 0)]
    r = web.post("/api/v1/notices/prepare", headers=headers, json={"provider": "big-cloud"})
    assert r.status_code == 200, r.text
    [notice] = r.json()
    reference = notice["reference"]
    assert notice["provider"] == "Big Cloud"
    assert len(notice["items"]) == 2
    assert notice["created_by"] == "tom"
    r = web.post("/api/v1/notices/prepare", headers=headers, json={"provider": "Nobody"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "provider"

    for fmt, media_type, ext in (("csv", "text/csv", "csv"), ("json", "application/json", "json"),
                                 ("text", "text/plain", "txt"), ("eml", "message/rfc822", "eml")):
        r = web.get(f"/api/v1/notices/{reference}/export?format={fmt}", headers=headers)
        assert r.status_code == 200, (fmt, r.text)
        assert r.headers["content-type"].startswith(media_type)
        assert r.headers["content-disposition"] == f'attachment; filename="{reference}.{ext}"'
        if fmt != "eml":  # verbatim (CSV- or JSON-quoted) in the file the provider gets
            assert "<script>alert(2)</script>.png" in r.text
    assert json.loads(web.get(f"/api/v1/notices/{reference}/export?format=json",
                              headers=headers).text)[0]["reference"] == reference
    r = web.get(f"/api/v1/notices/{reference}/export?format=pdf", headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "format"
    assert web.get("/api/v1/notices/TRAWL-nope/export", headers=headers).status_code == 404

    r = web.post(f"/api/v1/notices/{reference}/sent", headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["notified"]) == 2
    again = web.post(f"/api/v1/notices/{reference}/sent", headers=headers)
    assert again.status_code == 409
    assert "already marked sent" in again.json()["detail"]
    assert web.post("/api/v1/notices/TRAWL-nope/sent", headers=headers).status_code == 404
    got = web.get(f"/api/v1/notices/{reference}", headers=headers).json()
    assert got["sent_by"] == "tom"
    assert {i["status"] for i in got["items"]} == {"notified"}
    unsent = web.get("/api/v1/notices?unsent=true", headers=headers).json()["items"]
    assert unsent == []
    actions = [e[1] for e in events(app, entity="notice", actor="tom")]
    assert actions == ["create", "export", "export", "export", "export", "export", "sent"]


def test_recheck_with_nothing_to_check_names_the_field(web: TestClient,
                                                       seeded: Seeded) -> None:
    r = web.post("/api/v1/recheck", headers=bearer(seeded, "tom"), json={"hit_ids": [12345]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "hit_ids"
    assert "Nothing to re-check" in r.json()["detail"]


def test_due_renotices_are_listed_per_provider_and_prepared_alone(
    web: TestClient, app: FastAPI, seeded: Seeded, tmp_path: Path,
) -> None:
    from storage.notices import mark_sent, prepare_notices
    from tests.takedown_helpers import T0

    store = store_of(app)
    _a, _hostile, c, _pending = confirmed_hits(store, str(tmp_path))
    [big, tiny] = prepare_notices(store, actor="tom", now=T0)
    mark_sent(store, [tiny.reference], actor="tom", now=T0)  # long ago: a re-notice is due
    headers = bearer(seeded, "tom")
    awaiting = {g["provider"]: g for g in web.get("/api/v1/notices/awaiting",
                                                  headers=headers).json()}
    assert (awaiting["Tiny Host"]["new"], awaiting["Tiny Host"]["overdue"]) == (0, 1)
    [due_item] = awaiting["Tiny Host"]["items"]
    assert due_item["hit_id"] == c
    assert due_item["item_kind"] == "overdue"
    assert due_item["renotice_due_at"] == "2024-05-02T12:00:00Z"
    assert (awaiting["Big Cloud"]["new"], awaiting["Big Cloud"]["overdue"]) == (2, 0)
    due_only = web.get("/api/v1/notices/awaiting?due_only=true", headers=headers).json()
    assert [g["provider"] for g in due_only] == ["Tiny Host"]

    r = web.post("/api/v1/notices/prepare", headers=headers, json={"due_only": True})
    [renotice] = r.json()
    assert renotice["kind"] == "renotice"
    assert [i["hit_id"] for i in renotice["items"]] == [c]
    assert big.reference != renotice["reference"]
    first = web.get("/api/v1/notices?limit=2", headers=headers).json()
    assert len(first["items"]) == 2
    assert first["next_offset"] == 2
    rest = web.get("/api/v1/notices?limit=2&offset=2", headers=headers).json()
    assert len(rest["items"]) == 1
    assert rest["next_offset"] is None
    tiny_host = web.get("/api/v1/notices?provider=tiny%20host", headers=headers).json()
    assert {n["reference"] for n in tiny_host["items"]} == {tiny.reference,
                                                           renotice["reference"]}
    assert [n["reference"] for n in web.get("/api/v1/notices?unsent=true&provider=Tiny Host",
                                            headers=headers).json()["items"]] == [
        renotice["reference"]]
    session_for(app, web, "tom")
    html = web.get("/notices").text
    assert f"hit {c}, notified, due 2024-05-02T12:00:00Z" in html


def test_forms_and_json_bodies_have_a_small_limit(seeded: Seeded) -> None:
    app = app_for(seeded.db_url)
    with client(app) as web:
        urls = [f"https://site{n}.example/{'x' * 2000}" for n in range(1100)]  # ~2.2 MiB
        r = web.post("/api/v1/seeds", headers=bearer(seeded, "ann"), json={"urls": urls})
        assert r.status_code == 413
        r = web.post("/login", data={"name": "x" * (3 * 1024 * 1024), "password": "p"})
        assert r.status_code == 413


def test_seed_tags_replaced_with_the_cli_rules(web: TestClient, app: FastAPI,
                                               seeded: Seeded) -> None:
    headers = bearer(seeded, "ann")
    [seed] = web.post("/api/v1/seeds", headers=headers,
                      json={"urls": ["https://example.org/"], "tags": ["a"]}).json()
    r = web.post(f"/api/v1/seeds/{seed['id']}/tags", headers=headers,
                 json={"tags": [" forum ", "uk", "forum"]})
    assert r.status_code == 200
    assert r.json()["tags"] == ["forum", "uk"]
    assert [s["id"] for s in web.get("/api/v1/seeds?tag=uk", headers=headers).json()[
        "items"]] == [seed["id"]]
    r = web.post(f"/api/v1/seeds/{seed['id']}/tags", headers=headers, json={"tags": ["a,b"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "tags"
    assert web.post(f"/api/v1/seeds/{seed['id']}/tags", headers=headers,
                    json={"tags": []}).json()["tags"] == []
    assert web.post("/api/v1/seeds/999/tags", headers=headers,
                    json={"tags": []}).status_code == 404
    tagged = [e for e in list_audit(store_of(app), entity="seed", action="tag")]
    assert [(e.actor, json.loads(e.detail or "{}")) for e in tagged] == [
        ("ann", {"from": ["a"], "to": ["forum", "uk"]}),
        ("ann", {"from": ["forum", "uk"], "to": []})]


def test_a_running_crawl_marked_failed_as_the_cli_does(web: TestClient, app: FastAPI,
                                                      seeded: Seeded) -> None:
    store = store_of(app)
    running = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[])
    headers = bearer(seeded, "ann")
    r = web.post(f"/api/v1/crawls/{running}/mark-failed", headers=headers,
                 json={"reason": "   "})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"
    r = web.post(f"/api/v1/crawls/{running}/mark-failed", headers=headers,
                 json={"reason": "machine rebooted"})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "failed"
    assert r.json()["reason"] == "marked failed by ann: machine rebooted"
    again = web.post(f"/api/v1/crawls/{running}/mark-failed", headers=headers, json={})
    assert again.status_code == 409
    assert web.post("/api/v1/crawls/999/mark-failed", headers=headers,
                    json={}).status_code == 404
    assert [(e.actor, e.action) for e in list_audit(store, entity="crawl")] == [
        ("ann", "crawl_marked_failed")]
