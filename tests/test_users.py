"""Accounts, tokens, sessions and lockout through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from crawler.services import users
from storage import users as storage_users
from storage.audit import list_audit
from storage.db import Store, alembic_config, head_revision, open_store, schema_revision, utcnow
from storage.users import LastAdminError, UnknownUserError, UserExistsError

PASSWORD = "correct horse battery"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()


def test_add_list_and_audit_as_the_actor(store: Store) -> None:
    alice = users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    users.add_user(store, "bob", "analyst", PASSWORD, actor="alice")
    assert [(u.name, u.role, u.disabled) for u in users.list_users(store)] == [
        ("alice", "admin", False), ("bob", "analyst", False)]
    events = list_audit(store, entity="user")
    assert [(e.actor, e.action, e.to_state) for e in events] == [
        ("root", "add", "admin"), ("alice", "add", "analyst")]
    assert events[0].entity_id == alice.id
    with store.read_session() as session:
        stored = session.execute(sa.text("SELECT password_hash FROM users")).scalars().all()
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)


def test_duplicate_name_is_refused(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    with pytest.raises(UserExistsError, match="already exists"):
        users.add_user(store, "alice", "analyst", PASSWORD, actor="root")


@pytest.mark.parametrize(
    ("name", "role", "password", "field"),
    [
        ("Alice", "admin", PASSWORD, "name"),
        ("", "admin", PASSWORD, "name"),
        ("alice", "boss", PASSWORD, "role"),
        ("alice", "admin", "", "password"),
        ("alice", "admin", "short", "password"),
    ],
)
def test_bad_input_names_the_field(sqlite_url: str, name: str, role: str, password: str,
                                   field: str) -> None:
    store = open_store(sqlite_url)
    try:
        with pytest.raises(users.AccountError) as caught:
            users.add_user(store, name, role, password, actor="root")
        assert caught.value.field == field
        assert users.list_users(store) == []
    finally:
        store.close()


def test_the_last_admin_cannot_be_disabled(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    with pytest.raises(LastAdminError, match="only enabled administrator"):
        users.disable_user(store, "alice", actor="alice")
    users.add_user(store, "carol", "admin", PASSWORD, actor="alice")
    assert users.disable_user(store, "alice", actor="carol").disabled
    with pytest.raises(UnknownUserError):
        users.disable_user(store, "nobody", actor="carol")


def test_tokens_are_stored_hashed_and_refused_when_revoked_or_disabled(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    users.add_user(store, "bob", "analyst", PASSWORD, actor="alice")
    issued = users.issue_token(store, "bob", "script", actor="alice")
    assert issued.token.startswith(users.TOKEN_PREFIX)
    with store.read_session() as session:
        assert session.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar_one() \
            == users.secret_hash(issued.token)
    user = users.user_for_token(store, issued.token)
    assert user is not None
    assert user.name == "bob"
    assert users.list_tokens(store, "bob")[0].last_used_at is not None
    assert users.user_for_token(store, issued.token + "x") is None
    users.disable_user(store, "bob", actor="alice")
    assert users.user_for_token(store, issued.token) is None
    users.enable_user(store, "bob", actor="alice")
    assert users.user_for_token(store, issued.token) is not None
    users.revoke_token(store, issued.info.id, actor="alice")
    assert users.user_for_token(store, issued.token) is None
    actions = [(e.actor, e.action, e.entity) for e in list_audit(store)]
    assert ("alice", "issue", "token") in actions
    assert ("alice", "revoke", "token") in actions
    assert ("alice", "disable", "user") in actions


def test_sessions_expire_go_idle_and_end_on_disable(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    bob = users.add_user(store, "bob", "analyst", PASSWORD, actor="alice")
    now = utcnow()
    new = users.start_session(store, bob, now=now)
    found = users.session_for_cookie(store, new.cookie, now=now + timedelta(minutes=5))
    assert found is not None
    assert found.user.name == "bob"
    assert found.csrf_secret == new.session.csrf_secret
    assert users.session_for_cookie(store, new.cookie,
                                    now=now + users.SESSION_LIFETIME) is None
    idle = now + timedelta(minutes=5) + users.SESSION_IDLE + timedelta(seconds=1)
    assert users.session_for_cookie(store, new.cookie, now=idle) is None
    again = users.start_session(store, bob)
    users.disable_user(store, "bob", actor="alice")
    assert users.session_for_cookie(store, again.cookie) is None
    assert ("bob", "login") in [(e.actor, e.action) for e in list_audit(store)]


def test_lockout_after_repeated_failures(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    now = utcnow()
    for _ in range(users.LOCKOUT_FAILURES - 1):
        with pytest.raises(users.SignInRefused, match="Wrong name or password") as caught:
            users.verify_password(store, "alice", "wrong password!", remote_addr="127.0.0.9",
                                  now=now)
        assert not isinstance(caught.value, users.LockedOut)
    with pytest.raises(users.LockedOut):
        users.verify_password(store, "alice", "wrong password!", remote_addr="127.0.0.9",
                              now=now)
    # Now even the right password is refused until the window has passed.
    with pytest.raises(users.LockedOut):
        users.verify_password(store, "alice", PASSWORD, remote_addr="127.0.0.9", now=now)
    later = now + users.LOCKOUT_WINDOW + timedelta(seconds=1)
    assert users.verify_password(store, "alice", PASSWORD, remote_addr="127.0.0.9",
                                 now=later).name == "alice"
    lockouts = list_audit(store, action="lockout")
    assert len(lockouts) == 1
    assert lockouts[0].actor == "anonymous"


def test_unknown_and_disabled_accounts_cannot_sign_in(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    users.add_user(store, "bob", "analyst", PASSWORD, actor="alice")
    with pytest.raises(users.SignInRefused, match="Wrong name or password"):
        users.verify_password(store, "nobody", PASSWORD, remote_addr=None)
    users.disable_user(store, "bob", actor="alice")
    with pytest.raises(users.SignInRefused, match="disabled"):
        users.verify_password(store, "bob", PASSWORD, remote_addr=None)


def test_audit_filters_and_pages(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    for n in range(5):
        users.issue_token(store, "alice", f"t{n}", actor="alice")
    page = list_audit(store, actor="alice", action="issue", limit=2, offset=2,
                      newest_first=True)
    assert [e.detail and "t2" in e.detail for e in page] == [True, False]
    assert list_audit(store, since=utcnow() + timedelta(minutes=1)) == []
    assert len(list_audit(store, until=utcnow() + timedelta(minutes=1))) == 6


def test_a_database_at_0001_migrates_and_keeps_its_rows(fresh_db_url: str) -> None:
    db_url = fresh_db_url
    store = open_store(db_url, migrate=False)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0001")
        with store.session() as session:
            session.execute(sa.text(
                "INSERT INTO audit (at, actor, action, entity) "
                "VALUES (CURRENT_TIMESTAMP, 'alice', 'import', 'list')"))
        open_store(db_url).close()
        assert schema_revision(store) == head_revision()
        assert [e.actor for e in list_audit(store)] == ["alice"]
        users.add_user(store, "alice", "admin", PASSWORD, actor="alice")
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0001")
        assert "users" not in sa.inspect(store.engine).get_table_names()
        assert [e.action for e in list_audit(store)] == ["import", "add"]  # append-only
    finally:
        store.close()


def test_one_address_failing_across_names_is_rate_limited(store: Store) -> None:
    users.add_user(store, "alice", "admin", PASSWORD, actor="root")
    now = utcnow()
    window_start = now - users.LOCKOUT_WINDOW
    for n in range(users.ADDRESS_FAILURES):  # a spray of guesses at many names
        storage_users.record_login_failure(
            store, name=f"guess{n}", remote_addr="127.0.0.7", now=now,
            window_start=window_start, lockout_at=users.LOCKOUT_FAILURES)
    with pytest.raises(users.LockedOut):
        users.verify_password(store, "alice", PASSWORD, remote_addr="127.0.0.7", now=now)
    assert users.verify_password(store, "alice", PASSWORD, remote_addr="127.0.0.8",
                                 now=now).name == "alice"
