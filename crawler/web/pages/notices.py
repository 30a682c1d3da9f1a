"""Notices (takedown): per provider, what waits for a notice and the re-notices due; prepare
notices, download each in every format, mark one sent. Also starts a re-check."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from crawler.services.notices import FORMATS
from crawler.services.notices.export import EXTENSIONS
from crawler.web.api.notices import (
    PrepareIn,
    mark_notice_sent,
    notice_download,
    now_of,
    prepare_for,
    renotice_hours,
)
from crawler.web.api.recheck import start_recheck_as
from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.forms import page_at, page_with, pager_links
from crawler.web.pagination import make_page
from crawler.web.problems import WebError
from storage.notices import awaiting_notices, list_notices

router = APIRouter(include_in_schema=False)
takedown = require_role("takedown")
STATES = ("all", "unsent", "sent")


def _page(request: Request, *, provider: str = "", state: str = "all", offset: int = 0,
          error: Exception | None = None, done: str | None = None) -> Response:
    store = store_of(request)
    wanted = provider.strip().lower()
    page = page_at(offset)
    notices = list_notices(store, unsent_only=state == "unsent", sent_only=state == "sent",
                           provider_key=wanted or None, limit=page.fetch, offset=offset)
    shown = make_page(notices, page)
    newer, older = pager_links("/notices", shown, {"provider": provider,
                                                    "state": "" if state == "all" else state})
    awaiting = [g for g in awaiting_notices(store, now=now_of(request))
                if not wanted or wanted in (g.provider.lower(), g.provider_key.lower())]
    return page_with(request, "notices.html", {
        "page": shown, "awaiting": awaiting, "formats": FORMATS, "extensions": EXTENSIONS,
        "filters": {"provider": provider, "state": state}, "states": STATES,
        "newer_link": newer, "older_link": older, "done": done,
        "renotice_hours": renotice_hours(),
    }, error)


@router.get("/notices")
def notices_page(request: Request, provider: str = Query("", max_length=200),
                 state: str = Query("all", pattern="^(all|unsent|sent)$"),
                 offset: int = Query(0, ge=0), user: User = Depends(takedown)) -> Response:
    return _page(request, provider=provider, state=state, offset=offset)


@router.post("/notices/prepare")
def prepare_notices(request: Request, provider: str = Form("", max_length=200),
                    due_only: bool = Form(False), user: User = Depends(takedown)) -> Response:
    try:
        made = prepare_for(store_of(request), PrepareIn(provider=provider or None,
                                                    due_only=due_only),
                       user.name, now_of(request))
    except WebError as exc:
        return _page(request, provider=provider, error=exc)
    done = (f"{len(made)} notice(s) ready to download and send." if made else
            "Nothing to notify: no confirmed images and no re-notices due.")
    return _page(request, provider=provider, state="unsent", done=done)


@router.get("/notices/{reference}/download")
def download(request: Request, reference: str,
             format: str = Query("text", max_length=10),
             user: User = Depends(takedown)) -> Response:
    return notice_download(store_of(request), reference, format, user.name)


@router.post("/notices/{reference}/sent")
def mark_sent(request: Request, reference: str, user: User = Depends(takedown)) -> Response:
    try:
        sent = mark_notice_sent(store_of(request), reference, user.name, now_of(request))
    except WebError as exc:
        return _page(request, error=exc)
    skipped = f", {len(sent.skipped)} already settled" if sent.skipped else ""
    return _page(request, done=f"{sent.reference} marked sent: {len(sent.notified)} image(s) "
                 f"notified{skipped}.")


@router.post("/recheck")
def recheck(request: Request, user: User = Depends(takedown)) -> Response:
    try:
        started = start_recheck_as(request, [], user.name)
    except WebError as exc:
        return _page(request, error=exc)
    return _page(request, done=f"Re-check of {started.hits} image(s) started (process "
                 f"{started.pid}); its outcomes appear in the audit trail as yours.")
