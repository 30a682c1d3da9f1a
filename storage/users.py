"""People: accounts, API tokens, login sessions and failed sign-ins, as plain dataclasses.

Secrets never reach this module in the clear: callers pass the argon2 hash of a password
and the sha256 of a token or session cookie. Every change to an account or token is
written to the audit trail in the same transaction, as the person who made it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.audit import append_audit
from storage.clock import utcnow
from storage.errors import NotFoundError, StorageError
from storage.models import ApiToken, LoginFailure, LoginSession, User
from storage.roles import ADMIN_ROLE

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

_CHANGES = itertools.count(1)
_credentials_version = 0


def credentials_version() -> int:
    """A number that grows whenever this process disables or enables an account, changes a
    password, revokes a token or ends a session: what a cache of who holds which cookie or
    token (crawler/web/auth.py) compares to know it must look again."""
    return _credentials_version


@contextmanager
def _changing_credentials() -> Iterator[None]:
    """Bump the version before the change (a look-up running meanwhile records an older
    one) and after it is committed (one that read the old row before the commit does too)."""
    global _credentials_version
    _credentials_version = next(_CHANGES)
    try:
        yield
    finally:
        _credentials_version = next(_CHANGES)


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: str  # analyst | takedown | admin
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class UserCredentials:
    """An account with its argon2 password hash: only for checking a password."""

    user: UserInfo
    password_hash: str


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    user_name: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SessionInfo:
    id: int
    user: UserInfo
    csrf_secret: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class UserExistsError(StorageError):
    """An account of that name already exists."""


class UnknownUserError(NotFoundError):
    """No account of that name (or token of that id)."""


class LastAdminError(StorageError):
    """The change would leave no enabled administrator."""


def _user_info(row: User) -> UserInfo:
    return UserInfo(
        id=row.id, name=row.name, role=row.role, disabled=row.disabled,
        created_at=row.created_at,
    )


def _token_info(row: ApiToken, user_name: str) -> TokenInfo:
    return TokenInfo(
        id=row.id, user_id=row.user_id, user_name=user_name, label=row.label,
        created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at,
    )


def _user_row(session: Session, name: str) -> User:
    row = session.scalars(select(User).where(User.name == name)).one_or_none()
    if row is None:
        raise UnknownUserError(
            f"There is no user named {name!r}: `trawl users list` shows the accounts."
        )
    return row


# --- accounts -------------------------------------------------------------------------


def add_user(
    store: Store, *, name: str, role: str, password_hash: str, actor: str,
    now: datetime | None = None,
) -> UserInfo:
    """Create an account; raises UserExistsError when the name is taken."""
    when = now or utcnow()
    refusal = UserExistsError(
        f"A user named {name!r} already exists: choose another name, or disable that one."
    )
    try:
        with store.session() as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise refusal
            row = User(name=name, role=role, password_hash=password_hash, disabled=False,
                       created_at=when)
            session.add(row)
            session.flush()
            append_audit(session, actor=actor, action="add", entity="user", entity_id=row.id,
                         to_state=role, detail={"name": name, "role": role})
            return _user_info(row)
    except IntegrityError:  # another process added the same name between check and insert
        raise refusal from None


def get_user(store: Store, name: str) -> UserInfo | None:
    with store.read_session() as session:
        row = session.scalars(select(User).where(User.name == name)).one_or_none()
        return _user_info(row) if row is not None else None


def user_credentials(store: Store, name: str) -> UserCredentials | None:
    with store.read_session() as session:
        row = session.scalars(select(User).where(User.name == name)).one_or_none()
        if row is None:
            return None
        return UserCredentials(user=_user_info(row), password_hash=row.password_hash)


def list_users(store: Store) -> list[UserInfo]:
    with store.read_session() as session:
        return [_user_info(row) for row in session.scalars(select(User).order_by(User.name))]


def set_user_disabled(
    store: Store, name: str, *, disabled: bool, actor: str,
) -> UserInfo:
    """Disable (or enable again) an account. Disabling ends its sessions at once; its
    tokens stay on record but are refused while it is disabled.

    Refuses to disable the last enabled administrator: nobody could then manage accounts
    from the web app (the CLI on the server still could).
    """
    with _changing_credentials(), store.session() as session:
        row = _user_row(session, name)
        if row.disabled == disabled:
            return _user_info(row)
        if disabled and row.role == ADMIN_ROLE:
            admins = session.scalar(
                select(func.count()).select_from(User)
                .where(User.role == ADMIN_ROLE, User.disabled.is_(False))
            )
            if (admins or 0) <= 1:
                raise LastAdminError(
                    f"{name!r} is the only enabled administrator: add or enable another "
                    "admin first, so that someone can still manage accounts."
                )
        row.disabled = disabled
        if disabled:
            session.execute(delete(LoginSession).where(LoginSession.user_id == row.id))
        append_audit(
            session, actor=actor, action="disable" if disabled else "enable", entity="user",
            entity_id=row.id, from_state="enabled" if disabled else "disabled",
            to_state="disabled" if disabled else "enabled", detail={"name": name},
        )
        return _user_info(row)


def set_password_hash(store: Store, user_id: int, password_hash: str) -> None:
    """Replace a stored hash by one of the same password (argon2 parameters upgraded)."""
    with _changing_credentials(), store.session() as session:
        session.execute(update(User).where(User.id == user_id)
                        .values(password_hash=password_hash))


# --- API tokens -----------------------------------------------------------------------


def add_token(
    store: Store, *, user_name: str, token_hash: str, label: str | None, actor: str,
    now: datetime | None = None,
) -> TokenInfo:
    """Record a new token (by its sha256) for an account."""
    with store.session() as session:
        user = _user_row(session, user_name)
        row = ApiToken(user_id=user.id, token_hash=token_hash, label=label,
                       created_at=now or utcnow())
        session.add(row)
        session.flush()
        append_audit(session, actor=actor, action="issue", entity="token", entity_id=row.id,
                     detail={"user": user_name, "label": label})
        return _token_info(row, user.name)


def list_tokens(store: Store, user_name: str | None = None) -> list[TokenInfo]:
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if user_name is not None:
        query = query.where(User.name == user_name)
    with store.read_session() as session:
        return [_token_info(tok, name)
                for tok, name in session.execute(query.order_by(ApiToken.id))]


def revoke_token(
    store: Store, token_id: int, *, actor: str, now: datetime | None = None,
) -> TokenInfo:
    """Revoke a token for good (revoking twice changes nothing)."""
    with _changing_credentials(), store.session() as session:
        found = session.execute(
            select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id == token_id)
        ).one_or_none()
        if found is None:
            raise UnknownUserError(f"There is no API token with id {token_id}.")
        row, user_name = found
        if row.revoked_at is None:
            row.revoked_at = now or utcnow()
            append_audit(session, actor=actor, action="revoke", entity="token",
                         entity_id=row.id, from_state="active", to_state="revoked",
                         detail={"user": user_name, "label": row.label})
        return _token_info(row, user_name)


def token_user(
    store: Store, token_hash: str, *, now: datetime, touch_after: timedelta,
) -> UserInfo | None:
    """The enabled account a live token belongs to, or None.

    `last_used_at` is written at most once per `touch_after`, so API reads do not each
    take the database's write lock.
    """
    query = (
        select(ApiToken.id, ApiToken.last_used_at, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None),
               User.disabled.is_(False))
    )
    with store.read_session() as session:
        found = session.execute(query).one_or_none()
        if found is None:
            return None
        token_id, last_used, row = found
        user = _user_info(row)
    if last_used is None or now - last_used >= touch_after:
        with store.session() as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id)
                            .values(last_used_at=now))
    return user


# --- login sessions -------------------------------------------------------------------


def create_session(
    store: Store, *, user_id: int, token_hash: str, csrf_secret: str, expires_at: datetime,
    now: datetime,
) -> SessionInfo:
    """Record a sign-in (audited as the person) and drop sessions that have expired."""
    with store.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise UnknownUserError(f"There is no user with id {user_id}.")
        session.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
        row = LoginSession(user_id=user_id, token_hash=token_hash, csrf_secret=csrf_secret,
                           created_at=now, last_seen_at=now, expires_at=expires_at)
        session.add(row)
        session.flush()
        append_audit(session, actor=user.name, action="login", entity="user",
                     entity_id=user.id)
        return SessionInfo(id=row.id, user=_user_info(user), csrf_secret=csrf_secret,
                           created_at=now, last_seen_at=now, expires_at=expires_at)


def session_by_token(
    store: Store, token_hash: str, *, now: datetime, idle: timedelta, touch_after: timedelta,
) -> SessionInfo | None:
    """The live session of an enabled account for this cookie hash, or None.

    A session ends at `expires_at` or after `idle` without a request; `last_seen_at` is
    written at most once per `touch_after`.
    """
    query = (
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == token_hash, LoginSession.expires_at > now,
               LoginSession.last_seen_at > now - idle, User.disabled.is_(False))
    )
    with store.read_session() as session:
        found = session.execute(query).one_or_none()
        if found is None:
            return None
        row, user = found
        info = SessionInfo(id=row.id, user=_user_info(user), csrf_secret=row.csrf_secret,
                           created_at=row.created_at, last_seen_at=row.last_seen_at,
                           expires_at=row.expires_at)
    if now - info.last_seen_at >= touch_after:
        with store.session() as session:
            session.execute(update(LoginSession).where(LoginSession.id == info.id)
                            .values(last_seen_at=now))
    return info


def delete_session(store: Store, token_hash: str) -> UserInfo | None:
    """End a session (sign-out, audited as its person); None when there was none."""
    with _changing_credentials(), store.session() as session:
        found = session.execute(
            select(LoginSession, User).join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == token_hash)
        ).one_or_none()
        if found is None:
            return None
        row, user = found
        session.delete(row)
        append_audit(session, actor=user.name, action="logout", entity="user",
                     entity_id=user.id)
        return _user_info(user)


# --- failed sign-ins ------------------------------------------------------------------


def count_login_failures(
    store: Store, *, since: datetime, name: str | None = None,
    remote_addr: str | None = None,
) -> int:
    """Failed sign-ins since a time, for one name or one client address."""
    query = select(func.count()).select_from(LoginFailure).where(LoginFailure.at >= since)
    if name is not None:
        query = query.where(LoginFailure.name == name)
    if remote_addr is not None:
        query = query.where(LoginFailure.remote_addr == remote_addr)
    with store.read_session() as session:
        return int(session.scalar(query) or 0)


def record_login_failure(
    store: Store, *, name: str, remote_addr: str | None, now: datetime, window_start: datetime,
    lockout_at: int,
) -> int:
    """Record a failed sign-in; returns the name's failures since `window_start`.

    The failure that reaches `lockout_at` is written to the audit trail (actor
    "anonymous": nobody has proved who they are). Rows older than the window are
    dropped as they are no longer counted.
    """
    with store.session() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.at < window_start))
        session.add(LoginFailure(name=name[:255], remote_addr=remote_addr, at=now))
        session.flush()
        failures = int(session.scalar(
            select(func.count()).select_from(LoginFailure)
            .where(LoginFailure.name == name[:255], LoginFailure.at >= window_start)
        ) or 0)
        if failures == lockout_at:
            user_id = session.scalar(select(User.id).where(User.name == name))
            append_audit(session, actor="anonymous", action="lockout", entity="user",
                         entity_id=user_id,
                         detail={"name": name[:255], "remote_addr": remote_addr,
                                 "failures": failures})
        return failures


def clear_login_failures(store: Store, *, name: str) -> None:
    """Forget a name's failed sign-ins (after it signs in successfully)."""
    with store.session() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.name == name))
