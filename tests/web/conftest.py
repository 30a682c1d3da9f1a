"""Fixtures of the web tests: one seeded database per session, copied for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.helpers import Seeded, copy_seeded, seed


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(f"sqlite:///{tmp_path_factory.mktemp('web-template')}/trawl.db")


@pytest.fixture
def seeded(seeded_template: Seeded, tmp_path: Path) -> Seeded:
    """The accounts of tests.web.helpers.ACCOUNTS in a SQLite file of this test's own."""
    return copy_seeded(seeded_template, tmp_path)
