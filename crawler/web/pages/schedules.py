"""Schedules (analyst): planned crawls by cron or interval; pause, resume, run now, next run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from crawler.engine.addresses import split_allow_list
from crawler.services import schedules as schedule_service
from crawler.services.scheduler.timing import format_duration
from crawler.web.api.schedules import ScheduleIn, add_schedule_from, schedule_out
from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.forms import optional_int, page_at, page_with, pager_links
from crawler.web.pagination import make_page
from crawler.web.problems import BadInput, WebError
from crawler.web.refusals import refusals
from storage.policy import DEFAULT_TIME_BUDGET_SECONDS
from storage.schedules import list_schedules

router = APIRouter(include_in_schema=False)
analyst = require_role("analyst")
DONE = {"added": "Schedule added.", "paused": "Schedule paused.",
        "resumed": "Schedule resumed.",
        "queued": "Schedule due now: the running `trawl scheduler` starts it at its next pass.",
        "removed": "Schedule removed; its crawls stay in the history."}
DEFAULT_BUDGET = format_duration(DEFAULT_TIME_BUDGET_SECONDS)
EMPTY_FORM: dict[str, Any] = {
    "name": "", "seed_ids": "", "tag": "", "when": "every", "cron": "", "every": "",
    "depth": "", "max_pages": "", "time_budget": DEFAULT_BUDGET, "start_at": "",
    "allow_addresses": "", "paused": False,
}


def _page(request: Request, *, offset: int = 0, form: dict[str, Any] | None = None,
          error: Exception | None = None, done: str | None = None,
          warnings: list[str] | None = None) -> Response:
    rows = list_schedules(store_of(request))
    page = page_at(offset)
    shown = make_page([schedule_out(s) for s in rows[offset: offset + page.fetch]], page)
    newer, older = pager_links("/schedules", shown, {})
    return page_with(request, "schedules.html", {
        "page": shown, "newer_link": newer, "older_link": older,
        "done": DONE.get(done or ""), "warnings": warnings or [],
        "form": form or EMPTY_FORM,
    }, error)


@router.get("/schedules")
def schedules_page(request: Request, offset: int = Query(0, ge=0), done: str | None = None,
                   user: User = Depends(analyst)) -> Response:
    return _page(request, offset=offset, done=done)


def _seed_ids(text: str) -> list[int]:
    ids: list[int] = []
    for part in text.replace(",", " ").split():
        if not part.isdigit():
            raise BadInput(f"seed_ids: {part!r} is not a seed id (a number).", field="seed_ids")
        ids.append(int(part))
    return ids


@router.post("/schedules")
def add_schedule(
    request: Request,
    name: str = Form("", max_length=100),
    seed_ids: str = Form("", max_length=5000),
    tag: str = Form("", max_length=100),
    when: str = Form("every", pattern="^(cron|every)$"),
    cron: str = Form("", max_length=200),
    every: str = Form("", max_length=50),
    depth: str = Form("", max_length=10),
    max_pages: str = Form("", max_length=12),
    time_budget: str = Form("", max_length=50),
    start_at: str = Form("", max_length=50),
    allow_addresses: str = Form("", max_length=2000),
    paused: bool = Form(False),
    user: User = Depends(analyst),
) -> Response:
    """The form offers cron or interval; only the chosen one is passed to the service."""
    form = {"name": name, "seed_ids": seed_ids, "tag": tag, "when": when, "cron": cron,
            "every": every, "depth": depth, "max_pages": max_pages,
            "time_budget": time_budget, "start_at": start_at,
            "allow_addresses": allow_addresses, "paused": paused}
    try:
        body = ScheduleIn(
            name=name.strip() or " ", seed_ids=_seed_ids(seed_ids), tag=tag.strip() or None,
            cron=cron.strip() if when == "cron" else None,
            every=every.strip() if when == "every" else None,
            depth=optional_int(depth, "depth", minimum=0),
            max_pages=optional_int(max_pages, "max_pages", minimum=1),
            time_budget=time_budget.strip() or DEFAULT_BUDGET,
            start_at=start_at.strip() or None, enabled=not paused,
            allow_addresses=split_allow_list(allow_addresses))
        _, warnings = add_schedule_from(request, body, user.name)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        field = str(first["loc"][0]) if first["loc"] else "body"  # the form's input
        return _page(request, form=form, error=BadInput(f"{where}: {first['msg']}",
                                                        field=field))
    except WebError as exc:
        return _page(request, form=form, error=exc)
    if warnings:
        return _page(request, done="added", warnings=warnings)
    return RedirectResponse("/schedules?done=added", status_code=303)


def _act(request: Request, schedule_id: int, action: str, actor: str) -> Response:
    store = store_of(request)
    try:
        with refusals("schedule_id"):
            if action == "removed":
                schedule_service.remove_schedule(store, schedule_id, actor=actor)
            elif action == "queued":
                schedule_service.queue_run_now(store, schedule_id,
                                               now=request.app.state.config.clock(),
                                               actor=actor)
            else:
                schedule_service.set_schedule_enabled(store, schedule_id, action == "resumed",
                                                      actor=actor)
    except WebError as exc:
        return _page(request, error=exc)
    return RedirectResponse(f"/schedules?done={action}", status_code=303)


@router.post("/schedules/{schedule_id}/pause")
def pause(request: Request, schedule_id: int, user: User = Depends(analyst)) -> Response:
    return _act(request, schedule_id, "paused", user.name)


@router.post("/schedules/{schedule_id}/resume")
def resume(request: Request, schedule_id: int, user: User = Depends(analyst)) -> Response:
    return _act(request, schedule_id, "resumed", user.name)


@router.post("/schedules/{schedule_id}/run-now")
def run_now(request: Request, schedule_id: int, user: User = Depends(analyst)) -> Response:
    return _act(request, schedule_id, "queued", user.name)


@router.post("/schedules/{schedule_id}/remove")
def remove(request: Request, schedule_id: int, user: User = Depends(analyst)) -> Response:
    return _act(request, schedule_id, "removed", user.name)
