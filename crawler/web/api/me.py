"""GET /api/v1/me: who the token or session belongs to."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from crawler.web.auth import User, require_signed_in
from crawler.web.schemas import PROBLEM_RESPONSES, UserOut

router = APIRouter(prefix="/api/v1", tags=["me"], responses=PROBLEM_RESPONSES)


@router.get("/me", response_model=UserOut, summary="The signed-in account")
def me(user: User = Depends(require_signed_in())) -> UserOut:
    return UserOut.model_validate(user)
