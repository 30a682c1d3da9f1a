"""The JSON API's shapes: pydantic models shared with the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from crawler.services.users import MAX_LABEL_LENGTH, MAX_PASSWORD_LENGTH

Role = Literal["analyst", "takedown", "admin"]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Storage keeps naive UTC; the API says so (ISO 8601 with Z).
UtcTime = Annotated[datetime, AfterValidator(_as_utc)]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    disabled: bool
    created_at: UtcTime


class UserIn(BaseModel):
    """A new account; the name and password rules are the CLI's (see `trawl users add`)."""

    name: str = Field(max_length=64, examples=["alice"])
    role: Role
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class TokenIn(BaseModel):
    label: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_name: str
    label: str | None
    created_at: UtcTime
    last_used_at: UtcTime | None
    revoked_at: UtcTime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="The token itself: shown this once, stored only hashed.")


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcTime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    from_state: str | None
    to_state: str | None
    detail: str | None


class FieldProblem(BaseModel):
    field: str = Field(description="The input at fault, e.g. limit or name.")
    location: str | None = Field(default=None, description="query, path, body or form.")
    line: str | None = Field(default=None, description="For an uploaded file: the line "
                             "(1-based, as an editor shows it) at fault.")
    message: str


class ProblemOut(BaseModel):
    """An error, as RFC 9457 application/problem+json."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(description="What was wrong and what to do, in a sentence.")
    instance: str = Field(description="The path that was asked for.")
    errors: list[FieldProblem] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {"model": ProblemOut, "description": description}


# Declared on every API router, so the OpenAPI document shows the errors as they are sent.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("Not signed in: send `Authorization: Bearer TOKEN`."),
    403: _problem("The account's role may not do this, or a cookie write lacks X-CSRF-Token."),
    404: _problem("No such thing."),
    409: _problem("Conflicts with the current state (e.g. the name is taken)."),
    422: _problem("Invalid input; `errors` names each field."),
}
