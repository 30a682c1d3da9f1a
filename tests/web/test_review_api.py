"""The review API and pages in-process: roles, CSRF, input errors, paging, decisions,
claims, the same figures as `trawl stats`, and crawled strings never loaded."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crawler.cli.main import cli
from crawler.config import Config
from crawler.web.app import create_app
from storage.audit import list_audit
from tests.takedown_helpers import T0
from tests.web.helpers import ROLE_ACCOUNT, Seeded, session_for, store_of
from tests.web.reviewdata import (
    CRAWLED_HOST,
    HOSTILE_LABEL,
    HOSTILE_PAGE,
    HOSTILE_URL,
    review_hits,
    takedown_history,
)

NOW = T0 + timedelta(days=3)
ROLES = ("analyst", "takedown", "admin")


@pytest.fixture
def app(seeded: Seeded) -> FastAPI:
    return create_app(Config(db_url=seeded.db_url, now=NOW))


@pytest.fixture
def ids(app: FastAPI) -> list[int]:
    return review_hits(store_of(app))


def bearer(seeded: Seeded, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[ROLE_ACCOUNT[role]]}"}


def test_every_review_route_for_every_role(web: TestClient, seeded: Seeded,
                                           ids: list[int]) -> None:
    first, second, third = ids[:3]
    routes = [  # (method, path, body, roles allowed besides admin)
        ("GET", "/api/v1/hits", None, {"analyst"}),
        ("GET", f"/api/v1/hits/{first}", None, {"analyst"}),
        ("GET", "/api/v1/review/queue", None, {"analyst"}),
        ("POST", "/api/v1/review/claim", {"limit": 1}, {"analyst"}),
        ("GET", "/api/v1/stats", None, {"analyst", "takedown"}),
    ]
    for method, path, body, roles in routes:
        assert web.request(method, path, json=body).status_code == 401, path
        for role in ROLES:
            r = web.request(method, path, json=body, headers=bearer(seeded, role))
            expected = 200 if role == "admin" or role in roles else 403
            assert r.status_code == expected, (path, role, r.text)
            if expected == 403:
                assert r.headers["content-type"] == "application/problem+json"
                assert "analyst" in r.json()["detail"]
    # Decisions: the takedown role is refused, analysts and admins decide (one image each).
    for verb in ("confirm", "reject"):
        r = web.post(f"/api/v1/hits/{first}/{verb}", headers=bearer(seeded, "takedown"))
        assert r.status_code == 403
    r = web.post(f"/api/v1/hits/{first}/confirm", headers=bearer(seeded, "analyst"))
    assert (r.status_code, r.json()["to_state"]) == (200, "confirmed")
    r = web.post(f"/api/v1/hits/{second}/reject", json={"note": "a logo"},
                 headers=bearer(seeded, "admin"))
    assert (r.status_code, r.json()["to_state"]) == (200, "rejected")
    assert web.post(f"/api/v1/hits/{third}/confirm").status_code == 401


def test_cookie_writes_need_the_csrf_header(app: FastAPI, web: TestClient,
                                            ids: list[int]) -> None:
    csrf = session_for(app, web, "ann")
    url = f"/api/v1/hits/{ids[0]}/confirm"
    assert web.post(url).status_code == 403
    r = web.post(url, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]
    assert web.post("/api/v1/review/claim", headers={"X-CSRF-Token": ""}).status_code == 403
    assert web.post(url, headers={"X-CSRF-Token": csrf}).status_code == 200
    # The page forms likewise.
    assert web.post(f"/review/{ids[1]}/confirm", data={"csrf_token": "wrong"},
                    follow_redirects=False).status_code == 403
    assert web.post(f"/review/{ids[1]}/confirm", follow_redirects=False).status_code == 403
    assert web.post("/review/claim", data={"tier": "high"},
                    follow_redirects=False).status_code == 403
    r = web.post(f"/review/{ids[1]}/confirm", data={"csrf_token": csrf},
                 follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("GET", "/api/v1/hits?limit=0", None, "limit"),
    ("GET", "/api/v1/hits?limit=501", None, "limit"),
    ("GET", "/api/v1/hits?offset=-1", None, "offset"),
    ("GET", "/api/v1/hits?status=gone", None, "status"),
    ("GET", "/api/v1/hits?tier=top", None, "tier"),
    ("GET", "/api/v1/hits/abc", None, "hit_id"),
    ("GET", "/api/v1/review/queue?tier=top", None, "tier"),
    ("POST", "/api/v1/review/claim", {"limit": 0}, "limit"),
    ("POST", "/api/v1/review/claim", {"tier": "top"}, "tier"),
    ("POST", "/api/v1/review/claim", {"claim_minutes": -5}, "claim_minutes"),
    ("POST", "/api/v1/hits/1/reject", {"note": "x" * 2001}, "note"),
    ("POST", "/api/v1/hits/1/confirm", {"note": 12}, "note"),
    ("GET", "/api/v1/stats?oldest=-1", None, "oldest"),
])
def test_bad_input_is_422_naming_the_field(web: TestClient, seeded: Seeded, method: str,
                                           path: str, body: object, field: str) -> None:
    r = web.request(method, path, json=body, headers=bearer(seeded, "analyst"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert field in [e["field"] for e in problem["errors"]]
    assert field in problem["detail"]


def test_hits_paging_and_filters(web: TestClient, seeded: Seeded, ids: list[int]) -> None:
    headers = bearer(seeded, "analyst")
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = web.get(f"/api/v1/hits?limit=2&offset={offset}", headers=headers).json()
        assert page["limit"] == 2
        assert len(page["items"]) <= 2
        seen += [h["id"] for h in page["items"]]
        offset = page["next_offset"]
    assert len(seen) == len(ids) + 1  # the low-tier image too ("all" is the API default)
    assert seen == sorted(seen, reverse=True)
    high = web.get("/api/v1/hits?tier=high&limit=50", headers=headers).json()["items"]
    assert sorted(h["id"] for h in high) == ids
    low = web.get("/api/v1/hits?tier=low", headers=headers).json()["items"]
    assert [h["host"] for h in low] == ["127.0.0.3"]
    on_host = web.get(f"/api/v1/hits?host={CRAWLED_HOST}", headers=headers).json()["items"]
    assert sorted(h["id"] for h in on_host) == ids
    assert web.get("/api/v1/hits?host=nowhere.test", headers=headers).json()["items"] == []
    web.post(f"/api/v1/hits/{ids[0]}/confirm", headers=headers)
    confirmed = web.get("/api/v1/hits?status=confirmed", headers=headers).json()["items"]
    assert [h["id"] for h in confirmed] == [ids[0]]
    evidence = confirmed[0]
    assert evidence["media_url"] == HOSTILE_URL
    assert evidence["page_urls"] == [HOSTILE_PAGE, "http://127.0.0.2:9/gallery"]
    assert evidence["matches"][0]["label"] == HOSTILE_LABEL
    assert evidence["provider"].startswith("unattributed")


def test_decisions_are_audited_and_refusals_are_problems(web: TestClient, seeded: Seeded,
                                                          app: FastAPI, ids: list[int]) -> None:
    ann, admin = bearer(seeded, "analyst"), bearer(seeded, "admin")
    r = web.post(f"/api/v1/hits/{ids[0]}/reject", json={"note": "a company logo"}, headers=ann)
    assert r.json() == {"id": ids[0], "from_state": "pending", "to_state": "rejected",
                        "confirmations": 0, "required": 1, "counted": True}
    again = web.post(f"/api/v1/hits/{ids[0]}/confirm", headers=admin)
    assert again.status_code == 409
    assert "rejected" in again.json()["detail"]
    missing = web.post("/api/v1/hits/999999/confirm", headers=ann)
    assert missing.status_code == 404
    assert web.get("/api/v1/hits/999999", headers=ann).status_code == 404
    events = list_audit(store_of(app), entity="hit", entity_id=ids[0])
    assert [(e.actor, e.action, e.detail) for e in events] == [
        ("ann", "reject", "a company logo")]
    detail = web.get(f"/api/v1/hits/{ids[0]}", headers=ann).json()
    assert detail["status"] == "rejected"
    assert detail["history"][-1]["actor"] == "ann"
    assert detail["votes"] == [{"actor": "ann", "decision": "reject", "note": "a company logo",
                                "at": "2024-05-04T12:00:00Z"}]


def test_claims_keep_others_off_and_are_shown(app: FastAPI, web: TestClient, seeded: Seeded,
                                              ids: list[int]) -> None:
    ann = bearer(seeded, "analyst")
    zed = {"Authorization": f"Bearer {seeded.tokens['zed']}"}
    claimed = web.post("/api/v1/review/claim", json={"limit": 2}, headers=ann).json()
    assert [h["id"] for h in claimed] == ids[:2]
    assert {h["claimed_by"] for h in claimed} == {"ann"}
    queue = web.get("/api/v1/review/queue", headers=zed).json()
    assert [h["id"] for h in queue["next_up"]] == ids[2:]
    assert queue["holders"][0]["actor"] == "ann"
    assert queue["holders"][0]["images"] == 2
    refused = web.post(f"/api/v1/hits/{ids[0]}/confirm", headers=zed)
    assert refused.status_code == 409
    assert "claimed by ann" in refused.json()["detail"]
    mine = web.get("/api/v1/review/queue", headers=ann).json()
    assert [h["id"] for h in mine["mine"]] == ids[:2]
    session_for(app, web, "zed")
    page = web.get("/review").text
    assert "2 images claimed by ann for 30 min" in page
    assert f'id="hit-{ids[0]}"' not in page


def test_stats_are_the_clis_figures(app: FastAPI, web: TestClient, seeded: Seeded,
                                    ids: list[int]) -> None:
    takedown_history(store_of(app), ids, NOW - timedelta(days=2))
    api = web.get("/api/v1/stats", headers=bearer(seeded, "takedown")).json()
    out = CliRunner().invoke(cli, ["--db", seeded.db_url, "stats", "--format", "json"],
                             env={"TRAWL_NOW": "2024-05-04T12:00:00Z", "TRAWL_USER": ""})
    assert out.exit_code == 0, out.output
    assert api == json.loads(out.stdout)
    assert api["hits_by_status"]["removed"] == 1
    assert api["providers"][0]["median_hours"] == 30.0
    assert api["renotices_due"] == 1
    assert len(api["crawls_by_day"]) == 7
    session_for(app, web, "tom")
    page = web.get("/").text
    assert '<td data-state="removed">1</td>' in page
    assert "<svg" in page
    assert "30 h" in page


def hrefs_and_sources(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action|formaction|poster|data)="([^"]*)"', html)


def test_pages_show_crawled_strings_as_text_and_never_load_them(
        app: FastAPI, web: TestClient, ids: list[int]) -> None:
    session_for(app, web, "ann")
    for path in ("/review", "/hits", f"/hits/{ids[0]}", "/review?tier=all"):
        r = web.get(path)
        assert r.status_code == 200, path
        html = r.text
        assert "<script>alert" not in html
        assert "<img" not in html
        assert "<iframe" not in html
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html, path
        assert "url(" not in html
        assert "prefetch" not in html
        assert "preload" not in html
        for target in hrefs_and_sources(html):
            assert "127.0.0.2" not in target or target.startswith("http://127.0.0.2:9/"), target
            assert not target.lower().startswith("javascript:"), (path, target)
        for link in re.findall(r"<a [^>]*127\.0\.0\.2[^>]*>", html):
            assert 'rel="noreferrer noopener"' in link, link
        assert re.search(r"<script\b[^>]*>[^<]", html) is None  # no inline script
    detail = web.get(f"/hits/{ids[0]}").text
    assert HOSTILE_PAGE in detail  # as text
    assert 'href="javascript:' not in detail
    assert "127.0.0.2" in web.get("/hits?host=127.0.0.2").text


def test_review_page_flow(app: FastAPI, web: TestClient, ids: list[int]) -> None:
    csrf = session_for(app, web, "ann")
    page = web.get("/review").text
    assert [int(i) for i in re.findall(r'data-hit="(\d+)"', page)] == ids
    assert "low" not in re.findall(r"badge tier-(\w+)", page)
    assert "127.0.0.3" in web.get("/review?tier=low").text
    r = web.post("/review/claim", data={"csrf_token": csrf, "tier": "high"},
                 follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/review?tier=high")
    page = web.get("/review").text
    assert page.count("claimed by you for 30 min") == len(ids)
    r = web.post(f"/review/{ids[0]}/reject", data={"csrf_token": csrf, "note": "logo"},
                 follow_redirects=True)
    assert f"hit {ids[0]} rejected" in r.text
    assert f'data-hit="{ids[0]}"' not in r.text
    assert "Go to evil" not in web.get("/review?decided=1&outcome=Go%20to%20evil").text
    r = web.post(f"/review/{ids[0]}/confirm", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert "rejected" in r.text
    r = web.post(f"/review/{ids[1]}/confirm",
                 data={"csrf_token": csrf, "back": f"/hits/{ids[1]}"}, follow_redirects=False)
    assert r.headers["location"] == f"/hits/{ids[1]}"
    r = web.post(f"/review/{ids[2]}/confirm",
                 data={"csrf_token": csrf, "back": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    detail = web.get(f"/hits/{ids[1]}").text
    assert "confirmed" in detail
    assert "ann" in detail


def test_openapi_documents_the_review_routes_with_problems(web: TestClient) -> None:
    doc = web.get("/api/openapi.json").json()
    for path in ("/api/v1/hits", "/api/v1/hits/{hit_id}", "/api/v1/hits/{hit_id}/confirm",
                 "/api/v1/hits/{hit_id}/reject", "/api/v1/review/queue",
                 "/api/v1/review/claim", "/api/v1/stats"):
        operations = doc["paths"][path]
        for operation in operations.values():
            assert "application/problem+json" in operation["responses"]["403"]["content"]
