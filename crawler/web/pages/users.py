"""Users (admin): the accounts, adding one, disabling or enabling, issuing API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from crawler.services import users as user_service
from crawler.services.users import AccountError, IssuedToken
from crawler.web.auth import User, require_role, store_of
from crawler.web.problems import problem_for
from crawler.web.templating import render
from storage.errors import StorageError
from storage.roles import ROLES

router = APIRouter(include_in_schema=False)
admin_only = require_role("admin")


def _page(request: Request, *, error: Exception | None = None,
          form: dict[str, str] | None = None, issued: IssuedToken | None = None,
          added: str | None = None) -> Response:
    store = store_of(request)
    accounts = user_service.list_users(store)
    context: dict[str, Any] = {
        "accounts": accounts,
        "tokens": user_service.list_tokens(store),
        "roles": ROLES,
        "form": form or {"name": "", "role": "analyst"},
        "issued": issued,
        "added": added if any(a.name == added for a in accounts) else None,
        "error": None,
        "error_field": None,
    }
    status = 200
    if error is not None:
        problem = problem_for(error)
        status = problem.status
        context["error"] = problem.detail
        context["error_field"] = getattr(error, "field", None)
    return render(request, "users.html", context, status_code=status)


@router.get("/users")
def users_page(request: Request, added: str | None = None,
               user: User = Depends(admin_only)) -> Response:
    return _page(request, added=added)


@router.post("/users")
def add_user(
    request: Request,
    name: str = Form("", max_length=255),
    role: str = Form(""),
    password: str = Form("", max_length=user_service.MAX_PASSWORD_LENGTH),
    password_confirm: str = Form("", max_length=user_service.MAX_PASSWORD_LENGTH),
    user: User = Depends(admin_only),
) -> Response:
    form = {"name": name, "role": role}
    try:
        if password != password_confirm:
            raise AccountError("The two passwords differ: type the same password twice.",
                               field="password_confirm")
        user_service.add_user(store_of(request), name.strip(), role, password,
                              actor=user.name)
    except (AccountError, StorageError) as exc:
        return _page(request, error=exc, form=form)
    return RedirectResponse(f"/users?added={name.strip()}", status_code=303)


def _set_disabled(request: Request, name: str, *, disabled: bool, actor: str) -> Response:
    store = store_of(request)
    try:
        if disabled:
            user_service.disable_user(store, name, actor=actor)
        else:
            user_service.enable_user(store, name, actor=actor)
    except StorageError as exc:
        return _page(request, error=exc)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/disable")
def disable_user(request: Request, name: str, user: User = Depends(admin_only)) -> Response:
    return _set_disabled(request, name, disabled=True, actor=user.name)


@router.post("/users/{name}/enable")
def enable_user(request: Request, name: str, user: User = Depends(admin_only)) -> Response:
    return _set_disabled(request, name, disabled=False, actor=user.name)


@router.post("/users/{name}/tokens")
def issue_token(request: Request, name: str, label: str = Form("", max_length=255),
                user: User = Depends(admin_only)) -> Response:
    """The new token is shown on this response only (never in a URL or a redirect)."""
    try:
        issued = user_service.issue_token(store_of(request), name, label, actor=user.name)
    except (AccountError, StorageError) as exc:
        return _page(request, error=exc)
    return _page(request, issued=issued)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, user: User = Depends(admin_only)) -> Response:
    try:
        user_service.revoke_token(store_of(request), token_id, actor=user.name)
    except StorageError as exc:
        return _page(request, error=exc)
    return RedirectResponse("/users", status_code=303)
