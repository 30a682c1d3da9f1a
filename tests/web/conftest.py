"""Fixtures of the web tests: one seeded database per session, copied for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.helpers import Seeded, app_for, client, copy_seeded, seed


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(f"sqlite:///{tmp_path_factory.mktemp('web-template')}/trawl.db")


@pytest.fixture
def seeded(seeded_template: Seeded, tmp_path: Path) -> Seeded:
    """The accounts of tests.web.helpers.ACCOUNTS in a SQLite file of this test's own."""
    return copy_seeded(seeded_template, tmp_path)


@pytest.fixture
def app(seeded: Seeded) -> FastAPI:
    """The web app on a fresh copy of the seeded database (a module may override it)."""
    return app_for(seeded.db_url)


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    """A test client of `app`, its lifespan run."""
    with client(app) as test_client:
        yield test_client
