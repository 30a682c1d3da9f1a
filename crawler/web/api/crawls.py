"""/api/v1/crawls (analyst): crawl history, live counters of running crawls, one crawl's detail."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from crawler.services.history import crawl_report, crawl_row
from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.problems import BadInput
from crawler.web.refusals import Conflict, refusals
from crawler.web.schemas import PROBLEM_RESPONSES, UtcTime
from storage.crawls import CrawlEndedError, list_crawls, mark_crawl_failed
from storage.db import Store
from storage.records import CrawlInfo

router = APIRouter(prefix="/api/v1", tags=["crawls"], responses=PROBLEM_RESPONSES)
analyst = require_role("analyst")

Outcome = Literal["running", "finished", "failed", "killed", "timeout"]


class CrawlOut(BaseModel):
    """One crawl as `trawl crawls list` shows it; a running crawl's counters are live."""

    id: int
    started_at: UtcTime
    finished_at: UtcTime | None
    outcome: str
    duration: str = Field(description="Readable, e.g. 4m07s (so far, while running).")
    duration_seconds: float
    pages: int
    images: int
    hashed: int
    hits: int
    errors: int
    not_modified: int
    schedule_id: int | None
    seed_ids: list[int]
    reason: str | None


class CrawlDetailOut(CrawlOut):
    """`trawl crawls show`: start URLs, drop and error reasons, and each seed's trend."""

    pid: int | None
    start_urls: list[str]
    recrawl: dict[str, int]
    dropped: dict[str, int]
    error_reasons: dict[str, int]
    image_status: dict[str, int]
    trend: dict[str, list[dict[str, Any]]]


class MarkFailedIn(BaseModel):
    reason: str = Field("its process died", min_length=1, max_length=500,
                        description="Why (kept on the crawl and in the audit trail).")


def crawl_out(info: CrawlInfo) -> CrawlOut:
    row = crawl_row(info)
    return CrawlOut(**{k: v for k, v in row.items() if k in CrawlOut.model_fields})


@router.get("/crawls", response_model=Page[CrawlOut], summary="Crawls, newest first")
def get_crawls(
    request: Request,
    outcome: Outcome | None = Query(None, description="running lists the crawls in progress."),
    seed_id: int | None = Query(None, ge=1, description="Only crawls of this seed."),
    page: PageRequest = Depends(page_request),
    user: User = Depends(analyst),
) -> Page[CrawlOut]:
    rows = list_crawls(store_of(request), seed_id=seed_id, outcome=outcome,
                       limit=page.fetch, offset=page.offset)
    return make_page([crawl_out(c) for c in rows], page)


@router.get("/crawls/{crawl_id}", response_model=CrawlDetailOut, summary="One crawl in detail")
def one_crawl(request: Request, crawl_id: int, user: User = Depends(analyst)) -> CrawlDetailOut:
    with refusals("crawl_id"):
        detail = crawl_report(store_of(request), crawl_id)
    return CrawlDetailOut(**{k: v for k, v in detail.items()
                             if k in CrawlDetailOut.model_fields})


def mark_failed(store: Store, crawl_id: int, reason: str, actor: str) -> CrawlInfo:
    """`trawl crawls mark-failed` for a running crawl whose process is gone."""
    try:
        with refusals("crawl_id"):
            return mark_crawl_failed(store, crawl_id, actor=actor, reason=reason)
    except CrawlEndedError as exc:
        raise Conflict(str(exc)) from None
    except ValueError as exc:
        raise BadInput(str(exc), field="reason") from None


@router.post("/crawls/{crawl_id}/mark-failed", response_model=CrawlOut,
             summary="Mark a running crawl whose process is gone failed (its seeds free up)")
def mark_failed_route(request: Request, crawl_id: int, body: MarkFailedIn,
                      user: User = Depends(analyst)) -> CrawlOut:
    return crawl_out(mark_failed(store_of(request), crawl_id, body.reason, user.name))
