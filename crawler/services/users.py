"""Accounts, API tokens, sign-in and sessions: the rules the CLI and the web app share.

Passwords are hashed with argon2 (argon2-cffi's defaults, re-hashed on sign-in when those
change); tokens and session cookies are random strings of which only the sha256 is stored,
so a copy of the database lets nobody sign in. Every change is audited as its actor.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crawler.errors import TrawlError
from storage import users as user_store
from storage.clock import utcnow
from storage.roles import ADMIN_ROLE, ROLES
from storage.users import SessionInfo, TokenInfo, UserInfo

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from storage.db import Store

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; a cap keeps sign-in cheap to refuse
MAX_LABEL_LENGTH = 255

# Lockout: this many failed sign-ins for one name within the window lock that name until
# the oldest of them leaves the window; one client address gets a larger allowance across
# all names (password spraying).
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
ADDRESS_FAILURES = 30

# A session ends this long after sign-in, or after this long without a request.
SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=1)
# last-used / last-seen times are written at most this often (reads take no write lock).
TOUCH_INTERVAL = timedelta(minutes=1)

TOKEN_PREFIX = "trawl_"  # lets secret scanners and people recognise a leaked token
SECRET_BYTES = 32
MAX_SECRET_LENGTH = 200  # longer presented tokens or cookies are refused unhashed

_HASHER = PasswordHasher()


class AccountError(TrawlError, ValueError):
    """Input a person can fix: the message says what was wrong; `field` names the input."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SignInRefused(TrawlError):
    """A sign-in that did not succeed; the message is safe to show to whoever tried."""


class LockedOut(SignInRefused):
    """Too many failed sign-ins: no password is checked until the window passes."""

    def __init__(self, message: str, *, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class IssuedToken:
    """A new API token: `token` is shown once and never stored."""

    token: str
    info: TokenInfo


@dataclass(frozen=True)
class NewSession:
    """A new sign-in: `cookie` goes to the browser and is never stored."""

    cookie: str
    session: SessionInfo


def secret_hash(secret: str) -> str:
    """sha256 hex of a token or cookie: what the database keeps."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def role_allows(role: str, allowed: Collection[str]) -> bool:
    """Whether a person of `role` may use something open to the `allowed` roles."""
    return role == ADMIN_ROLE or role in allowed


# --- validation -----------------------------------------------------------------------


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise AccountError(
            f"The user name {name!r} is not usable: use 1 to 64 lowercase letters, digits "
            "and . _ @ -, starting with a letter or digit.",
            field="name",
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(
            f"The role {role!r} does not exist: choose one of {', '.join(ROLES)}.",
            field="role",
        )
    return role


def check_password(password: str) -> str:
    if not password.strip():
        raise AccountError("The password is empty: choose one of at least "
                           f"{MIN_PASSWORD_LENGTH} characters.", field="password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            f"(this one has {len(password)}); a few unrelated words make a good one.",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password is longer than {MAX_PASSWORD_LENGTH} characters.",
                           field="password")
    return password


def check_label(label: str | None) -> str | None:
    if label is None or not label.strip():
        return None
    if len(label) > MAX_LABEL_LENGTH:
        raise AccountError(f"The token label is longer than {MAX_LABEL_LENGTH} characters.",
                           field="label")
    return label.strip()


# --- accounts and tokens --------------------------------------------------------------


def add_user(store: Store, name: str, role: str, password: str, *, actor: str) -> UserInfo:
    """Create an account (audited as `actor`); the password is kept only as its hash."""
    check_name(name)
    check_role(role)
    check_password(password)
    return user_store.add_user(store, name=name, role=role,
                               password_hash=_HASHER.hash(password), actor=actor)


def list_users(store: Store) -> list[UserInfo]:
    return user_store.list_users(store)


def get_user(store: Store, name: str) -> UserInfo | None:
    return user_store.get_user(store, name)


def disable_user(store: Store, name: str, *, actor: str) -> UserInfo:
    """Disable an account: its sessions end now and its tokens are refused."""
    return user_store.set_user_disabled(store, name, disabled=True, actor=actor)


def enable_user(store: Store, name: str, *, actor: str) -> UserInfo:
    return user_store.set_user_disabled(store, name, disabled=False, actor=actor)


def issue_token(store: Store, name: str, label: str | None = None, *,
                actor: str) -> IssuedToken:
    """A new API token for an account; the caller shows `token` once, then it is gone."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    info = user_store.add_token(store, user_name=name, token_hash=secret_hash(token),
                                label=check_label(label), actor=actor)
    return IssuedToken(token=token, info=info)


def list_tokens(store: Store, name: str | None = None) -> list[TokenInfo]:
    return user_store.list_tokens(store, name)


def revoke_token(store: Store, token_id: int, *, actor: str) -> TokenInfo:
    return user_store.revoke_token(store, token_id, actor=actor)


def user_for_token(store: Store, token: str, *, now: datetime | None = None) -> UserInfo | None:
    """The enabled account of a live API token, or None."""
    if not token or len(token) > MAX_SECRET_LENGTH:
        return None
    return user_store.token_user(store, secret_hash(token), now=now or utcnow(),
                                 touch_after=TOUCH_INTERVAL)


# --- signing in -----------------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, verified against for unknown names."""
    return _HASHER.hash(secrets.token_urlsafe(SECRET_BYTES))


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password(
    store: Store, name: str, password: str, *, remote_addr: str | None,
    now: datetime | None = None,
) -> UserInfo:
    """The account whose password this is, or SignInRefused / LockedOut.

    A locked name or address is refused before any password is checked. An unknown name
    costs the same argon2 work as a wrong password, so timing does not tell names apart.
    """
    when = now or utcnow()
    window_start = when - LOCKOUT_WINDOW
    locked = LockedOut(
        "Too many failed sign-ins: this account is locked for "
        f"{int(LOCKOUT_WINDOW.total_seconds() // 60)} minutes. Try again later, or ask an "
        "administrator.",
        retry_after=LOCKOUT_WINDOW,
    )
    if user_store.count_login_failures(store, since=window_start, name=name) >= LOCKOUT_FAILURES:
        raise locked
    if remote_addr is not None and user_store.count_login_failures(
        store, since=window_start, remote_addr=remote_addr
    ) >= ADDRESS_FAILURES:
        raise locked
    credentials = None
    if len(password) <= MAX_PASSWORD_LENGTH:
        credentials = user_store.user_credentials(store, name)
    if credentials is None:
        _password_matches(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        matched = False
    else:
        matched = _password_matches(credentials.password_hash, password)
    if not matched or credentials is None:
        failures = user_store.record_login_failure(
            store, name=name, remote_addr=remote_addr, now=when, window_start=window_start,
            lockout_at=LOCKOUT_FAILURES,
        )
        if failures >= LOCKOUT_FAILURES:
            raise locked
        raise SignInRefused("Wrong name or password.")
    if credentials.user.disabled:
        raise SignInRefused("This account is disabled: ask an administrator.")
    user_store.clear_login_failures(store, name=name)
    if _HASHER.check_needs_rehash(credentials.password_hash):
        user_store.set_password_hash(store, credentials.user.id, _HASHER.hash(password))
    return credentials.user


def start_session(store: Store, user: UserInfo, *, now: datetime | None = None) -> NewSession:
    """Sign a verified person in: a fresh cookie and CSRF secret (audited as `login`)."""
    when = now or utcnow()
    cookie = secrets.token_urlsafe(SECRET_BYTES)
    session = user_store.create_session(
        store, user_id=user.id, token_hash=secret_hash(cookie),
        csrf_secret=secrets.token_urlsafe(SECRET_BYTES), expires_at=when + SESSION_LIFETIME,
        now=when,
    )
    return NewSession(cookie=cookie, session=session)


def session_for_cookie(store: Store, cookie: str | None, *,
                       now: datetime | None = None) -> SessionInfo | None:
    """The live session a cookie stands for, or None (expired, idle, disabled, unknown)."""
    if not cookie or len(cookie) > MAX_SECRET_LENGTH:
        return None
    return user_store.session_by_token(store, secret_hash(cookie), now=now or utcnow(),
                                       idle=SESSION_IDLE, touch_after=TOUCH_INTERVAL)


def end_session(store: Store, cookie: str | None) -> UserInfo | None:
    """Sign out (audited as `logout`); None when the cookie had no session."""
    if not cookie or len(cookie) > MAX_SECRET_LENGTH:
        return None
    return user_store.delete_session(store, secret_hash(cookie))
