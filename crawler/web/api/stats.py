"""GET /api/v1/stats: the team's figures, the same as `trawl stats` and the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from crawler.web.auth import User, require_signed_in, store_of
from crawler.web.review_schemas import StatsOut
from crawler.web.reviewing import now_of
from crawler.web.schemas import PROBLEM_RESPONSES
from storage.policy import DEFAULT_OLDEST_LIVE
from storage.stats import takedown_stats

router = APIRouter(prefix="/api/v1", tags=["stats"], responses=PROBLEM_RESPONSES)


@router.get("/stats", response_model=StatsOut, summary="Images per state, removal times, "
            "due re-notices, crawls per day")
def stats(request: Request,
          oldest: int = Query(DEFAULT_OLDEST_LIVE, ge=0, le=1000,
                              description="How many of the oldest still-live images."),
          user: User = Depends(require_signed_in())) -> StatsOut:
    return StatsOut.model_validate(
        takedown_stats(store_of(request), now=now_of(request), oldest=oldest))
