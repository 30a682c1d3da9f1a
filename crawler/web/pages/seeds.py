"""Seeds (analyst): the sites to crawl; add (the CLI's validation), pause, resume, by tag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from crawler.engine.scope import DEFAULT_DEPTH
from crawler.services import seeds as seed_service
from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.forms import optional_int, page_at, page_with, pager_links, split_list
from crawler.web.pagination import make_page
from crawler.web.problems import BadInput, WebError
from crawler.web.refusals import refusals
from storage.seeds import list_seeds

router = APIRouter(include_in_schema=False)
analyst = require_role("analyst")
STATES = ("all", "active", "paused")
DONE = {"added": "Seeds added.", "paused": "Seed paused.", "resumed": "Seed resumed.",
        "tagged": "Tags saved."}


def _page(request: Request, *, tag: str = "", state: str = "all", offset: int = 0,
          form: dict[str, Any] | None = None, error: Exception | None = None,
          done: str | None = None) -> Response:
    seeds = [s for s in list_seeds(store_of(request), tag=tag.strip() or None)
             if state == "all" or s.active == (state == "active")]
    page = page_at(offset)
    shown = make_page(seeds[offset: offset + page.fetch], page)
    filters = {"tag": tag, "state": state if state != "all" else ""}
    newer, older = pager_links("/seeds", shown, filters)
    return page_with(request, "seeds.html", {
        "page": shown, "filters": {"tag": tag, "state": state}, "states": STATES,
        "newer_link": newer, "older_link": older, "done": DONE.get(done or ""),
        "form": form or {"urls": "", "depth": str(DEFAULT_DEPTH), "max_pages": "",
                         "tags": "", "include_subdomains": False, "ignore_robots": False},
    }, error)


@router.get("/seeds")
def seeds_page(request: Request, tag: str = Query("", max_length=100),
               state: str = Query("all", pattern="^(all|active|paused)$"),
               offset: int = Query(0, ge=0), done: str | None = None,
               user: User = Depends(analyst)) -> Response:
    return _page(request, tag=tag, state=state, offset=offset, done=done)


@router.post("/seeds")
def add_seeds(
    request: Request,
    urls: str = Form("", max_length=200_000),
    depth: str = Form(str(DEFAULT_DEPTH), max_length=10),
    max_pages: str = Form("", max_length=12),
    tags: str = Form("", max_length=2000),
    include_subdomains: bool = Form(False),
    ignore_robots: bool = Form(False),
    user: User = Depends(analyst),
) -> Response:
    form = {"urls": urls, "depth": depth, "max_pages": max_pages, "tags": tags,
            "include_subdomains": include_subdomains, "ignore_robots": ignore_robots}
    lines = [line.strip() for line in urls.splitlines() if line.strip()]
    try:
        depth_value = optional_int(depth, "depth", minimum=0)
        pages_value = optional_int(max_pages, "max_pages", minimum=1)
        with refusals("tags"):
            tag_list = list(seed_service.clean_tags(split_list(tags)))
        if not lines:
            raise BadInput("Give at least one URL, one per line.", field="urls")
        with refusals("urls"):
            seed_service.add_seeds(
                store_of(request), lines,
                depth=DEFAULT_DEPTH if depth_value is None else depth_value,
                max_pages=pages_value, include_subdomains=include_subdomains,
                obey_robots=not ignore_robots, tags=tag_list, actor=user.name)
    except WebError as exc:
        return _page(request, form=form, error=exc)
    return RedirectResponse("/seeds?done=added", status_code=303)


def _set_active(request: Request, seed_id: int, active: bool, actor: str) -> Response:
    try:
        with refusals("seed_id"):
            seed_service.set_seeds_active(store_of(request), [seed_id], active=active,
                                          actor=actor)
    except WebError as exc:
        return _page(request, error=exc)
    return RedirectResponse(f"/seeds?done={'resumed' if active else 'paused'}",
                            status_code=303)


@router.post("/seeds/{seed_id}/pause")
def pause_seed(request: Request, seed_id: int, user: User = Depends(analyst)) -> Response:
    return _set_active(request, seed_id, False, user.name)


@router.post("/seeds/{seed_id}/resume")
def resume_seed(request: Request, seed_id: int, user: User = Depends(analyst)) -> Response:
    return _set_active(request, seed_id, True, user.name)


@router.post("/seeds/{seed_id}/tags")
def tag_seed(request: Request, seed_id: int, tags: str = Form("", max_length=2000),
             user: User = Depends(analyst)) -> Response:
    try:
        with refusals("tags"):
            seed_service.set_seed_tags(store_of(request), seed_id, split_list(tags),
                                       actor=user.name)
    except WebError as exc:
        return _page(request, error=exc)
    return RedirectResponse("/seeds?done=tagged", status_code=303)
