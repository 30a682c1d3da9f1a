"""Crawls (analyst): history, live counters of running crawls, and one crawl in detail.

The running crawls' counters are refreshed by static/crawls.js, which polls
GET /api/v1/crawls?outcome=running with the session cookie (no inline script).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from crawler.services.history import crawl_report
from crawler.web.api.crawls import Outcome, crawl_out, mark_failed
from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.forms import page_at, page_with, pager_links
from crawler.web.pagination import make_page
from crawler.web.problems import WebError
from crawler.web.refusals import refusals
from storage.crawls import list_crawls

router = APIRouter(include_in_schema=False)
analyst = require_role("analyst")
OUTCOMES = ("running", "finished", "failed", "killed", "timeout")
POLL_SECONDS = 3


@router.get("/crawls")
def crawls_page(
    request: Request,
    outcome: Outcome | None = None,
    seed_id: int | None = Query(None, ge=1),
    offset: int = Query(0, ge=0),
    user: User = Depends(analyst),
) -> Response:
    store = store_of(request)
    page = page_at(offset)
    rows = list_crawls(store, seed_id=seed_id, outcome=outcome, limit=page.fetch,
                       offset=offset)
    shown = make_page([crawl_out(c) for c in rows], page)
    running = [crawl_out(c) for c in list_crawls(store, outcome="running", limit=100)]
    newer, older = pager_links("/crawls", shown, {"outcome": outcome, "seed_id": seed_id})
    return page_with(request, "crawls.html", {
        "page": shown, "running": running, "outcomes": OUTCOMES,
        "filters": {"outcome": outcome or "", "seed_id": seed_id or ""},
        "newer_link": newer, "older_link": older, "poll_seconds": POLL_SECONDS, "done": None,
    })


def _crawl_page(request: Request, crawl_id: int, *, error: Exception | None = None,
                done: str | None = None) -> Response:
    with refusals("crawl_id"):
        detail = crawl_report(store_of(request), crawl_id)
    return page_with(request, "crawl.html", {"crawl": detail, "done": done}, error)


@router.get("/crawls/{crawl_id}")
def crawl_page(request: Request, crawl_id: int, done: str | None = None,
               user: User = Depends(analyst)) -> Response:
    return _crawl_page(request, crawl_id,
                       done="Marked failed: its seeds can be crawled again."
                       if done == "failed" else None)


@router.post("/crawls/{crawl_id}/mark-failed")
def mark_failed_page(request: Request, crawl_id: int,
                     reason: str = Form("its process died", max_length=500),
                     user: User = Depends(analyst)) -> Response:
    try:
        mark_failed(store_of(request), crawl_id, reason, user.name)
    except WebError as exc:
        return _crawl_page(request, crawl_id, error=exc)
    return RedirectResponse(f"/crawls/{crawl_id}?done=failed", status_code=303)
