"""The JSON API's shapes: pydantic models shared with the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

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
