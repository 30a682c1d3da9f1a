"""Opening databases: URLs, readable errors, SQLite settings, transactions and concurrency."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.db import StorageError, open_store, utcnow
from storage.models import Seed


def _seed_row(url: str) -> Seed:
    return Seed(url=url, url_key=url[-64:].rjust(64, "0"), domain="a.test", depth=1,
                include_subdomains=False, obey_robots=True, active=True, tags="",
                created_at=utcnow())


def test_unreachable_postgres_is_a_readable_sentence_without_password() -> None:
    with pytest.raises(StorageError) as info:
        open_store("postgresql://postgres:hunter2@127.0.0.1:1/nope")
    message = str(info.value)
    assert message.startswith("Cannot connect to the database postgresql://postgres:***@127.0.0.1:1/nope")
    assert "Connection refused" in message
    assert "Check that the server is running" in message
    assert "hunter2" not in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_missing_postgres_database_names_it(pg_url: str) -> None:
    with pytest.raises(StorageError, match=r'database "no_such_db_h3" does not exist'):
        open_store(pg_url.rsplit("/", 1)[0] + "/no_such_db_h3")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@localhost/trawl", "Trawl does not support 'mysql' databases"),
        ("not a url://x", "is not valid"),
        ("", "No database URL was given"),
    ],
)
def test_bad_urls_are_refused_with_a_sentence(url: str, expected: str) -> None:
    with pytest.raises(StorageError, match=expected):
        open_store(url)


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "trawl.db"
    with pytest.raises(StorageError, match=r"Cannot open the SQLite database .*trawl\.db: unable"):
        open_store(f"sqlite:///{target}")


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(StorageError, match="file is not a database"):
        open_store(str(target))


def test_plain_path_means_a_sqlite_file(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "plain.db"))
    try:
        assert store.dialect == "sqlite"
        assert (tmp_path / "plain.db").exists()
    finally:
        store.close()


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    finally:
        store.close()


def test_timestamps_are_naive_utc() -> None:
    now = utcnow()
    assert now.tzinfo is None
    assert abs((datetime.now(UTC).replace(tzinfo=None) - now).total_seconds()) < 5


def test_session_commits_or_rolls_back(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.session() as session:
            session.add(_seed_row("http://kept.test/"))

        def failing_change() -> None:
            with store.session() as session:
                session.add(_seed_row("http://dropped.test/"))
                session.flush()
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            failing_change()
        with store.read_session() as session:
            urls = set(session.scalars(sa.select(Seed.url)))
        assert urls == {"http://kept.test/"}
    finally:
        store.close()


def test_sqlite_reader_is_not_blocked_and_second_writer_waits(sqlite_url: str) -> None:
    """WAL lets the CLI read during a crawl's flush; BEGIN IMMEDIATE makes a second writer
    wait for the first instead of failing with 'database is locked'."""
    first, second = open_store(sqlite_url), open_store(sqlite_url)
    try:
        with first.session() as session:
            session.add(_seed_row("http://committed.test/"))
        order: list[str] = []
        holding = threading.Event()

        def slow_writer() -> None:
            with first.session() as session:
                session.add(_seed_row("http://slow.test/"))
                session.flush()
                holding.set()
                time.sleep(0.5)
                order.append("first committed")

        thread = threading.Thread(target=slow_writer)
        thread.start()
        assert holding.wait(10)
        started = time.monotonic()
        with second.read_session() as session:  # not blocked by the open write transaction
            assert session.scalar(sa.select(sa.func.count()).select_from(Seed)) == 1
        assert time.monotonic() - started < 0.4
        with second.session() as session:  # read-then-write: waits, then succeeds
            count = session.scalar(sa.select(sa.func.count()).select_from(Seed))
            order.append("second began")
            session.add(_seed_row(f"http://after-{count}.test/"))
        thread.join()
        assert order == ["first committed", "second began"]
        with second.read_session() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(Seed)) == 3
    finally:
        first.close()
        second.close()


def test_no_write_lock_is_held_outside_sessions(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        with store.session() as session:
            session.add(_seed_row("http://one.test/"))
        with store.read_session() as session:
            session.scalars(sa.select(Seed)).all()
        raw = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0)
        try:
            raw.execute("BEGIN IMMEDIATE")  # would raise 'database is locked' if one were
            raw.rollback()
        finally:
            raw.close()
    finally:
        store.close()


def test_postgresql_reads_send_only_their_statements(pg_url: str) -> None:
    """A read session on PostgreSQL runs on the driver's autocommit (no BEGIN or ROLLBACK),
    with no isolation level ever set on the connection (psycopg2 then sends a SET each time
    it leaves autocommit), and the same pooled connection writes in a transaction again
    afterwards: a failing write leaves nothing."""
    store = open_store(pg_url)
    try:
        sent: list[str] = []

        def record(conn: object, cursor: object, statement: str, *args: object) -> None:
            sent.append(statement)

        sa.event.listen(store.engine, "before_cursor_execute", record)
        for _ in range(3):
            with store.read_session() as session:
                dbapi = session.connection().connection.dbapi_connection
                assert dbapi is not None
                assert dbapi.autocommit
                session.scalars(sa.select(Seed)).all()
                assert dbapi.get_transaction_status() == 0  # idle: no transaction opened

        def failing_change() -> None:
            with store.session() as session:
                dbapi = session.connection().connection.dbapi_connection
                assert dbapi is not None
                assert not dbapi.autocommit
                assert dbapi.isolation_level is None  # the server's default, never SET
                session.add(_seed_row("http://dropped.test/"))
                session.flush()
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            failing_change()
        with store.read_session() as session:
            assert session.scalars(sa.select(Seed)).all() == []
        assert [s for s in sent if s.split(None, 1)[0].upper() in ("BEGIN", "ROLLBACK")] == []
    finally:
        store.close()


def test_opening_reads_the_schema_revision_once(db_url: str) -> None:
    """Opening an existing database checks that it is there, migrated and guarded with one
    read of its revision (on PostgreSQL each read is a catalog query and a SELECT)."""
    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        open_store(db_url, create=False).close()
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert len([s for s in sent if "FROM alembic_version" in s]) == 1
