"""Who is asking: session cookies for pages, bearer tokens for the API, roles and CSRF.

A route says what it needs in its signature:

    def page(user: User = Depends(require_role("analyst"))) -> ...

Admin may do everything. For unsafe methods (POST, ...) the same dependency checks the
CSRF token of a cookie session (form field `csrf_token` or header `X-CSRF-Token`), so no
page route can forget it; bearer-token API calls need none, and the API accepts a cookie
for a write only with the CSRF header.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import datetime

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from crawler.services import users as user_service
from crawler.web.problems import API_PREFIX, Forbidden, NotSignedIn
from storage.clock import utcnow
from storage.db import Store
from storage.roles import ROLES
from storage.users import SessionInfo, UserInfo, credentials_version

User = UserInfo

SESSION_COOKIE = "trawl_session"
LOGIN_CSRF_COOKIE = "trawl_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a server process trusts what it last read about a cookie or token without
# reading it again (see CallerCache).
CALLER_CACHE_SECONDS = 5.0
CALLER_CACHE_SIZE = 4096

bearer_scheme = HTTPBearer(auto_error=False, description="An API token from "
                           "`trawl users token NAME` (or the Users page).")


@dataclass(frozen=True)
class Caller:
    """A signed-in person and how they proved it (session is None for a bearer token)."""

    user: UserInfo
    session: SessionInfo | None


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def is_secure(request: Request) -> bool:
    """Whether the request came over TLS (as the trusted proxy said, when configured)."""
    return request.url.scheme == "https"


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(frozen=True)
class _Remembered:
    caller: Caller
    read_at: float  # time.monotonic()
    version: int  # storage.users.credentials_version() before it was read
    expires_at: datetime | None  # the session's end


class CallerCache:
    """Who a cookie or token stood for, as this server process last read it: a request
    within CALLER_CACHE_SECONDS of that reading skips the database (a statement, a
    connection checkout and a thread hop on every request otherwise).

    What stays prompt: a session ending (sign-out, expiry) or an account disabled, a token
    revoked or a password changed through this process (its web pages or API, or any code
    in it) is seen by the next request, because storage.users bumps credentials_version()
    and entries read before are dropped; a session past its expires_at is never answered
    from here. Through another process (the CLI, another `trawl serve --workers` process),
    a change takes effect within CALLER_CACHE_SECONDS (5 s). Refusals are never cached.
    A session's last_seen_at (idle timeout: 1 h) and a token's last_used_at are touched,
    at most once a minute as before, when the cache reads the database again.
    """

    def __init__(self, seconds: float = CALLER_CACHE_SECONDS,
                 size: int = CALLER_CACHE_SIZE) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[tuple[str, str], _Remembered] = {}

    def get(self, key: tuple[str, str]) -> Caller | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if (time.monotonic() - entry.read_at > self.seconds
                or entry.version != credentials_version()
                or (entry.expires_at is not None and utcnow() >= entry.expires_at)):
            self._entries.pop(key, None)
            return None
        return entry.caller

    def clear(self) -> None:
        self._entries.clear()

    def put(self, key: tuple[str, str], caller: Caller, version: int, read_at: float) -> None:
        if len(self._entries) >= self.size:
            self.clear()  # simpler than LRU; a size a server never reaches
        expires_at = caller.session.expires_at if caller.session is not None else None
        self._entries[key] = _Remembered(caller, read_at, version, expires_at)


def _credential(request: Request, token: str | None) -> tuple[str, str] | None:
    """What the request signs in with: ("token", sha256) on the API with a bearer token,
    else ("cookie", sha256) of the session cookie; None without either."""
    if token is not None and is_api(request):  # pages take the session cookie only
        return ("token", user_service.secret_hash(token))
    cookie = request.cookies.get(SESSION_COOKIE)
    return ("cookie", user_service.secret_hash(cookie)) if cookie else None


def _authenticate(request: Request, token: str | None) -> Caller | None:
    store = store_of(request)
    if token is not None and is_api(request):  # pages take the session cookie only
        user = user_service.user_for_token(store, token)
        return Caller(user, None) if user is not None else None
    session = user_service.session_for_cookie(store, request.cookies.get(SESSION_COOKIE))
    return Caller(session.user, session) if session is not None else None


def caller_cache(request: Request) -> CallerCache:
    """The app's CallerCache (one per app, so per server process)."""
    cache: CallerCache = request.app.state.caller_cache
    return cache


async def current_caller(request: Request, token: str | None = None) -> Caller | None:
    """The caller of this request (cached on request.state), or None when anonymous."""
    if hasattr(request.state, "caller"):
        cached: Caller | None = request.state.caller
        return cached
    key = _credential(request, token)
    cache = caller_cache(request)
    caller = cache.get(key) if key is not None else None
    if caller is None:
        version, read_at = credentials_version(), time.monotonic()
        caller = await run_in_threadpool(_authenticate, request, token)
        if caller is not None and key is not None:
            cache.put(key, caller, version, read_at)
    request.state.caller = caller
    return caller


async def _presented_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header or is_api(request):
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def csrf_matches(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(),
                                                         presented.encode())


class RoleRequirement:
    """A dependency: the signed-in user, if their role is one of `roles` (or admin).

    `roles` is kept so tests can read every route's declared roles off the app.
    """

    def __init__(self, roles: tuple[str, ...]) -> None:
        unknown = set(roles) - set(ROLES)
        if not roles or unknown:
            raise ValueError(f"require_role needs roles among {ROLES}, not {sorted(unknown)}")
        self.roles = frozenset(roles)

    async def __call__(
        self, request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    ) -> UserInfo:
        caller = await current_caller(request, credentials.credentials if credentials else None)
        if caller is None:
            raise NotSignedIn("Sign in first: send an API token as `Authorization: Bearer "
                              "TOKEN`." if is_api(request) else "Sign in first.")
        if not user_service.role_allows(caller.user.role, self.roles):
            allowed = " or ".join(sorted(self.roles | {"admin"}))
            raise Forbidden(f"This needs the {allowed} role; {caller.user.name} is "
                            f"{caller.user.role}.")
        if (request.method not in SAFE_METHODS and caller.session is not None
                and not csrf_matches(caller.session.csrf_secret,
                                     await _presented_csrf(request))):
            raise Forbidden(
                f"The request's CSRF token is missing or wrong: send the {CSRF_HEADER} "
                "header with a cookie session, or use an API token."
                if is_api(request) else
                "This form has expired or did not come from Trawl: reload the page and "
                "try again.")
        return caller.user


def require_role(*roles: str) -> RoleRequirement:
    """`Depends(require_role("analyst"))`: analysts (and admins) only."""
    return RoleRequirement(roles)


def require_signed_in() -> RoleRequirement:
    """Anyone signed in, whatever their role."""
    return RoleRequirement(ROLES)


def csrf_token(request: Request) -> str | None:
    """The CSRF token for forms on this page (the session's secret), if signed in."""
    caller: Caller | None = getattr(request.state, "caller", None)
    return caller.session.csrf_secret if caller and caller.session else None


def set_cookie(response: Response, request: Request, name: str, value: str, *,
               max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Strict, path /, and Secure when the request came over TLS."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=is_secure(request),
                        httponly=True, samesite="strict")


def delete_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", secure=is_secure(request), httponly=True,
                           samesite="strict")
