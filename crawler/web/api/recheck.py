"""/api/v1/recheck (takedown): start a re-check of notified and live images in the background."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from crawler.services.recheck import RecheckError, start_recheck
from crawler.web.auth import User, require_role, store_of
from crawler.web.problems import BadInput
from crawler.web.schemas import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["recheck"], responses=PROBLEM_RESPONSES)
takedown = require_role("takedown")


class RecheckIn(BaseModel):
    hit_ids: list[int] = Field(default_factory=list, max_length=10_000,
                               description="Only these hits (default: every notified or "
                               "live one).")


class RecheckStartedOut(BaseModel):
    pid: int = Field(description="The `trawl recheck` process; outcomes land in the audit.")
    hits: int


def start_recheck_as(request: Request, hit_ids: list[int], actor: str) -> RecheckStartedOut:
    try:
        started = start_recheck(store_of(request), actor=actor, hit_ids=hit_ids or None)
    except RecheckError as exc:
        raise BadInput(str(exc), field="hit_ids") from None
    return RecheckStartedOut(pid=started.pid, hits=started.hits)


@router.post("/recheck", response_model=RecheckStartedOut, status_code=202,
             summary="Re-fetch notified and live images (in a process of its own)")
def recheck(request: Request, body: RecheckIn, user: User = Depends(takedown)
            ) -> RecheckStartedOut:
    return start_recheck_as(request, body.hit_ids, user.name)
