"""Jinja2 pages: autoescaped, composed from base.html and partials, with the nav per role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import Response

from crawler.clock import iso_z
from crawler.services.users import role_allows
from crawler.web.auth import Caller, csrf_token
from storage.roles import ADMIN_ROLE, ANALYST_ROLE, ROLES, TAKEDOWN_ROLE

if TYPE_CHECKING:
    from crawler.web.problems import Problem

_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    roles: tuple[str, ...]


NAV = (
    NavItem("Dashboard", "/", ROLES),
    NavItem("Review", "/review", (ANALYST_ROLE,)),
    NavItem("Hits", "/hits", (ANALYST_ROLE,)),
    NavItem("Seeds", "/seeds", (ANALYST_ROLE,)),
    NavItem("Schedules", "/schedules", (ANALYST_ROLE,)),
    NavItem("Crawls", "/crawls", (ANALYST_ROLE,)),
    NavItem("Notices", "/notices", (TAKEDOWN_ROLE,)),
    NavItem("Providers", "/providers", (TAKEDOWN_ROLE,)),
    NavItem("Lists", "/lists", (ADMIN_ROLE,)),
    NavItem("Audit", "/audit", ROLES),
    NavItem("Users", "/users", (ADMIN_ROLE,)),
    NavItem("API", "/api/docs", ROLES),
)


def http_url(value: object) -> str | None:
    """The value if it is a plain http(s) URL that is safe as a link target, else None.

    Crawled URLs are linked (never loaded) only through this: no javascript:, data: or
    other schemes, no whitespace or control characters, no backslashes.
    """
    if not isinstance(value, str) or _UNSAFE_URL_CHARS.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _time(value: datetime | None) -> str:
    return iso_z(value) or ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("crawler.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no stat of each file per page
    )
    env.filters["http_url"] = http_url
    env.filters["time"] = _time
    return env


templates = Jinja2Templates(env=_environment())


def compile_templates() -> None:
    """Compile every page now (a server process calls it as it starts), not in the first
    request of each page."""
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> Response:
    """A page with the signed-in user, their nav and the CSRF token in its context."""
    caller: Caller | None = getattr(request.state, "caller", None)
    user = caller.user if caller else None
    nav = [item for item in NAV if user and role_allows(user.role, item.roles)]
    base = {"user": user, "nav": nav, "csrf_token": csrf_token(request),
            "path": request.url.path}
    return templates.TemplateResponse(request, name, {**base, **(context or {})},
                                      status_code=status_code)


def render_error(request: Request, problem: Problem) -> Response:
    response = render(request, "error.html", {"problem": problem},
                      status_code=problem.status)
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response
