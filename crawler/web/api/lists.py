"""/api/v1/lists (admin): known-hash lists, and importing one from an uploaded file.

The upload is parsed by the CLI's all-or-nothing streaming import (crawler.services.lists):
a malformed line anywhere stores nothing and is answered 422 naming the line.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict

from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.problems import BadInput
from crawler.web.refusals import refusals
from crawler.web.schemas import PROBLEM_RESPONSES, ProblemOut, UtcTime
from storage.db import Store
from storage.records import ImportResult

TOO_LARGE: dict[int | str, dict[str, Any]] = {413: {
    "model": ProblemOut, "description": "The file is larger than the server accepts "
    "(TRAWL_WEB_MAX_UPLOAD_MB); nothing was read past the limit."}}
router = APIRouter(prefix="/api/v1", tags=["lists"], responses=PROBLEM_RESPONSES)
admin_only = require_role("admin")

ListFormat = Literal["auto", "csv", "te", "pdq-hasher", "plain"]
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


class KnownListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    format: str
    source_file: str | None
    imported_at: UtcTime
    imported_by: str | None
    entry_count: int
    duplicate_count: int
    by_type: dict[str, int]


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    list_id: int
    name: str
    added: int
    duplicates: int
    already_present: int


def upload_name(upload: UploadFile) -> str:
    """The uploaded file's own name (no folders, no control characters), for errors and
    the list's record."""
    name = PurePath((upload.filename or "").replace("\\", "/")).name
    return _UNSAFE_NAME.sub("", name)[:200] or "upload"


def import_list_upload(store: Store, upload: UploadFile, *, name: str, fmt: str, hash_type: str,
                  actor: str) -> ImportResult:
    """Import an uploaded list file (named `name`, else after the file) all or nothing."""
    from crawler.services.lists import import_list_stream  # loads the matchers: on use

    source = upload_name(upload)
    list_name = name.strip() or PurePath(source).stem
    with refusals("file"):
        return import_list_stream(store, upload.file, name=list_name,
                                  source=f"{source} (uploaded)", fmt=fmt,
                                  hash_type=hash_type.strip() or None, actor=actor)


@router.get("/lists", response_model=Page[KnownListOut], summary="Known-hash lists")
def get_lists(request: Request, page: PageRequest = Depends(page_request),
              user: User = Depends(admin_only)) -> Page[KnownListOut]:
    from storage.known import list_known_lists  # numpy: loaded when lists are shown

    rows = list_known_lists(store_of(request))
    return make_page([KnownListOut.model_validate(r)
                      for r in rows[page.offset: page.offset + page.fetch]], page)


@router.post("/lists", response_model=ImportOut, status_code=201, responses=TOO_LARGE,
             summary="Import a list file (all or nothing; 422 names the bad line)")
def import_list(
    request: Request,
    file: UploadFile = File(description="A list: Trawl CSV, ThreatExchange, pdq-hasher, "
                            "or plain (one hash per line, with hash_type)."),
    name: str = Form("", max_length=200, description="The list's name (default: file name)."),
    format: ListFormat = Form("auto"),
    hash_type: str = Form("", max_length=50, description="For plain lists: md5, pdq, ..."),
    user: User = Depends(admin_only),
) -> ImportOut:
    if format == "plain" and not hash_type.strip():
        raise BadInput("A plain list needs its hash type: give hash_type (md5, sha256, pdq, "
                       "...).", field="hash_type")
    result = import_list_upload(store_of(request), file, name=name, fmt=format,
                           hash_type=hash_type, actor=user.name)
    return ImportOut.model_validate(result)
