"""/api/v1/hits and /api/v1/review (analysts): images that matched, claims, decisions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.review_schemas import (
    ClaimHolderOut,
    ClaimIn,
    DecisionIn,
    DecisionOut,
    HitDetailOut,
    HitOut,
    HitState,
    QueueOut,
    Tier,
)
from crawler.web.reviewing import decide_hit, hit_outs, now_of
from crawler.web.schemas import PROBLEM_RESPONSES
from storage.evidence import get_hit_detail, queue_with_providers
from storage.hits import list_hits
from storage.policy import DEFAULT_CLAIM_LIMIT, DEFAULT_TIER
from storage.review import claim_next

router = APIRouter(prefix="/api/v1", tags=["review"], responses=PROBLEM_RESPONSES)
analysts = require_role("analyst")


@router.get("/hits", response_model=Page[HitOut], summary="Images that matched, newest first")
def hits(
    request: Request,
    status: HitState | None = Query(None, description="Only images in this state."),
    tier: Tier = Query("all", description="high, low or all."),
    host: str | None = Query(None, max_length=255, description="Only images on this host."),
    page: PageRequest = Depends(page_request),
    user: User = Depends(analysts),
) -> Page[HitOut]:
    rows = list_hits(store_of(request), status=status, tier=tier, host=host or None,
                     limit=page.fetch, offset=page.offset, newest_first=True)
    return make_page(hit_outs(request, rows), page)


@router.get("/hits/{hit_id}", response_model=HitDetailOut, summary="All evidence for an image")
def hit(request: Request, hit_id: int, user: User = Depends(analysts)) -> HitDetailOut:
    return HitDetailOut.model_validate(get_hit_detail(store_of(request), hit_id))


@router.post("/hits/{hit_id}/confirm", response_model=DecisionOut,
             summary="Confirm an image as a true match (audited)")
def confirm(request: Request, hit_id: int, body: DecisionIn | None = None,
            user: User = Depends(analysts)) -> DecisionOut:
    note = body.note if body else None
    return DecisionOut.model_validate(decide_hit(request, hit_id, "confirm", note, user.name))


@router.post("/hits/{hit_id}/reject", response_model=DecisionOut,
             summary="Reject an image as a false positive (audited)")
def reject(request: Request, hit_id: int, body: DecisionIn | None = None,
           user: User = Depends(analysts)) -> DecisionOut:
    note = body.note if body else None
    return DecisionOut.model_validate(decide_hit(request, hit_id, "reject", note, user.name))


@router.get("/review/queue", response_model=QueueOut,
            summary="Your claimed batch, the next unclaimed images and others' claims")
def queue(request: Request, tier: Tier = Query(DEFAULT_TIER),
          limit: int = Query(DEFAULT_CLAIM_LIMIT, ge=1, le=100),
          user: User = Depends(analysts)) -> QueueOut:
    seen, providers = queue_with_providers(store_of(request), actor=user.name, tier=tier,
                                           limit=limit, now=now_of(request))
    return QueueOut(tier=seen.tier, mine=hit_outs(request, seen.mine, providers),
                    next_up=hit_outs(request, seen.next_up, providers),
                    holders=[ClaimHolderOut.model_validate(h) for h in seen.holders])


@router.post("/review/claim", response_model=list[HitOut],
             summary="Claim the next batch of pending images for yourself")
def claim(request: Request, body: ClaimIn | None = None,
          user: User = Depends(analysts)) -> list[HitOut]:
    wanted = body or ClaimIn()
    rows = claim_next(store_of(request), actor=user.name, limit=wanted.limit,
                      claim_minutes=wanted.claim_minutes, tier=wanted.tier,
                      now=now_of(request))
    return hit_outs(request, rows)
