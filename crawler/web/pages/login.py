"""Sign in and sign out: the session cookie, the login form's own CSRF cookie, lockout."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from crawler.services import users as user_service
from crawler.services.users import LockedOut, SignInRefused
from crawler.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    User,
    client_address,
    csrf_matches,
    current_caller,
    delete_cookie,
    require_signed_in,
    set_cookie,
    store_of,
)
from crawler.web.problems import Forbidden, problem_for
from crawler.web.templating import render

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, *, next_path: str, error: str | None = None,
                name: str = "", status_code: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html",
                      {"login_csrf": token, "next_path": next_path, "error": error,
                       "name": name}, status_code=status_code)
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if await current_caller(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    name: str = Form("", max_length=255),
    password: str = Form("", max_length=user_service.MAX_PASSWORD_LENGTH),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not csrf_matches(expected, csrf_token):
        raise Forbidden("This sign-in form has expired or did not come from Trawl: "
                        "reload the page and try again.")
    store = store_of(request)
    try:
        user = user_service.verify_password(store, name.strip(), password,
                                            remote_addr=client_address(request))
    except SignInRefused as exc:
        # The form again, with the reason: 200 for a wrong password (401 would need an
        # HTTP authentication scheme this form is not), 429 with Retry-After when locked.
        if isinstance(exc, LockedOut):
            problem = problem_for(exc)
            response = _login_page(request, next_path=safe_next(next), error=str(exc),
                                   name=name, status_code=problem.status)
            response.headers.update(problem.headers)
            return response
        return _login_page(request, next_path=safe_next(next), error=str(exc), name=name)
    new = user_service.start_session(store, user)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, new.cookie,
               max_age=int(user_service.SESSION_LIFETIME.total_seconds()))
    delete_cookie(response, request, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, user: User = Depends(require_signed_in())) -> Response:
    await run_in_threadpool(user_service.end_session, store_of(request),
                            request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    delete_cookie(response, request, SESSION_COOKIE)
    return response
