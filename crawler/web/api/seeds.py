"""/api/v1/seeds (analyst): the sites to crawl, added with the CLI's validation, paused, resumed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from crawler.engine.scope import DEFAULT_DEPTH
from crawler.services import seeds as seed_service
from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.refusals import refusals
from crawler.web.schemas import PROBLEM_RESPONSES, UtcTime
from storage.seeds import list_seeds

router = APIRouter(prefix="/api/v1", tags=["seeds"], responses=PROBLEM_RESPONSES)
analyst = require_role("analyst")

MAX_URLS = 1000  # per request; more go through `trawl seeds add` or several requests


class SeedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    domain: str
    depth: int
    max_pages: int | None
    include_subdomains: bool
    obey_robots: bool
    active: bool
    tags: list[str]
    created_at: UtcTime


class SeedsIn(BaseModel):
    """Seeds to add (or update, by URL): the rules are `trawl seeds add`'s, all or nothing."""

    urls: list[str] = Field(min_length=1, max_length=MAX_URLS,
                            examples=[["https://example.org/"]])
    depth: int = Field(DEFAULT_DEPTH, ge=0, description="Links deep to follow from the seed.")
    max_pages: int | None = Field(None, ge=1, description="Page limit (none: no limit).")
    include_subdomains: bool = False
    obey_robots: bool = True
    tags: list[str] = Field(default_factory=list, max_length=50)


class TagsIn(BaseModel):
    tags: list[str] = Field(max_length=50, description="The seed's tags from now on "
                            "(empty: none).")


def seed_out(info: object) -> SeedOut:
    return SeedOut.model_validate(info)


@router.get("/seeds", response_model=Page[SeedOut], summary="List seeds")
def get_seeds(
    request: Request,
    tag: str | None = Query(None, description="Only seeds with this tag."),
    active: bool | None = Query(None, description="true: only active; false: only paused."),
    page: PageRequest = Depends(page_request),
    user: User = Depends(analyst),
) -> Page[SeedOut]:
    rows = [s for s in list_seeds(store_of(request), tag=tag or None)
            if active is None or s.active == active]
    return make_page([seed_out(s) for s in rows[page.offset: page.offset + page.fetch]], page)


@router.post("/seeds", response_model=list[SeedOut], status_code=201,
             summary="Add or update seeds (all or nothing)")
def add_seeds(request: Request, body: SeedsIn, user: User = Depends(analyst)) -> list[SeedOut]:
    with refusals("tags"):
        seed_service.clean_tags(body.tags)
    with refusals("urls"):
        stored = seed_service.add_seeds(
            store_of(request), body.urls, depth=body.depth, max_pages=body.max_pages,
            include_subdomains=body.include_subdomains, obey_robots=body.obey_robots,
            tags=body.tags, actor=user.name)
    return [seed_out(s) for s in stored]


@router.post("/seeds/{seed_id}/pause", response_model=SeedOut, summary="Pause a seed")
def pause_seed(request: Request, seed_id: int, user: User = Depends(analyst)) -> SeedOut:
    with refusals("seed_id"):
        [info] = seed_service.set_seeds_active(store_of(request), [seed_id], active=False,
                                               actor=user.name)
    return seed_out(info)


@router.post("/seeds/{seed_id}/resume", response_model=SeedOut, summary="Resume a seed")
def resume_seed(request: Request, seed_id: int, user: User = Depends(analyst)) -> SeedOut:
    with refusals("seed_id"):
        [info] = seed_service.set_seeds_active(store_of(request), [seed_id], active=True,
                                               actor=user.name)
    return seed_out(info)


@router.post("/seeds/{seed_id}/tags", response_model=SeedOut, summary="Replace a seed's tags")
def tag_seed(request: Request, seed_id: int, body: TagsIn,
             user: User = Depends(analyst)) -> SeedOut:
    with refusals("tags"):
        return seed_out(seed_service.set_seed_tags(store_of(request), seed_id, body.tags,
                                                   actor=user.name))
