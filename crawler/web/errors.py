"""Errors: RFC 9457 problem+json on /api, an error page elsewhere, written in one handler."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from crawler.web.headers import NO_STORE, SECURITY_HEADERS
from crawler.web.problems import (
    API_PREFIX,
    PROBLEM_MEDIA_TYPE,
    NotSignedIn,
    problem_for,
)
from crawler.web.templating import render_error


async def handle_error(request: Request, exc: Exception) -> Response:
    """The one exception handler: problem+json for the API, a page (or the login page
    for a person who is not signed in) for everything else."""
    problem = problem_for(exc)
    path = request.url.path
    response: Response
    if path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/"):
        response = JSONResponse(problem.body(path), status_code=problem.status,
                                headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE)
    elif problem.status == 401 and isinstance(exc, NotSignedIn):
        target = path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    else:
        response = render_error(request, problem)
    # A 500 is answered outside the middleware stack: set the headers here too.
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = NO_STORE
    return response

