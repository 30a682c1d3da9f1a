"""Lists (admin): the known-hash lists, and importing one from an uploaded file.

The CLI's all-or-nothing streaming parser: a bad line stores nothing and the page names it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from crawler.web.api.lists import ListFormat, import_list_upload
from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.forms import page_at, page_with, pager_links
from crawler.web.pagination import make_page
from crawler.web.problems import BadInput, WebError

router = APIRouter(include_in_schema=False)
admin_only = require_role("admin")
FORMATS = ("auto", "csv", "te", "pdq-hasher", "plain")


def _page(request: Request, *, offset: int = 0, form: dict[str, Any] | None = None,
          error: Exception | None = None, done: str | None = None) -> Response:
    # numpy and the hashers load with these: only when this page is shown
    from matchers.hashtypes import HASH_TYPES
    from storage.known import list_known_lists

    rows = list_known_lists(store_of(request))
    page = page_at(offset)
    shown = make_page(rows[offset: offset + page.fetch], page)
    newer, older = pager_links("/lists", shown, {})
    return page_with(request, "lists.html", {
        "page": shown, "newer_link": newer, "older_link": older, "done": done,
        "formats": FORMATS, "hash_types": sorted(HASH_TYPES),
        "form": form or {"name": "", "format": "auto", "hash_type": ""},
    }, error)


@router.get("/lists")
def lists_page(request: Request, offset: int = Query(0, ge=0),
               user: User = Depends(admin_only)) -> Response:
    return _page(request, offset=offset)


@router.post("/lists")
def import_list(
    request: Request,
    file: UploadFile | None = File(None),
    name: str = Form("", max_length=200),
    format: ListFormat = Form("auto"),
    hash_type: str = Form("", max_length=50),
    user: User = Depends(admin_only),
) -> Response:
    form = {"name": name, "format": format, "hash_type": hash_type}
    try:
        if file is None or not file.filename:
            raise BadInput("Choose a list file to upload.", field="file")
        if format == "plain" and not hash_type.strip():
            raise BadInput("A plain list needs its hash type: choose one.", field="hash_type")
        result = import_list_upload(store_of(request), file, name=name, fmt=format,
                               hash_type=hash_type, actor=user.name)
    except WebError as exc:
        return _page(request, form=form, error=exc)
    # Shown on this response (not via a redirect's URL, which anyone could write).
    return _page(request, done=f"Imported list {result.name}: {result.added} new, "
                 f"{result.already_present} already there, {result.duplicates} repeated in "
                 "the file.")
