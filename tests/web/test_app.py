"""The web app in-process: sign-in, lockout, cookies, CSRF, tokens, errors, paging, audit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jinja2 import Environment

from crawler.config import Config
from crawler.errors import TrawlError
from crawler.services import users
from crawler.web.app import create_app
from crawler.web.headers import CONTENT_SECURITY_POLICY
from crawler.web.settings import WebSettings
from crawler.web.templating import http_url, templates
from storage.audit import append_audit, list_audit
from tests.web.helpers import (
    CSRF_INPUT,
    PASSWORD,
    Seeded,
    app_for,
    session_for,
    sign_in,
    store_of,
)

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def bearer(seeded: Seeded, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[name]}"}


# --- signing in -------------------------------------------------------------------------


def test_sign_in_sets_a_strict_session_cookie_and_returns_to_next(web: TestClient) -> None:
    page = web.get("/audit", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/audit"
    form = web.get("/login?next=/audit")
    token = CSRF_INPUT.search(form.text)
    assert token is not None
    r = web.post("/login", data={"name": "ann", "password": PASSWORD,
                                 "csrf_token": token.group(1), "next": "/audit"},
                 follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/audit"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("trawl_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP, no trusted proxy
    assert web.get("/audit").status_code == 200


def test_next_never_leaves_the_site(web: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = web.get("/login")
        token = CSRF_INPUT.search(form.text)
        assert token is not None
        r = web.post("/login", data={"name": "ann", "password": PASSWORD,
                                     "csrf_token": token.group(1), "next": target},
                     follow_redirects=False)
        assert r.headers["location"] == "/", target
        web.cookies.clear()


def test_login_form_needs_its_own_csrf_cookie(web: TestClient) -> None:
    web.get("/login")
    r = web.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    assert "trawl_session" not in web.cookies


def test_wrong_password_then_lockout(web: TestClient, app: FastAPI) -> None:
    for attempt in range(users.LOCKOUT_FAILURES):
        form = web.get("/login")
        token = CSRF_INPUT.search(form.text)
        assert token is not None
        r = web.post("/login", data={"name": "ann", "password": "not the password",
                                     "csrf_token": token.group(1)})
        if attempt < users.LOCKOUT_FAILURES - 1:
            assert r.status_code == 200
            assert "Wrong name or password." in r.text
        else:
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) == users.LOCKOUT_WINDOW.total_seconds()
    form = web.get("/login")
    token = CSRF_INPUT.search(form.text)
    assert token is not None
    r = web.post("/login", data={"name": "ann", "password": PASSWORD,
                                 "csrf_token": token.group(1)}, follow_redirects=False)
    assert r.status_code == 429, "the right password is refused while locked"
    assert "locked" in r.text
    assert [e.action for e in list_audit(store_of(app), action="lockout")] == ["lockout"]


def test_logout_ends_the_session_for_good(web: TestClient, app: FastAPI) -> None:
    csrf = sign_in(web, "ann")
    cookie = web.cookies["trawl_session"]
    r = web.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    web.cookies.set("trawl_session", cookie)  # a copied cookie no longer works
    assert web.get("/", follow_redirects=False).status_code == 303
    actions = [(e.actor, e.action) for e in list_audit(store_of(app), entity="user")]
    assert ("ann", "login") in actions
    assert ("ann", "logout") in actions


def test_disabled_accounts_are_refused_everywhere(web: TestClient, app: FastAPI,
                                                  seeded: Seeded) -> None:
    form = web.get("/login")
    token = CSRF_INPUT.search(form.text)
    assert token is not None
    r = web.post("/login", data={"name": "dave", "password": PASSWORD,
                                 "csrf_token": token.group(1)})
    assert r.status_code == 200
    assert "trawl_session" not in web.cookies
    assert "disabled" in r.text
    assert web.get("/api/v1/me", headers=bearer(seeded, "dave")).status_code == 401
    session_for(app, web, "zed")  # signed in, then an admin disables the account
    assert web.get("/").status_code == 200
    users.disable_user(store_of(app), "zed", actor="ada")
    assert web.get("/", follow_redirects=False).status_code == 303
    assert web.get("/api/v1/me", headers=bearer(seeded, "zed")).status_code == 401


def test_secure_cookie_only_when_a_trusted_proxy_says_tls(seeded: Seeded) -> None:
    def login_cookie(app: FastAPI) -> str:
        with TestClient(app, base_url="http://127.0.0.1") as c:
            form = c.get("/login", headers={"X-Forwarded-Proto": "https"})
            token = CSRF_INPUT.search(form.text)
            assert token is not None
            # httpx keeps a Secure cookie from plain http: hand it back as the browser would.
            c.cookies.set("trawl_login_csrf", token.group(1))
            r = c.post("/login", data={"name": "ann", "password": PASSWORD,
                                       "csrf_token": token.group(1)},
                       headers={"X-Forwarded-Proto": "https"}, follow_redirects=False)
            assert r.status_code == 303
            return next(v for v in r.headers.get_list("set-cookie")
                        if v.startswith("trawl_session=")) + \
                "|" + r.headers.get("strict-transport-security", "")

    untrusted = login_cookie(app_for(seeded.db_url))
    assert "Secure" not in untrusted
    trusted = login_cookie(create_app(Config.build(db_url=seeded.db_url),
                                      WebSettings(trusted_proxies=("testclient",))))
    assert "Secure" in trusted
    assert "max-age=" in trusted  # HSTS on TLS


def test_trusted_proxies_must_be_addresses() -> None:
    assert WebSettings.build("127.0.0.1, 10.0.0.0/8").trusted_proxies == (
        "127.0.0.1", "10.0.0.0/8")
    with pytest.raises(TrawlError, match="not an IP address"):
        WebSettings.build("proxy.example")


# --- API: tokens, CSRF for cookies, errors, paging ---------------------------------------


def test_bearer_tokens(web: TestClient, seeded: Seeded, app: FastAPI) -> None:
    r = web.get("/api/v1/me", headers=bearer(seeded, "tom"))
    assert r.status_code == 200
    assert r.json()["name"] == "tom"
    assert r.json()["created_at"].endswith("Z")
    r = web.get("/api/v1/me", headers={"Authorization": "Bearer trawl_wrong"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401
    # Pages take the session cookie only.
    assert web.get("/", headers=bearer(seeded, "ada"), follow_redirects=False).status_code == 303
    token_id = users.list_tokens(store_of(app), "tom")[0].id
    users.revoke_token(store_of(app), token_id, actor="ada")
    assert web.get("/api/v1/me", headers=bearer(seeded, "tom")).status_code == 401


def test_api_write_with_a_cookie_needs_the_csrf_header(web: TestClient, app: FastAPI) -> None:
    csrf = session_for(app, web, "ada")
    body = {"name": "eve", "role": "analyst", "password": PASSWORD}
    r = web.post("/api/v1/users", json=body)
    assert r.status_code == 403
    assert "X-CSRF-Token" in r.json()["detail"]
    r = web.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    r = web.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert web.get("/api/v1/me").json()["name"] == "ada"  # reads need no CSRF
    event = list_audit(store_of(app), action="add", newest_first=True, limit=1)[0]
    assert (event.actor, event.detail) == ("ada", '{"name": "eve", "role": "analyst"}')


def test_api_changes_are_audited_as_the_token_holder(web: TestClient, seeded: Seeded,
                                                     app: FastAPI) -> None:
    r = web.post("/api/v1/users/zed/tokens", json={"label": "cron"},
                 headers=bearer(seeded, "ada"))
    assert r.status_code == 201
    assert r.json()["token"].startswith("trawl_")
    r = web.post(f"/api/v1/tokens/{r.json()['id']}/revoke", headers=bearer(seeded, "ada"))
    assert r.json()["revoked_at"].endswith("Z")
    r = web.post("/api/v1/users/zed/disable", headers=bearer(seeded, "ada"))
    assert r.json()["disabled"] is True
    events = list_audit(store_of(app), actor="ada")
    assert [(e.action, e.entity) for e in events] == [
        ("issue", "token"), ("revoke", "token"), ("disable", "user")]


def test_bad_input_is_422_naming_the_field(web: TestClient, seeded: Seeded) -> None:
    admin = bearer(seeded, "ada")
    cases = [
        ({"name": "Eve!", "role": "analyst", "password": PASSWORD}, "name"),
        ({"name": "eve", "role": "boss", "password": PASSWORD}, "role"),
        ({"name": "eve", "password": PASSWORD}, "role"),
        ({"name": "eve", "role": "analyst", "password": "short"}, "password"),
    ]
    for body, field in cases:
        r = web.post("/api/v1/users", json=body, headers=admin)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert [e["field"] for e in problem["errors"]] == [field], problem
        assert field in problem["detail"] or problem["detail"], problem
    r = web.get("/api/v1/audit?limit=0", headers=admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "limit"
    r = web.get("/api/v1/audit?since=yesterday", headers=admin)
    assert r.json()["errors"][0]["field"] == "since"


def test_conflicts_and_missing_things_are_problems(web: TestClient, seeded: Seeded) -> None:
    admin = bearer(seeded, "ada")
    r = web.post("/api/v1/users", json={"name": "ann", "role": "analyst",
                                        "password": PASSWORD}, headers=admin)
    assert r.status_code == 409
    assert "already exists" in r.json()["detail"]
    r = web.post("/api/v1/users/ada/disable", headers=admin)
    assert r.status_code == 409  # the only enabled admin
    assert web.get("/api/v1/users/nobody", headers=admin).status_code == 404
    r = web.get("/api/v1/nothing-here", headers=admin)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    r = web.delete("/api/v1/me", headers=admin)
    assert r.status_code == 405
    assert r.json()["title"] == "Method Not Allowed"


def test_an_unexpected_error_is_a_problem_with_the_headers(seeded: Seeded) -> None:
    app = app_for(seeded.db_url)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in r.text
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["cache-control"] == "no-store"


def test_pagination(web: TestClient, seeded: Seeded, app: FastAPI) -> None:
    admin = bearer(seeded, "ada")
    for n in range(5):
        append_audit_as(app, "ada", f"event {n}")
    seen: list[int] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        r = web.get(f"/api/v1/audit?actor=ada&limit=2&offset={offset}", headers=admin)
        assert r.status_code == 200
        page = r.json()
        assert page["limit"] == 2
        assert page["offset"] == offset
        seen += [item["id"] for item in page["items"]]
        offset = page["next_offset"]
        pages += 1
    assert pages == 3
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 5
    r = web.get("/api/v1/users?limit=2&offset=4", headers=admin)
    assert [u["name"] for u in r.json()["items"]] == ["zed"]
    assert r.json()["next_offset"] is None
    r = web.get("/api/v1/users?disabled=true", headers=admin)
    assert [u["name"] for u in r.json()["items"]] == ["dave"]


def append_audit_as(app: FastAPI, actor: str, detail: str) -> None:
    with store_of(app).session() as session:
        append_audit(session, actor=actor, action="test", entity="test", detail=detail)


# --- pages: users and audit ----------------------------------------------------------------


def test_admin_adds_a_user_on_the_page_audited_as_the_admin(web: TestClient,
                                                            app: FastAPI) -> None:
    csrf = sign_in(web, "ada")
    r = web.post("/users", data={"csrf_token": csrf, "name": "eve", "role": "takedown",
                                 "password": PASSWORD, "password_confirm": PASSWORD},
                 follow_redirects=False)
    assert r.status_code == 303
    page = web.get(r.headers["location"])
    assert "Added user eve." in page.text
    event = list_audit(store_of(app), action="add", newest_first=True, limit=1)[0]
    assert (event.actor, event.entity, event.to_state) == ("ada", "user", "takedown")
    r = web.post("/users/eve/tokens", data={"csrf_token": csrf, "label": "laptop"})
    token = re.search(r'data-copy="(trawl_[^"]+)"', r.text)
    assert token is not None
    assert web.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}
                   ).json()["name"] == "eve"
    web.post("/users/eve/disable", data={"csrf_token": csrf})
    assert [(e.actor, e.action) for e in list_audit(store_of(app), entity="user")][-1] == (
        "ada", "disable")


def test_users_form_errors_name_the_field(web: TestClient) -> None:
    csrf = sign_in(web, "ada")
    r = web.post("/users", data={"csrf_token": csrf, "name": "eve", "role": "analyst",
                                 "password": "short", "password_confirm": "short"})
    assert r.status_code == 422
    assert 'id="new-password" name="password" type="password" required ' \
        'autocomplete="new-password" aria-invalid="true"' in r.text
    r = web.post("/users", data={"csrf_token": csrf, "name": "eve", "role": "analyst",
                                 "password": PASSWORD, "password_confirm": PASSWORD + "x"})
    assert r.status_code == 422
    assert "differ" in r.text
    r = web.post("/users", data={"csrf_token": csrf, "name": "ann", "role": "analyst",
                                 "password": PASSWORD, "password_confirm": PASSWORD})
    assert r.status_code == 409


def test_audit_page_filters_pages_and_escapes(web: TestClient, app: FastAPI) -> None:
    for n in range(60):
        append_audit_as(app, "bulk", f"row {n}")
    append_audit_as(app, HOSTILE, "javascript:alert(3)")
    session_for(app, web, "tom")
    page = web.get("/audit")
    assert page.status_code == 200
    assert "<script>alert(2)" not in page.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page.text
    assert "Older" in page.text
    older = re.search(r'href="(/audit\?offset=50)" rel="next"', page.text)
    assert older is not None
    second = web.get(older.group(1))
    assert "<td>bulk</td>" in second.text
    assert "<td>setup</td>" in second.text  # the oldest events
    assert 'rel="next"' not in second.text
    filtered = web.get("/audit", params={"actor": "bulk", "action": "test"})
    assert filtered.text.count("<td>bulk</td>") == 50
    assert 'href="/audit?actor=bulk&amp;action=test&amp;offset=50"' in filtered.text
    assert web.get("/audit", params={"since": "2000-01-01", "until": "2000-01-31"}
                   ).text.count("<td>bulk</td>") == 0
    r = web.get("/audit", params={"since": "last week"})
    assert r.status_code == 422
    assert "since" in r.text


def test_security_headers_on_every_kind_of_response(web: TestClient, app: FastAPI) -> None:
    session_for(app, web, "ann")
    responses = [web.get("/"), web.get("/login"), web.get("/nothing"),
                 web.get("/users"), web.get("/api/v1/me"), web.get("/static/app.css"),
                 web.get("/api/docs"), web.get("/api/openapi.json")]
    web.cookies.clear()
    responses.append(web.get("/audit", follow_redirects=False))
    for r in responses:
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, r.url
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
        static = r.url.path.startswith("/static/")
        assert (r.headers["cache-control"] == "no-store") != static, r.url
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_no_inline_script_or_style_in_any_page(web: TestClient, app: FastAPI) -> None:
    csrf = session_for(app, web, "ada")
    pages = [web.get(p).text for p in ("/", "/users", "/audit", "/api/docs")]
    pages.append(web.post("/users/zed/tokens", data={"csrf_token": csrf}).text)
    web.cookies.clear()
    pages.append(web.get("/login").text)
    for text in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)", text)
        assert "<style" not in text
        assert " style=" not in text
        assert not re.search(r"\son[a-z]+=", text)
        assert "<img" not in text


# --- the crawled-URL partial ---------------------------------------------------------


def render_partial(source: str, **values: object) -> str:
    env: Environment = templates.env
    return env.from_string(
        '{% from "partials/crawled.html" import crawled_url, page_link %}' + source
    ).render(**values)


def test_crawled_urls_are_text_with_a_copy_button_never_loaded() -> None:
    text = render_partial("{{ crawled_url(u) }}", u="https://x.example/a.jpg" + HOSTILE)
    assert "<img" not in text
    assert "<script" not in text
    assert 'class="copy"' in text
    assert "<a " not in text
    evil = render_partial("{{ page_link(u) }}", u="javascript:alert(1)")
    assert "<a " not in evil
    spaced = render_partial("{{ page_link(u) }}", u="https://x.example/\nfoo")
    assert "<a " not in spaced
    good = render_partial("{{ page_link(u) }}", u="https://x.example/page?a=1&b=2")
    assert 'href="https://x.example/page?a=1&amp;b=2" rel="noreferrer noopener"' in good


@pytest.mark.parametrize(("value", "expected"), [
    ("http://a.example/", "http://a.example/"),
    ("HTTPS://a.example/x", "HTTPS://a.example/x"),
    ("javascript:alert(1)", None),
    ("data:text/html,hi", None),
    ("//a.example/", None),
    ("https:///nohost", None),
    ("https://a.example/\x00", None),
    ("https://a.example\\@evil.example/", None),
    (None, None),
])
def test_http_url(value: object, expected: str | None) -> None:
    assert http_url(value) == expected


def test_openapi_documents_bearer_auth_and_problem_errors(web: TestClient) -> None:
    doc = web.get("/api/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert all(path.startswith("/api/v1/") for path in doc["paths"])
    post = doc["paths"]["/api/v1/users"]["post"]
    assert set(post["responses"]["422"]["content"]) == {"application/problem+json"}
    assert post["security"] == [{"HTTPBearer": []}]


def test_the_web_app_loads_no_crawler_machinery() -> None:
    code = ("import sys, crawler.web.app, crawler.cli.serve, crawler.cli.users; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scrapy', 'twisted', 'spiders', 'numpy', 'PIL'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout
    assert out.strip() == "[]"
