"""A server process remembers who a cookie or token stands for for a few seconds
(crawler.web.auth.CallerCache); what must still stop working at once does, and what
another process changed stops working once the entry is older than its lifetime."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crawler.services import users
from crawler.web.auth import CALLER_CACHE_SECONDS, CallerCache
from storage.clock import utcnow
from tests.web.helpers import Seeded, session_for, store_of


def bearer(seeded: Seeded, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[name]}"}


def other_process_sql(app: FastAPI, sql: str, **params: object) -> None:
    """A change made the way another process (the CLI, another server process) makes it:
    in the database, unseen by this process's storage.users."""
    with store_of(app).engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_the_lifetime_is_short() -> None:
    assert CALLER_CACHE_SECONDS <= 5


def test_changes_through_this_process_take_effect_at_once(web: TestClient, app: FastAPI,
                                                          seeded: Seeded) -> None:
    session_for(app, web, "zed")
    assert web.get("/").status_code == 200
    assert web.get("/api/v1/me", headers=bearer(seeded, "zed")).status_code == 200
    users.revoke_token(store_of(app), seeded.spare_token_id, actor="ada")  # any change
    token_id = next(t.id for t in users.list_tokens(store_of(app), "zed")
                    if t.label == "tests")
    users.revoke_token(store_of(app), token_id, actor="ada")
    assert web.get("/api/v1/me", headers=bearer(seeded, "zed")).status_code == 401
    assert web.get("/").status_code == 200  # the session is another credential
    users.end_session(store_of(app), web.cookies.get("trawl_session"))
    assert web.get("/", follow_redirects=False).status_code == 303


def test_changes_by_another_process_take_effect_within_the_lifetime(
        web: TestClient, app: FastAPI, seeded: Seeded) -> None:
    app.state.caller_cache = CallerCache(seconds=0.3)
    session_for(app, web, "zed")
    assert web.get("/").status_code == 200
    assert web.get("/api/v1/me", headers=bearer(seeded, "zed")).status_code == 200
    other_process_sql(app, "UPDATE users SET disabled = :yes WHERE name = 'zed'", yes=True)
    # remembered for at most the cache's lifetime ...
    assert web.get("/").status_code == 200
    time.sleep(0.4)
    # ... then read again: refused, and refusals are not remembered
    assert web.get("/", follow_redirects=False).status_code == 303
    assert web.get("/api/v1/me", headers=bearer(seeded, "zed")).status_code == 401
    other_process_sql(app, "UPDATE users SET disabled = :no WHERE name = 'zed'", no=False)
    assert web.get("/api/v1/me", headers=bearer(seeded, "zed")).status_code == 200


def test_an_expired_session_is_never_answered_from_the_cache(
        web: TestClient, app: FastAPI) -> None:
    session_for(app, web, "zed")
    assert web.get("/").status_code == 200
    other_process_sql(app, "UPDATE login_sessions SET expires_at = :t",
                      t=utcnow() + timedelta(seconds=0.3))
    app.state.caller_cache.clear()
    assert web.get("/").status_code == 200  # read again: ends in 0.3 s
    time.sleep(0.4)
    assert web.get("/", follow_redirects=False).status_code == 303
