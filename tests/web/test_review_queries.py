"""The review queue reads the database a fixed number of times, however many images it
shows (bench/bench_web.py measures it at 1,000,000 images; this keeps the count from
creeping back): the live claims (yours and everyone else's in one statement), the next
images (only while you hold no batch), the rows of those shown with their media and
confirmations, their matches, their pages, and who hosts them (provider ranges, provider
domains); plus the signed-in session when the server process has not read it in the last
few seconds (crawler.web.auth.CallerCache)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from crawler.config import Config
from crawler.services import users
from crawler.web.app import create_app
from storage.db import open_store
from storage.policy import DEFAULT_CLAIM_LIMIT
from tests.takedown_helpers import T0
from tests.web.helpers import PASSWORD, Seeded, client, session_for, store_of
from tests.web.reviewdata import review_hits

NOW = T0 + timedelta(days=3)
QUEUE_STATEMENTS = 7  # claims, next images, hit rows, matches, pages, 2 providers
BATCH_STATEMENTS = QUEUE_STATEMENTS - 1  # holding a batch: no look-up of the next images
SESSION_STATEMENTS = 1  # the session, when this process's caller cache does not hold it
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs (not BEGIN/COMMIT/ROLLBACK)."""
    engine = store_of(app).engine
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in TRANSACTION_CONTROL:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def queue_reads(app: FastAPI, web: TestClient, path: str = "/review") -> tuple[int, str]:
    """Statements of one request with the session known to the process (what an analyst
    at work sends); checks that a request whose session is not cached reads it once more."""
    web.get(path)  # the first request of a process compiles and caches; count the next
    with statements(app) as seen:
        r = web.get(path)
    assert r.status_code == 200, r.text
    app.state.caller_cache.clear()
    with statements(app) as cold:
        again = web.get(path)
    assert again.status_code == 200, again.text
    assert len(cold) == len(seen) + SESSION_STATEMENTS, (cold, seen)
    return len(seen), r.text


def shown(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-hit="(\d+)"', page)]


@pytest.mark.parametrize("images", [2, 25])
def test_queue_page_reads_a_fixed_number_of_times(seeded: Seeded, images: int) -> None:
    app = create_app(Config(db_url=seeded.db_url, now=NOW))
    ids = review_hits(store_of(app), count=images)
    with client(app) as web:
        csrf = session_for(app, web, "ann")
        count, page = queue_reads(app, web)
        assert shown(page) == ids[:DEFAULT_CLAIM_LIMIT]
        assert count == QUEUE_STATEMENTS
        count, _ = queue_reads(app, web, "/review?tier=all")
        assert count == QUEUE_STATEMENTS
        count, queue = queue_reads(app, web, "/api/v1/review/queue")
        assert count == QUEUE_STATEMENTS
        assert "127.0.0.2" in queue

        web.post("/review/claim", data={"csrf_token": csrf, "tier": "high"})
        # another analyst holds the rest; they are listed as holders, in the same statement
        other = session_for(app, web, "ada")
        assert web.post("/review/claim", data={"csrf_token": other, "tier": "high"},
                        follow_redirects=False).status_code == 303
        session_for(app, web, "ann")
        count, page = queue_reads(app, web)
        assert count == BATCH_STATEMENTS
        assert shown(page) == ids[:DEFAULT_CLAIM_LIMIT]
        assert page.count("claimed by you for 30 min") == min(images, DEFAULT_CLAIM_LIMIT)
        if images > DEFAULT_CLAIM_LIMIT:
            assert "10 images claimed by ada for 30 min" in page


def test_queue_page_reads_on_postgresql(pg_url: str) -> None:
    """The same count on PostgreSQL, where reads run without BEGIN and ROLLBACK."""
    store = open_store(pg_url)
    try:
        users.add_user(store, "ann", "analyst", PASSWORD, actor="setup")
        ids = review_hits(store, count=12)
    finally:
        store.close()
    app = create_app(Config(db_url=pg_url, now=NOW))
    with client(app) as web:
        session_for(app, web, "ann")
        count, page = queue_reads(app, web)
        assert shown(page) == ids[:DEFAULT_CLAIM_LIMIT]
        assert count == QUEUE_STATEMENTS
