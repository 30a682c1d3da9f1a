"""The start page: who you are and where to go (the numbers come with the review pages)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from crawler.web.auth import User, require_signed_in
from crawler.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, user: User = Depends(require_signed_in())) -> Response:
    return render(request, "dashboard.html")
