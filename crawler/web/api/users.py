"""/api/v1/users (admin): accounts and API tokens, through the same services as the CLI."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from crawler.services import users as user_service
from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.schemas import (
    PROBLEM_RESPONSES,
    IssuedTokenOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from storage.errors import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["users"], responses=PROBLEM_RESPONSES)
admin_only = require_role("admin")


@router.get("/users", response_model=Page[UserOut], summary="List accounts")
def list_users(request: Request, disabled: bool | None = None,
               page: PageRequest = Depends(page_request),
               user: User = Depends(admin_only)) -> Page[UserOut]:
    accounts = [a for a in user_service.list_users(store_of(request))
                if disabled is None or a.disabled == disabled]
    rows = [UserOut.model_validate(a) for a in accounts[page.offset: page.offset + page.fetch]]
    return make_page(rows, page)


@router.post("/users", response_model=UserOut, status_code=201, summary="Add an account")
def add_user(request: Request, body: UserIn, user: User = Depends(admin_only)) -> UserOut:
    added = user_service.add_user(store_of(request), body.name, body.role, body.password,
                                  actor=user.name)
    return UserOut.model_validate(added)


@router.get("/users/{name}", response_model=UserOut, summary="One account")
def get_user(request: Request, name: str, user: User = Depends(admin_only)) -> UserOut:
    found = user_service.get_user(store_of(request), name)
    if found is None:
        raise NotFoundError(f"There is no user named {name!r}.")
    return UserOut.model_validate(found)


@router.post("/users/{name}/disable", response_model=UserOut, summary="Disable an account")
def disable_user(request: Request, name: str, user: User = Depends(admin_only)) -> UserOut:
    return UserOut.model_validate(
        user_service.disable_user(store_of(request), name, actor=user.name))


@router.post("/users/{name}/enable", response_model=UserOut, summary="Enable an account")
def enable_user(request: Request, name: str, user: User = Depends(admin_only)) -> UserOut:
    return UserOut.model_validate(
        user_service.enable_user(store_of(request), name, actor=user.name))


@router.get("/users/{name}/tokens", response_model=list[TokenOut],
            summary="An account's API tokens (never the tokens themselves)")
def list_tokens(request: Request, name: str, user: User = Depends(admin_only)) -> list[TokenOut]:
    if user_service.get_user(store_of(request), name) is None:
        raise NotFoundError(f"There is no user named {name!r}.")
    return [TokenOut.model_validate(t) for t in user_service.list_tokens(store_of(request), name)]


@router.post("/users/{name}/tokens", response_model=IssuedTokenOut, status_code=201,
             summary="Issue an API token (returned once)")
def issue_token(request: Request, name: str, body: TokenIn,
                user: User = Depends(admin_only)) -> IssuedTokenOut:
    issued = user_service.issue_token(store_of(request), name, body.label, actor=user.name)
    return IssuedTokenOut(token=issued.token,
                          **TokenOut.model_validate(issued.info).model_dump())


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut, summary="Revoke a token")
def revoke_token(request: Request, token_id: int, user: User = Depends(admin_only)) -> TokenOut:
    return TokenOut.model_validate(
        user_service.revoke_token(store_of(request), token_id, actor=user.name))
