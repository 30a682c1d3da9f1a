"""The operations pages in-process: forms post through the same services as the API,
refusals are shown on the page (status 422, the field marked), every crawled string is
escaped and never loaded, and downloads are attachments."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from storage.audit import list_audit
from storage.schedules import list_schedules
from tests.web.helpers import Seeded, session_for, store_of
from tests.web.ops_helpers import confirmed_hits

TAG = re.compile(r"<(img|iframe|video|audio|object|embed|link)\b[^>]*>", re.IGNORECASE)


def test_seed_form_adds_with_the_cli_rules_and_shows_refusals(web: TestClient,
                                                              app: FastAPI) -> None:
    csrf = session_for(app, web, "ann")
    r = web.post("/seeds", data={"csrf_token": csrf, "urls": "https://example.org/\n\n",
                                 "depth": "1", "tags": "forum, big"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/seeds?done=added"
    page = web.get("/seeds?done=added").text
    assert "Seeds added." in page
    assert "https://example.org/" in page
    assert [(e.actor, e.action) for e in list_audit(store_of(app), entity="seed")] == [
        ("ann", "add")]

    r = web.post("/seeds", data={"csrf_token": csrf, "urls": "javascript:alert(1)"})
    assert r.status_code == 422
    assert 'id="seed-urls" name="urls" rows="4" required aria-invalid="true"' in r.text
    assert "javascript:alert(1)" in r.text  # the form keeps what was typed, escaped
    r = web.post("/seeds", data={"csrf_token": csrf, "urls": "https://example.net/",
                                 "max_pages": "0"})
    assert r.status_code == 422
    assert 'name="max_pages" type="number" min="1" value="0" aria-invalid="true"' in r.text
    seed_id = re.search(r'action="/seeds/(\d+)/pause"', page)
    assert seed_id is not None
    r = web.post(f"/seeds/{seed_id.group(1)}/pause", data={"csrf_token": csrf},
                 follow_redirects=False)
    assert r.status_code == 303
    assert ">paused<" in web.get("/seeds?state=paused").text
    r = web.post(f"/seeds/{seed_id.group(1)}/tags", data={"csrf_token": csrf,
                                                         "tags": "forum, uk"},
                 follow_redirects=False)
    assert r.status_code == 303
    assert 'value="forum, uk"' in web.get("/seeds?tag=uk").text


def test_schedule_form_marks_the_field_at_fault(web: TestClient, app: FastAPI) -> None:
    csrf = session_for(app, web, "ann")
    r = web.post("/schedules", data={"csrf_token": csrf, "name": "nightly", "tag": "x",
                                     "when": "cron", "cron": "99 * * * *"})
    assert r.status_code == 422
    assert 'name="cron" value="99 * * * *" placeholder="0 2 * * *" aria-label="Cron ' \
           'expression" aria-invalid="true"' in r.text
    r = web.post("/schedules", data={"csrf_token": csrf, "name": "nightly", "tag": "x",
                                     "when": "every", "every": "6h"})
    assert r.status_code == 200  # added, with the warning that no seed has the tag
    assert "Warning: no seed has the tag" in r.text
    assert "every 6h" in r.text
    schedule_id = re.search(r'action="/schedules/(\d+)/remove"', r.text)
    assert schedule_id is not None
    r = web.post(f"/schedules/{schedule_id.group(1)}/remove", data={"csrf_token": csrf},
                 follow_redirects=False)
    assert r.status_code == 303
    page = web.get(r.headers["location"]).text
    assert "Schedule removed" in page
    assert "No schedules yet." in page


def test_schedule_form_takes_the_allowed_addresses(web: TestClient, app: FastAPI) -> None:
    csrf = session_for(app, web, "ann")
    form = {"csrf_token": csrf, "name": "lan", "tag": "lan", "when": "every", "every": "1d"}
    r = web.post("/schedules", data={**form, "allow_addresses": "10.20.0.0/16 10.0.0.0/33"})
    assert r.status_code == 422
    assert "--allow-address &#39;10.0.0.0/33&#39; is not an IP address" in r.text
    assert ('name="allow_addresses" value="10.20.0.0/16 10.0.0.0/33" maxlength="2000" '
            'placeholder="10.20.0.0/16" aria-invalid="true"') in r.text
    assert "No schedules yet." in r.text
    r = web.post("/schedules", data={**form, "allow_addresses": "10.20.0.0/16, fd00::/8"})
    assert r.status_code == 200, r.text  # added, with the tag warning
    assert "may reach 10.20.0.0/16 fd00::/8" in r.text
    [schedule] = list_schedules(store_of(app))
    assert schedule.allow_addresses == ("10.20.0.0/16", "fd00::/8")


def test_provider_upload_page_lists_each_bad_line(web: TestClient, app: FastAPI) -> None:
    csrf = session_for(app, web, "tom")
    bad = ("name,abuse_email,country,ranges,domains\n"
           "A,nope,US,10.0.0.0/8,\nB,b@b.test,NL,not-a-range,\n")
    r = web.post("/providers", data={"csrf_token": csrf},
                 files={"file": ("my providers.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    items = re.findall(r'<li><span class="line">line (\d+)</span>', r.text)
    assert items == ["2", "3"]
    assert "my providers.csv (uploaded): 2 problem(s); nothing was imported." in r.text
    r = web.post("/providers", data={"csrf_token": csrf})
    assert r.status_code == 422
    assert "Choose a provider file" in r.text


def test_notices_page_escapes_crawled_strings_and_downloads(
    web: TestClient, app: FastAPI, tmp_path: Path,
) -> None:
    confirmed_hits(store_of(app), str(tmp_path))
    csrf = session_for(app, web, "tom")
    r = web.post("/notices/prepare", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert "2 notice(s) ready" in r.text
    html = r.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert TAG.findall(html) == [("link")] * 2  # the stylesheet and the icon only
    assert 'href="javascript:' not in html
    references = re.findall(r'data-reference="([^"]+)"', html)
    assert len(references) == 2

    r = web.get(f"/notices/{references[0]}/download?format=eml")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="{references[0]}.eml"'
    assert r.headers["content-type"] == "message/rfc822"
    r = web.get(f"/notices/{references[0]}/download?format=exe")
    assert r.status_code == 422
    assert "format must be one of csv, json, text, eml" in r.text

    r = web.post("/recheck", data={"csrf_token": csrf})  # nothing notified yet
    assert r.status_code == 422
    assert "Nothing to re-check" in r.text

    r = web.post(f"/notices/{references[0]}/sent", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert f"{references[0]} marked sent" in r.text
    r = web.post(f"/notices/{references[0]}/sent", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert "already marked sent" in r.text


def test_crawls_page_polls_the_api_without_inline_script(web: TestClient,
                                                         app: FastAPI) -> None:
    session_for(app, web, "ann")
    html = web.get("/crawls").text
    assert '<script src="/static/crawls.js" defer></script>' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert 'data-poll-url="/api/v1/crawls?outcome=running&amp;limit=100"' in html
    js = web.get("/static/crawls.js").text
    assert ".innerHTML" not in js
    assert "textContent" in js


def test_audit_page_filters_operations_by_entity_and_actor(web: TestClient,
                                                           app: FastAPI) -> None:
    csrf = session_for(app, web, "ann")
    web.post("/seeds", data={"csrf_token": csrf, "urls": "https://example.org/"})
    html = web.get("/audit?actor=ann&entity=seed&action=add").text
    rows = re.findall(r"<tr>\s*<td>", html)
    assert len(rows) == 1
    assert "https://example.org/" in html
    assert "No events match." in web.get("/audit?actor=tom&entity=seed").text


def test_audit_filters_suggest_values_and_refuse_a_reversed_range(
    web: TestClient, app: FastAPI, seeded: Seeded,
) -> None:
    session_for(app, web, "tom")
    html = web.get("/audit").text
    assert '<datalist id="audit-actors">' in html
    assert '<option value="ann">' in html
    assert '<option value="seed">' in html
    r = web.get("/audit?since=2026-05-02&until=2026-05-01")
    assert r.status_code == 422
    assert "until: 2026-05-01 is before since (2026-05-02)" in r.text
    assert web.get("/audit?since=2026-05-01&until=2026-05-01").status_code == 200
    r = web.get("/api/v1/audit?since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z",
                headers={"Authorization": f"Bearer {seeded.tokens['tom']}"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "until"



def test_crawl_page_marks_a_dead_crawl_failed(web: TestClient, app: FastAPI) -> None:
    from storage.crawls import start_crawl

    running = start_crawl(store_of(app), start_urls=["http://127.0.0.1:9/"], seed_ids=[])
    csrf = session_for(app, web, "ann")
    assert 'id="mark-failed"' in web.get(f"/crawls/{running}").text
    r = web.post(f"/crawls/{running}/mark-failed", data={"csrf_token": csrf,
                                                        "reason": "process gone"},
                 follow_redirects=False)
    assert r.status_code == 303
    page = web.get(r.headers["location"]).text
    assert f"Crawl {running}: failed" in page
    assert "Marked failed" in page
    assert 'id="mark-failed"' not in page
    r = web.post(f"/crawls/{running}/mark-failed", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert f"Crawl {running} already ended (failed" in r.text
