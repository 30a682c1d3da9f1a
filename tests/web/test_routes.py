"""Every route of the app x every role: allowed, 403, or (anonymous) sign in first.

The routes are read off the app, so a route added later is covered without editing this
file; a route that declares no role (require_role) and is not listed as public fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from crawler.web.auth import RoleRequirement
from tests.web.helpers import ROLE_ACCOUNT, Seeded, app_for, client, session_for

# Open to anyone: signing in, and the API's description.
PUBLIC_ROUTES = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
}
PUBLIC_MOUNTS = {"/static", "/api/docs/assets"}
ROLES = ("analyst", "takedown", "admin")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def declared_roles(dependant: Dependant) -> frozenset[str] | None:
    for dep in dependant.dependencies:
        if isinstance(dep.call, RoleRequirement):
            return dep.call.roles
        found = declared_roles(dep)
        if found is not None:
            return found
    return None


def flat_routes(app: FastAPI) -> Iterator[tuple[str, BaseRoute]]:
    """(path, route) of every route, through included routers (FastAPI >= 0.16x keeps
    them nested; earlier versions copied them into app.routes)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        for route in app.routes:
            yield getattr(route, "path", ""), route
        return
    for context in iterate(app.routes):
        yield context.path or "", context.original_route


def endpoints(app: FastAPI) -> Iterator[tuple[str, str, frozenset[str] | None]]:
    for path, route in flat_routes(app):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                yield method, path, declared_roles(route.dependant)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, path, None


def concrete(path: str, seeded: Seeded) -> str:
    """A path with its parameters filled: the spare account, its token, else 1."""
    values = {"name": "zed", "token_id": str(seeded.spare_token_id)}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), path)


def test_every_route_declares_its_roles_or_is_public(seeded: Seeded) -> None:
    app = app_for(seeded.db_url)
    undeclared = [(m, p) for m, p, roles in endpoints(app)
                  if roles is None and (m, p) not in PUBLIC_ROUTES]
    assert undeclared == [], "add Depends(require_role(...)) or list them as public"
    mounts = {path for path, r in flat_routes(app) if isinstance(r, Mount)}
    assert mounts == PUBLIC_MOUNTS
    kinds = {type(r) for _, r in flat_routes(app)} - {APIRoute, Route, Mount}
    assert kinds == set(), "a kind of route this test cannot check"
    declared = {(m, p) for m, p, roles in endpoints(app) if roles is not None}
    assert declared & PUBLIC_ROUTES == set()


def test_every_route_for_every_role(seeded: Seeded) -> None:
    app = app_for(seeded.db_url)
    checked = 0
    with client(app) as c:
        for method, path, roles in endpoints(app):
            if roles is None:
                continue
            url = concrete(path, seeded)
            api = path.startswith("/api/")
            # Anonymous: the API says 401 in problem+json; a page sends you to sign in.
            c.cookies.clear()
            r = c.request(method, url, follow_redirects=False)
            if api:
                assert r.status_code == 401, (method, path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["www-authenticate"] == "Bearer"
            else:
                assert r.status_code == 303, (method, path, r.status_code)
                assert r.headers["location"].startswith("/login?next=")
            for role in ROLES:
                allowed = role == "admin" or role in roles
                c.cookies.clear()
                headers: dict[str, str] = {}
                data: dict[str, str] | None = None
                if api:
                    headers["Authorization"] = f"Bearer {seeded.tokens[ROLE_ACCOUNT[role]]}"
                else:
                    csrf = session_for(app, c, ROLE_ACCOUNT[role])
                    if method in UNSAFE:
                        data = {"csrf_token": csrf}
                r = c.request(method, url, headers=headers, data=data, follow_redirects=False)
                where = (method, path, role, r.status_code, r.text[:300])
                if allowed:
                    assert r.status_code not in (401, 403), where
                    assert not r.headers.get("location", "").startswith("/login?next="), where
                else:
                    assert r.status_code == 403, where
                    if api:
                        assert r.headers["content-type"] == "application/problem+json", where
                checked += 1
            if method in UNSAFE and not api:
                # A page form without its CSRF token is refused, even for an admin.
                c.cookies.clear()
                session_for(app, c, "ada")
                r = c.request(method, url, data={"csrf_token": "wrong"},
                              follow_redirects=False)
                assert r.status_code == 403, (method, path, "wrong CSRF")
                r = c.request(method, url, follow_redirects=False)
                assert r.status_code == 403, (method, path, "missing CSRF")
    assert checked >= 3 * 15


def test_public_routes_answer_anonymously(seeded: Seeded) -> None:
    app = app_for(seeded.db_url)
    with client(app) as c:
        assert c.get("/login").status_code == 200
        assert c.get("/api/openapi.json").status_code == 200
        docs = c.get("/api/docs")
        assert docs.status_code == 200
        assert "/api/docs/assets/swagger-ui-bundle.js" in docs.text
        for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert c.get(f"/api/docs/assets/{name}").status_code == 200
        for name in ("app.css", "app.js", "api-docs.js", "favicon.svg"):
            assert c.get(f"/static/{name}").status_code == 200
