"""The review queue (analysts): claim a batch, confirm or reject each image, by keyboard.

The page works without script (a form per action); static/review.js adds the keys.
Every action goes through storage.review, as `trawl review` does.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from crawler.web.auth import User, require_role, store_of
from crawler.web.pages.login import safe_next
from crawler.web.problems import problem_for
from crawler.web.review_schemas import MAX_NOTE_LENGTH, Tier
from crawler.web.reviewing import decide_hit, now_of, settings_of
from crawler.web.templating import render
from storage.evidence import queue_with_providers
from storage.policy import DEFAULT_CLAIM_LIMIT, DEFAULT_TIER, TIER_CHOICES
from storage.review import Decision, WorkflowError, claim_next

router = APIRouter(include_in_schema=False)
analysts = require_role("analyst")


def minutes_left(until: datetime | None, now: datetime) -> int:
    """Whole minutes a claim still holds (at least 1 while it holds)."""
    if until is None:
        return 0
    return max(1, math.ceil((until - now).total_seconds() / 60))


def queue_path(tier: str) -> str:
    return "/review?" + urlencode({"tier": tier})


def _queue_page(request: Request, user: User, tier: str, *, error: str | None = None,
                decided: str | None = None, status_code: int = 200) -> Response:
    # One read of the queue and its providers: your batch while you hold one; otherwise
    # the images the next claim would give you.
    seen, providers = queue_with_providers(store_of(request), actor=user.name, tier=tier,
                                           limit=DEFAULT_CLAIM_LIMIT, now=now_of(request),
                                           next_while_claimed=False)
    items = list(seen.mine or seen.next_up)
    return render(request, "review.html", {
        "queue": seen, "items": items, "providers": providers,
        "tiers": TIER_CHOICES, "tier": tier, "now": seen.now, "minutes_left": minutes_left,
        "error": error, "decided": decided, "note_max": MAX_NOTE_LENGTH,
        "required": settings_of(request).confirmations_required,
    }, status_code=status_code)


Outcome = Literal["confirmed", "rejected", "pending"]


def outcome_message(hit_id: int | None, outcome: Outcome | None) -> str | None:
    """What the last decision did, written here: nothing from the URL is shown as text."""
    if hit_id is None or outcome is None:
        return None
    if outcome == "pending":
        return f"hit {hit_id}: your confirmation is recorded; it needs another analyst"
    return f"hit {hit_id} {outcome}"


@router.get("/review")
def review_page(request: Request, tier: Tier = Query(DEFAULT_TIER),
                decided: int | None = Query(None, ge=1),
                outcome: Outcome | None = Query(None),
                user: User = Depends(analysts)) -> Response:
    return _queue_page(request, user, tier, decided=outcome_message(decided, outcome))


@router.post("/review/claim")
def claim(request: Request, tier: Tier = Form(DEFAULT_TIER),
          user: User = Depends(analysts)) -> Response:
    claim_next(store_of(request), actor=user.name, limit=DEFAULT_CLAIM_LIMIT,
               claim_minutes=settings_of(request).claim_minutes, tier=tier,
               now=now_of(request))
    return RedirectResponse(queue_path(tier), status_code=303)


def _decide(request: Request, user: User, hit_id: int, decision: Decision, note: str,
            tier: str, back: str | None) -> Response:
    try:
        result = decide_hit(request, hit_id, decision, note, user.name)
    except WorkflowError as exc:
        problem = problem_for(exc)
        return _queue_page(request, user, tier, error=problem.detail,
                           status_code=problem.status)
    target = safe_next(back) if back else queue_path(tier)
    if target.startswith("/review"):
        target = queue_path(tier) + "&" + urlencode({"decided": result.id,
                                                     "outcome": result.to_state})
    return RedirectResponse(target, status_code=303)


@router.post("/review/{hit_id}/confirm")
def confirm(request: Request, hit_id: int,
            note: str = Form("", max_length=MAX_NOTE_LENGTH),
            tier: Tier = Form(DEFAULT_TIER), back: str | None = Form(None, max_length=300),
            user: User = Depends(analysts)) -> Response:
    return _decide(request, user, hit_id, "confirm", note, tier, back)


@router.post("/review/{hit_id}/reject")
def reject(request: Request, hit_id: int,
           note: str = Form("", max_length=MAX_NOTE_LENGTH),
           tier: Tier = Form(DEFAULT_TIER), back: str | None = Form(None, max_length=300),
           user: User = Depends(analysts)) -> Response:
    return _decide(request, user, hit_id, "reject", note, tier, back)

