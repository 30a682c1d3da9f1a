"""Providers (takedown): the hosting providers notices go to; upload the provider table."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from crawler.web.api.providers import import_provider_upload
from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.forms import page_at, page_with, pager_links
from crawler.web.pagination import make_page
from crawler.web.problems import BadInput, WebError
from storage.providers import list_providers

router = APIRouter(include_in_schema=False)
takedown = require_role("takedown")


def _page(request: Request, *, offset: int = 0, error: Exception | None = None,
          done: str | None = None) -> Response:
    rows = list_providers(store_of(request))
    page = page_at(offset)
    shown = make_page(rows[offset: offset + page.fetch], page)
    newer, older = pager_links("/providers", shown, {})
    return page_with(request, "providers.html", {
        "page": shown, "newer_link": newer, "older_link": older, "done": done}, error)


@router.get("/providers")
def providers_page(request: Request, offset: int = Query(0, ge=0),
                   imported: int | None = Query(None, ge=0),
                   user: User = Depends(takedown)) -> Response:
    done = f"Imported {imported} provider(s)." if imported is not None else None
    return _page(request, offset=offset, done=done)


@router.post("/providers")
def import_providers(request: Request, file: UploadFile | None = File(None),
                     user: User = Depends(takedown)) -> Response:
    try:
        if file is None or not file.filename:
            raise BadInput("Choose a provider file (CSV) to upload.", field="file")
        result = import_provider_upload(store_of(request), file, actor=user.name)
    except WebError as exc:
        return _page(request, error=exc)
    return RedirectResponse(f"/providers?imported={len(result.providers)}", status_code=303)
