"""/api/v1/schedules (analyst): planned crawls by cron or interval; pause, resume, run now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from crawler.errors import TrawlError
from crawler.services import schedules as schedule_service
from crawler.services.addresses import AddressAllowanceError
from crawler.services.scheduler.timing import format_duration
from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.problems import BadInput
from crawler.web.refusals import refusals
from crawler.web.schemas import PROBLEM_RESPONSES, UtcTime
from storage.policy import DEFAULT_TIME_BUDGET_SECONDS
from storage.schedules import ScheduleError, ScheduleInfo, get_schedule, list_schedules

router = APIRouter(prefix="/api/v1", tags=["schedules"], responses=PROBLEM_RESPONSES)
analyst = require_role("analyst")


class ScheduleOut(BaseModel):
    id: int
    name: str
    seed_ids: list[int]
    seed_tag: str | None
    cron: str | None
    interval_seconds: int | None
    when: str = Field(description="The cron expression or interval, readable.")
    depth: int | None
    max_pages: int | None
    time_budget_seconds: int
    budget: str = Field(description="The time budget, readable (e.g. 1h).")
    allow_addresses: list[str] = Field(description="Internal addresses (CIDR blocks) its "
                                       "crawls may reach, as `--allow-address`.")
    enabled: bool
    next_due_at: UtcTime | None = Field(description="The next run (UTC).")
    last_run_at: UtcTime | None
    last_crawl_id: int | None
    last_outcome: str | None
    created_at: UtcTime


class ScheduleIn(BaseModel):
    """A new schedule; the rules are `trawl schedule add`'s. Exactly one of cron or every."""

    name: str = Field(min_length=1, max_length=100, examples=["nightly-forums"])
    seed_ids: list[int] = Field(default_factory=list, max_length=1000)
    tag: str | None = Field(None, max_length=100, description="Every active seed with this tag.")
    cron: str | None = Field(None, max_length=200, examples=["0 2 * * *"],
                             description="Cron expression in UTC.")
    every: str | None = Field(None, max_length=50, examples=["6h"],
                              description="Interval: 30m, 6h, 1d, 2w (or seconds).")
    depth: int | None = Field(None, ge=0)
    max_pages: int | None = Field(None, ge=1)
    time_budget: str = Field(format_duration(DEFAULT_TIME_BUDGET_SECONDS), max_length=50,
                             description="Longest a crawl may run, e.g. 45m, 2h.")
    start_at: str | None = Field(None, max_length=50, description="First run (ISO, UTC).")
    allow_addresses: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=100, examples=[["10.20.0.0/16"]],
        description="Internal addresses or CIDR blocks its crawls may reach, as `trawl "
        "schedule add --allow-address` (the scheduler's own and TRAWL_ALLOW_ADDRESSES are "
        "added at each run).")
    enabled: bool = True


class AddedScheduleOut(BaseModel):
    schedule: ScheduleOut
    warnings: list[str] = Field(description="e.g. a tag no seed carries yet.")


def schedule_out(info: ScheduleInfo) -> ScheduleOut:
    when = (f"cron {info.cron}" if info.cron
            else f"every {format_duration(info.interval_seconds or 0)}")
    fields: dict[str, Any] = {name: getattr(info, name) for name in ScheduleOut.model_fields
                              if name not in ("when", "seed_ids", "budget", "allow_addresses")}
    return ScheduleOut(**fields, seed_ids=list(info.seed_ids), when=when,
                       budget=format_duration(info.time_budget_seconds),
                       allow_addresses=list(info.allow_addresses))


def field_of(message: str) -> str:
    """Which input a schedule refusal is about, from the service's sentence."""
    lowered = message.lower()
    for needle, field in (("cron", "cron"), ("--every", "every"), ("interval", "every"),
                          ("time budget", "time_budget"), ("--start-at", "start_at"),
                          ("seed", "seed_ids"), ("name", "name")):
        if needle in lowered:
            return field
    return "body"


def add_schedule_from(request: Request, body: ScheduleIn,
                      actor: str) -> tuple[ScheduleInfo, list[str]]:
    """Add a schedule through the service; a refusal names the field it is about."""
    config = request.app.state.config
    try:
        return schedule_service.add_schedule(
            store_of(request), body.name, seed_ids=body.seed_ids, tag=body.tag or None,
            cron=body.cron or None, every=body.every or None, depth=body.depth,
            max_pages=body.max_pages, time_budget=body.time_budget,
            start_at=body.start_at or None, enabled=body.enabled,
            allow_addresses=body.allow_addresses, now=config.clock(), actor=actor)
    except AddressAllowanceError as exc:
        raise BadInput(str(exc), field="allow_addresses") from None
    except (TrawlError, ScheduleError) as exc:
        raise BadInput(str(exc), field=field_of(str(exc))) from None


@router.get("/schedules", response_model=Page[ScheduleOut], summary="List schedules")
def get_schedules(request: Request, page: PageRequest = Depends(page_request),
                  user: User = Depends(analyst)) -> Page[ScheduleOut]:
    rows = list_schedules(store_of(request))
    return make_page([schedule_out(s) for s in rows[page.offset: page.offset + page.fetch]],
                     page)


@router.post("/schedules", response_model=AddedScheduleOut, status_code=201,
             summary="Add a schedule")
def add_schedule(request: Request, body: ScheduleIn,
                 user: User = Depends(analyst)) -> AddedScheduleOut:
    info, warnings = add_schedule_from(request, body, user.name)
    return AddedScheduleOut(schedule=schedule_out(info), warnings=warnings)


@router.get("/schedules/{ref}", response_model=ScheduleOut, summary="One schedule (id or name)")
def one_schedule(request: Request, ref: str, user: User = Depends(analyst)) -> ScheduleOut:
    with refusals("ref"):
        return schedule_out(get_schedule(store_of(request), ref))


@router.post("/schedules/{ref}/pause", response_model=ScheduleOut, summary="Pause a schedule")
def pause_schedule(request: Request, ref: str, user: User = Depends(analyst)) -> ScheduleOut:
    with refusals("ref"):
        return schedule_out(schedule_service.set_schedule_enabled(
            store_of(request), ref, False, actor=user.name))


@router.post("/schedules/{ref}/resume", response_model=ScheduleOut, summary="Resume a schedule")
def resume_schedule(request: Request, ref: str, user: User = Depends(analyst)) -> ScheduleOut:
    with refusals("ref"):
        return schedule_out(schedule_service.set_schedule_enabled(
            store_of(request), ref, True, actor=user.name))


@router.post("/schedules/{ref}/run-now", response_model=ScheduleOut,
             summary="Make a schedule due now (the running `trawl scheduler` starts it)")
def run_now(request: Request, ref: str, user: User = Depends(analyst)) -> ScheduleOut:
    config = request.app.state.config
    with refusals("ref"):
        return schedule_out(schedule_service.queue_run_now(
            store_of(request), ref, now=config.clock(), actor=user.name))


@router.delete("/schedules/{ref}", status_code=204,
               summary="Remove a schedule (its crawls stay in the history)")
def remove_schedule(request: Request, ref: str, user: User = Depends(analyst)) -> Response:
    with refusals("ref"):
        schedule_service.remove_schedule(store_of(request), ref, actor=user.name)
    return Response(status_code=204)
