"""/api/v1/notices (takedown): prepare notices per provider, download each format, mark sent.

The same storage and rendering the CLI's `trawl notices` uses: a notice groups a
provider's confirmed images (and re-notices due) under a reference; marking it sent makes
its images notified and due for a re-notice after TRAWL_RENOTICE_HOURS.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Literal, get_args

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from crawler.services.notices import FORMATS
from crawler.services.notices.export import NoticeFile, export_notice
from crawler.services.notices.render import NoticeRenderer
from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.problems import BadInput
from crawler.web.refusals import NotFound, refusals
from crawler.web.schemas import PROBLEM_RESPONSES, UtcTime
from storage.db import Store
from storage.notices import (
    AwaitingNotice,
    NoticeInfo,
    NoticeItemInfo,
    awaiting_notices,
    list_notices,
    mark_sent,
    prepare_notices,
)
from storage.policy import DEFAULT_RENOTICE_HOURS
from storage.review import WorkflowError

router = APIRouter(prefix="/api/v1", tags=["notices"], responses=PROBLEM_RESPONSES)
takedown = require_role("takedown")
RENOTICE_ENV = "TRAWL_RENOTICE_HOURS"
NoticeFormat = Literal["csv", "json", "text", "eml"]
assert set(get_args(NoticeFormat)) == set(FORMATS)


class NoticeItemOut(BaseModel):
    hit_id: int
    media_url: str
    page_urls: list[str]
    server_ip: str | None
    status: str
    item_kind: str = Field(description="new: first notice; overdue: a re-notice.")
    match_type: str
    hash_type: str
    list_name: str
    distance: int
    first_notified_at: UtcTime | None
    renotice_due_at: UtcTime | None


class NoticeOut(BaseModel):
    id: int
    reference: str
    provider: str
    provider_key: str
    abuse_email: str | None
    country: str | None
    kind: str = Field(description="initial, renotice or mixed.")
    created_at: UtcTime
    created_by: str
    sent_at: UtcTime | None
    sent_by: str | None
    items: list[NoticeItemOut]


class AwaitingOut(BaseModel):
    provider: str
    provider_key: str
    abuse_email: str | None
    new: int = Field(description="Confirmed images never noticed.")
    overdue: int = Field(description="Re-notices due.")
    items: list[NoticeItemOut] = Field(description="The images, each with its kind "
                                       "(new or overdue) and, if overdue, when it fell due.")


class PrepareIn(BaseModel):
    provider: str | None = Field(None, max_length=200,
                                 description="A provider name or slug, or 'unattributed'.")
    due_only: bool = Field(False, description="Only re-notices now due.")


class SentOut(BaseModel):
    reference: str
    notified: list[int]
    skipped: list[int] = Field(description="Images settled (e.g. removed) since the export.")
    sent_at: UtcTime
    renotice_due_at: UtcTime


def item_out(item: NoticeItemInfo) -> NoticeItemOut:
    return NoticeItemOut(**{name: getattr(item, name) for name in NoticeItemOut.model_fields
                            if name != "page_urls"}, page_urls=list(item.page_urls))


def notice_out(notice: NoticeInfo) -> NoticeOut:
    fields = {name: getattr(notice, name) for name in NoticeOut.model_fields if name != "items"}
    return NoticeOut(**fields, items=[item_out(i) for i in notice.items])


def awaiting_out(group: AwaitingNotice) -> AwaitingOut:
    return AwaitingOut(provider=group.provider, provider_key=group.provider_key,
                       abuse_email=group.abuse_email,
                       new=len(group.items) - group.overdue, overdue=group.overdue,
                       items=[item_out(i) for i in group.items])


def renotice_hours() -> float:
    """TRAWL_RENOTICE_HOURS, as `trawl notices mark-sent` reads it."""
    text = os.environ.get(RENOTICE_ENV, "").strip()
    try:
        hours = float(text) if text else DEFAULT_RENOTICE_HOURS
    except ValueError:
        hours = DEFAULT_RENOTICE_HOURS
    return hours if hours > 0 else DEFAULT_RENOTICE_HOURS


def now_of(request: Request) -> datetime | None:
    now: datetime | None = request.app.state.config.now
    return now


def notice_download(store: Store, reference: str, fmt: str, actor: str) -> Response:
    """A notice file as a download (never shown inline: it lists crawled URLs)."""
    if fmt not in FORMATS:
        raise BadInput(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}.",
                       field="format")
    with refusals("reference"):
        exported: NoticeFile = export_notice(store, reference, fmt, NoticeRenderer(),
                                             actor=actor)
    return Response(exported.content, media_type=exported.media_type, headers={
        "Content-Disposition": f'attachment; filename="{exported.filename}"'})


def prepare_for(store: Store, body: PrepareIn, actor: str, now: datetime | None
            ) -> list[NoticeInfo]:
    try:
        return prepare_notices(store, actor=actor, provider=body.provider or None,
                               due_only=body.due_only, now=now)
    except WorkflowError as exc:  # the one refusal here: a provider nobody imported
        raise BadInput(str(exc), field="provider") from None


def mark_notice_sent(store: Store, reference: str, actor: str, now: datetime | None) -> SentOut:
    with refusals("reference"):
        [sent] = mark_sent(store, [reference], actor=actor, renotice_hours=renotice_hours(),
                           now=now)
    return SentOut(reference=sent.reference, notified=list(sent.notified),
                   skipped=list(sent.skipped), sent_at=sent.sent_at,
                   renotice_due_at=sent.renotice_due_at)


@router.get("/notices", response_model=Page[NoticeOut], summary="Notices, newest first")
def get_notices(
    request: Request,
    provider: str | None = Query(None, max_length=200, description="Only this provider "
                                 "(its name, or unattributed:<domain>)."),
    unsent: bool = Query(False, description="Only notices not marked sent."),
    page: PageRequest = Depends(page_request),
    user: User = Depends(takedown),
) -> Page[NoticeOut]:
    rows = list_notices(store_of(request), unsent_only=unsent, provider_key=provider or None,
                        limit=page.fetch, offset=page.offset)
    return make_page([notice_out(n) for n in rows], page)


@router.get("/notices/awaiting", response_model=list[AwaitingOut],
            summary="Per provider: images waiting for a notice, and re-notices due")
def get_awaiting(request: Request, due_only: bool = False,
                 user: User = Depends(takedown)) -> list[AwaitingOut]:
    return [awaiting_out(g) for g in awaiting_notices(store_of(request), now=now_of(request),
                                                      due_only=due_only)]


@router.post("/notices/prepare", response_model=list[NoticeOut],
             summary="Group waiting images into notices per provider (unsent)")
def prepare_route(request: Request, body: PrepareIn,
                  user: User = Depends(takedown)) -> list[NoticeOut]:
    return [notice_out(n) for n in prepare_for(store_of(request), body, user.name, now_of(request))]


@router.get("/notices/{reference}", response_model=NoticeOut, summary="One notice")
def one_notice(request: Request, reference: str, user: User = Depends(takedown)) -> NoticeOut:
    found = list_notices(store_of(request), references=[reference])
    if not found:
        raise NotFound(f"No notice has the reference {reference!r}.")
    return notice_out(found[0])


@router.get("/notices/{reference}/export",
            responses={200: {"content": {"text/csv": {}, "application/json": {},
                                         "text/plain": {}, "message/rfc822": {}},
                             "description": "The notice file, as an attachment."}},
            summary="Download a notice in one format (audited)")
def export_route(request: Request, reference: str,
                 format: NoticeFormat = Query("text"),
                 user: User = Depends(takedown)) -> Response:
    return notice_download(store_of(request), reference, format, user.name)


@router.post("/notices/{reference}/sent", response_model=SentOut,
             summary="Record that a notice went out (its images become notified)")
def sent_route(request: Request, reference: str, user: User = Depends(takedown)) -> SentOut:
    return mark_notice_sent(store_of(request), reference, user.name, now_of(request))
