"""Helpers for web tests: a seeded database, the app on it, and signed-in clients."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crawler.config import Config
from crawler.services import users
from crawler.web.app import create_app
from crawler.web.auth import SESSION_COOKIE
from storage.db import Store, open_store

PASSWORD = "correct horse battery"
# One account per role, plus a disabled one and a spare that routes may change freely.
ACCOUNTS = {"ada": "admin", "ann": "analyst", "tom": "takedown", "dave": "analyst",
            "zed": "analyst"}
ROLE_ACCOUNT = {"admin": "ada", "analyst": "ann", "takedown": "tom"}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Seeded:
    db_url: str
    tokens: dict[str, str]  # account name -> API token
    spare_token_id: int


def copy_seeded(template: Seeded, folder: Path) -> Seeded:
    """A copy of a seeded SQLite database (argon2 hashing makes seeding slow)."""
    source = Path(template.db_url.removeprefix("sqlite:///"))
    shutil.copyfile(source, folder / source.name)
    return replace(template, db_url=f"sqlite:///{folder / source.name}")


def seed(db_url: str) -> Seeded:
    """The accounts above (dave disabled), an API token each; created as the `setup` actor."""
    store = open_store(db_url)
    try:
        for name, role in ACCOUNTS.items():
            users.add_user(store, name, role, PASSWORD, actor="setup")
        tokens = {name: users.issue_token(store, name, "tests", actor="setup").token
                  for name in ACCOUNTS}
        spare = users.issue_token(store, "zed", "spare", actor="setup").info.id
        users.disable_user(store, "dave", actor="setup")
    finally:
        store.close()
    return Seeded(db_url=db_url, tokens=tokens, spare_token_id=spare)


def app_for(db_url: str) -> FastAPI:
    return create_app(Config.build(db_url=db_url))


def store_of(app: FastAPI) -> Store:
    store: Store = app.state.store
    return store


@contextmanager
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def session_for(app: FastAPI, test_client: TestClient, name: str) -> str:
    """Sign `name` in without the password form (cheap): sets the cookie, returns the CSRF
    token the pages would carry."""
    store = store_of(app)
    user = users.get_user(store, name)
    assert user is not None, name
    new = users.start_session(store, user)
    test_client.cookies.set(SESSION_COOKIE, new.cookie)
    return new.session.csrf_secret


def sign_in(test_client: TestClient, name: str, password: str = PASSWORD,
            next_path: str = "/") -> str:
    """Sign in through the login form as a browser would; returns the page's CSRF token."""
    form = test_client.get("/login")
    login_csrf = CSRF_INPUT.search(form.text)
    assert login_csrf, form.text
    response = test_client.post("/login", data={
        "name": name, "password": password, "csrf_token": login_csrf.group(1),
        "next": next_path}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = test_client.get("/")
    found = CSRF_INPUT.search(page.text)
    assert found, page.text
    return found.group(1)
