"""Shared fixtures: real PostgreSQL and Redis when present (required in CI), temp SQLite."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN_URL = os.environ.get(
    "TRAWL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TRAWL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("TRAWL_REQUIRE_SERVICES") == "1"

# tldextract must never fetch the Public Suffix List (no network in tests).
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _missing(service: str, how: str) -> None:
    message = f"{service} is not reachable at {how}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and TRAWL_REQUIRE_SERVICES=1 says it must be (see DEVELOPERS.md)")
    pytest.skip(f"{message}; start it to run this test (see DEVELOPERS.md)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not _port_open("127.0.0.1", 5432):
        _missing("PostgreSQL", "127.0.0.1:5432")
    import sqlalchemy as sa

    name = f"trawl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _initialised(url: str) -> str:
    """`trawl init` on url: only init creates a database; other commands refuse a missing one."""
    from storage.db import open_store

    open_store(url, create=True).close()
    return url


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """A Trawl database in a SQLite file, created as `trawl init` does."""
    return _initialised(f"sqlite:///{tmp_path}/trawl.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """An empty database (no Trawl schema yet) on embedded SQLite and on real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/trawl.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db_url(fresh_db_url: str) -> str:
    """A Trawl database on both embedded SQLite and real PostgreSQL, created as `trawl init`
    does."""
    return _initialised(fresh_db_url)


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not _port_open("127.0.0.1", 6379):
        _missing("Redis", "127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
