"""Open a Trawl database from a URL (SQLite file or PostgreSQL) and keep its schema current."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, configure_mappers, sessionmaker
from sqlalchemy.pool import StaticPool

from storage.clock import utcnow
from storage.errors import NotFoundError, StorageError
from storage.migrations import HEAD_REVISION

__all__ = [
    "NoDatabaseError", "NotFoundError", "StorageError", "Store", "open_store", "url_key",
    "utcnow",
]

logger = logging.getLogger(__name__)
_MIGRATION_LOCK = threading.Lock()

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# How long a SQLite connection waits for another process's write lock (a crawl's flush, an
# import) before giving up: long enough for a 1M-line import, short enough to notice a hang.
SQLITE_BUSY_TIMEOUT_SECONDS = 60.0
# How long a PostgreSQL connection attempt may take before the server counts as unreachable.
PG_CONNECT_TIMEOUT_SECONDS = 10
# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out
# (one that died meanwhile, a server restart, is replaced); one used more recently is not.
PG_PING_AFTER_IDLE_SECONDS = 5.0
# Any constant works: migrations on PostgreSQL take this transaction-level advisory lock so
# two processes starting on a fresh database do not both create the tables.
PG_MIGRATION_LOCK_KEY = 0x7472_6177_6C00  # "trawl"

SUPPORTED_SCHEMES = ("sqlite", "postgresql")
PG_DEFAULT_DRIVER = "postgresql+psycopg2"


def url_key(url: str) -> str:
    """sha256 hex of a URL: the fixed-width unique key of seeds, media and pages."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


# Rows a batched INSERT carries and keys an IN (...) list holds, in a fixed set of lengths:
# 1, 2, 4, ... 512. The sqlite3 module keeps a prepared statement per distinct SQL text
# (tens of KB for the crawl's upserts) and PostgreSQL drivers likewise prepare per text,
# and a statement of N rows or N keys is a text per N: batches of every length from 1 to
# 500 made a long crawl's memory grow with each new length met (bench/RESULTS.md).
BATCH_SIZES = tuple(2 ** k for k in range(10))
T = TypeVar("T")


def row_batches(rows: Sequence[T]) -> Iterator[Sequence[T]]:
    """`rows` in consecutive slices whose lengths are in BATCH_SIZES, longest first (500
    rows: 256 + 128 + 64 + 32 + 16 + 4), for INSERTs, where a row cannot be repeated."""
    start, largest = 0, BATCH_SIZES[-1]
    while start < len(rows):
        left = len(rows) - start
        size = largest if left >= largest else 1 << (left.bit_length() - 1)
        yield rows[start:start + size]
        start += size


def key_batches(keys: Sequence[T]) -> Iterator[list[T]]:
    """`keys` in slices of at most BATCH_SIZES[-1], each padded to a length in BATCH_SIZES
    by repeating its last key, for IN (...) lists, where a repeated key changes nothing."""
    largest = BATCH_SIZES[-1]
    for start in range(0, len(keys), largest):
        chunk = list(keys[start:start + largest])
        chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
        yield chunk


def dialect_insert(store: Store | str, table: Any) -> Any:
    """INSERT for `table` with the dialect's ON CONFLICT support (SQLite or PostgreSQL);
    `store` is an open store or its dialect's name."""
    if (store if isinstance(store, str) else store.dialect) == "postgresql":
        from sqlalchemy.dialects import postgresql  # loaded only where it is used

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


class Store:
    """An open database: the engine plus transaction helpers.

    Why a class and not a bare engine: SQLite needs per-connection set-up (WAL, foreign
    keys, busy timeout, real BEGIN) and callers should never have to know which database
    they talk to. On SQLite, `session()` starts with BEGIN IMMEDIATE so a read-then-write
    transaction waits for a concurrent writer instead of failing with "database is locked";
    `read_session()` uses a plain (deferred) BEGIN that never blocks a running crawl.
    """

    def __init__(self, engine: Engine, url: str, *, display_url: str | None = None) -> None:
        self.engine = engine
        self.url = url
        self._display_url = display_url or engine.url.render_as_string(hide_password=True)
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # Reads: on SQLite a deferred BEGIN (one snapshot, never a write lock). On PostgreSQL
        # no transaction at all: at READ COMMITTED each statement sees its own snapshot inside
        # a transaction too, so BEGIN and ROLLBACK would only cost two round trips a read.
        # (The driver's autocommit switch, see _read_in_autocommit: SQLAlchemy's
        # isolation_level="AUTOCOMMIT" option cost a SET round trip at every check-in.)
        reads = (engine.execution_options(trawl_pg_autocommit=True)
                 if engine.dialect.name == "postgresql"
                 else engine.execution_options(trawl_sqlite_begin="DEFERRED"))
        self._read_sessions = sessionmaker(bind=reads, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with any password replaced by ***, safe for messages and logs."""
        return self._display_url

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits when the block ends, rolls back if it raises."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """For reading only (never takes a write lock): a deferred transaction rolled back at
        the end on SQLite; statements in autocommit on PostgreSQL (see __init__)."""
        with self._read_sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    def connect_for_reading(self) -> Connection:
        """A connection whose transactions start deferred; close it when done."""
        return self.engine.execution_options(trawl_sqlite_begin="DEFERRED").connect()

    def warm_up(self) -> None:
        """Do now what the first statements would: configure the ORM mappers (a good part
        of a second) and open a connection (SQLAlchemy's first reads the server's settings).
        A server calls it as it starts."""
        configure_mappers()
        self.engine.connect().close()

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"


def open_store(
    url: str, *, migrate: bool = True, create: bool = True, check_guards: bool = True
) -> Store:
    """Open the database at `url` and, with `migrate`, bring its schema up to date.

    `url` is a SQLAlchemy URL (sqlite:///path/trawl.db, postgresql://user@host/db) or a
    plain file path, taken as a SQLite file. Raises StorageError with a readable sentence
    when the URL is malformed, the driver is missing or the server cannot be reached.
    With create=False a database that holds no Trawl schema yet (a SQLite file that does
    not exist, an empty PostgreSQL database) is refused instead of created: interfaces
    create databases only when asked to (`trawl init`), never under a mistyped name.
    Migrating is cheap when the database is already at the newest revision: one query.

    With `check_guards` (always, except for the command that repairs them), the audit
    table's append-only guards must be in place: AuditGuardError (a StorageError) names
    what is missing and how to restore it. A new SQLite file is created readable by its
    owner only (0600), and so are its -wal and -shm files, which SQLite gives the same mode.
    """
    parsed, shown = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not create:
            _require_sqlite_file(parsed, shown)
        _create_private_sqlite_file(parsed)
    try:
        engine = _create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StorageError(
            f"Cannot use the database URL {shown}: {_reason(exc, parsed)}. "
            "Use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME."
        ) from None
    store = Store(engine, url, display_url=shown)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (DBAPIError, SQLAlchemyError) as exc:
        engine.dispose()
        if parsed.get_backend_name() == "sqlite":
            raise StorageError(
                f"Cannot open the SQLite database {parsed.database}: {_reason(exc, parsed)}. "
                "Check that its folder exists and is writable, and that it is a SQLite file."
            ) from None
        raise StorageError(
            f"Cannot connect to the database {shown}: {_reason(exc, parsed)}. "
            "Check that the server is running and that the URL (--db or TRAWL_DATABASE_URL) "
            "is right."
        ) from None
    try:
        # Read once for the three checks below (on PostgreSQL each read is a catalog query
        # and a SELECT, each in its own transaction).
        revision = schema_revision(store)
        if not create and revision is None:
            raise NoDatabaseError(_no_database(shown))
        if migrate and migrate_store(store, current=revision):
            revision = schema_revision(store)
        if check_guards:
            from storage.auditguards import check_audit_guards

            check_audit_guards(store, revision=revision)
    except BaseException:
        engine.dispose()
        raise
    return store


class NoDatabaseError(StorageError):
    """The URL names no Trawl database (nothing there yet, or not Trawl's)."""


def _no_database(shown: str) -> str:
    return (
        f"No Trawl database at {shown}: run `trawl --db {shown} init` to create one, or point "
        "--db (or TRAWL_DATABASE_URL) at an existing one."
    )


def _require_sqlite_file(parsed: URL, shown: str) -> None:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).expanduser().is_file():
        raise NoDatabaseError(_no_database(shown))


def schema_revision(store: Store) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    with store.connect_for_reading() as conn:
        return _current_revision(conn)


def head_revision() -> str:
    """The newest revision this version of Trawl knows."""
    return _script_directory_head()


def revision_applied(current: str, revision: str) -> bool:
    """Whether a database at revision `current` has had `revision` applied (is at it or
    after it); False when either is unknown to this version of Trawl."""
    if current == HEAD_REVISION:  # every revision there is: no need to load Alembic's graph
        return revision in _revision_ids()
    try:
        applied = {s.revision for s in _script_directory().iterate_revisions(current, "base")}
    except Exception:  # alembic raises several types for an unknown revision
        return False
    return revision in applied


class Unread:
    """The type of UNREAD: a schema revision not read yet (None means an empty database)."""


UNREAD = Unread()


def migrate_store(store: Store, *, current: str | Unread | None = UNREAD) -> bool:
    """Upgrade the schema to the newest revision; True if anything ran.

    The first check is a single query so that every CLI call can afford it (none when the
    caller read the revision just before: `current`).
    """
    if isinstance(current, Unread):
        current = schema_revision(store)
    if current == HEAD_REVISION:
        return False
    head = _script_directory_head()
    if current == head:
        return False
    if current is not None and current not in _known_revisions():
        raise StorageError(
            f"The database {store.display_url} has schema revision {current}, which this "
            "version of Trawl does not know: it was upgraded by a newer Trawl. Upgrade Trawl."
        )
    from alembic import command

    try:
        # Alembic's `context` is process-global: one migration at a time per process.
        # Across processes, BEGIN IMMEDIATE (SQLite) or an advisory lock (PostgreSQL, in
        # env.py) makes the second wait and then find the database at head.
        with (_MIGRATION_LOCK, store.engine.connect() as conn,
              _foreign_keys_off(conn, store.dialect == "sqlite"), conn.begin()):
            command.upgrade(alembic_config(connection=conn), "head")
    except (DBAPIError, SQLAlchemyError) as exc:
        reason = _reason(exc, store.engine.url)
        hint = (
            "Run `trawl init` as the owner of the tables (an app role made with "
            "--app-role may not change the schema)."
            if "permission denied" in reason.lower()
            else "If the tables were created without Trawl's migrations, start from an "
            "empty database."
        )
        raise StorageError(
            f"Could not bring the schema of {store.display_url} up to date: {reason}. {hint}"
        ) from None
    logger.info("Database %s migrated from %s to %s", store.display_url, current, head)
    return True


@contextmanager
def _foreign_keys_off(conn: Connection, sqlite: bool) -> Iterator[None]:
    """SQLite's procedure for schema changes that rebuild a table: foreign keys off outside
    the transaction (a rebuild's DROP TABLE would otherwise cascade into child tables), the
    migration checks them itself before it commits, then they are on again."""
    if not sqlite:
        yield
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")  # autocommit mode: takes effect before BEGIN
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Any:
    """An Alembic Config without alembic.ini, pointing into the installed package.

    Pass an open `connection` (migrations run inside its transaction) or a `url`.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# --- internals ----------------------------------------------------------------------


def _parse_url(url: str) -> tuple[URL, str]:
    """The URL to connect with, and the user's spelling of it with the password hidden."""
    if "://" not in url:
        if not url.strip():
            raise StorageError(
                "No database URL was given: pass --db URL or set TRAWL_DATABASE_URL."
            )
        parsed = make_url(f"sqlite:///{Path(url).expanduser()}")
        return parsed, parsed.render_as_string(hide_password=True)
    try:
        parsed = make_url(url)
    except ArgumentError:
        scheme = url.split("://", 1)[0]
        raise StorageError(
            f"The database URL starting with {scheme}:// is not valid. "
            "Use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME."
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgres", "postgresql"):
        # SQLAlchemy 2.1 defaults to psycopg 3; Trawl depends on psycopg2.
        parsed = parsed.set(drivername=PG_DEFAULT_DRIVER)
    if parsed.get_backend_name() not in SUPPORTED_SCHEMES:
        raise StorageError(
            f"Trawl does not support {parsed.get_backend_name()!r} databases "
            f"({shown}). Use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME."
        )
    return parsed, shown


def _create_private_sqlite_file(url: URL) -> None:
    """Create a SQLite file that does not exist yet as an empty file of mode 0600.

    SQLite itself would create it 0644 (less the umask), and its -wal and -shm files take
    the database file's mode, so creating the file first keeps all three private. An
    existing file (or anything else at the path, such as a symlink) is left as it is, and a
    missing folder is not created: a typo in --db should fail, not scatter databases.
    """
    database = url.database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return
    try:
        fd = os.open(
            database, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError:
        return  # exists already, or cannot be created: SQLite's own error says which
    os.close(fd)


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    engine = create_engine(
        url, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS},
        # Trawl has no HSTORE column: without this the first connection looks up the
        # hstore type's oids (BEGIN, a catalog query, ROLLBACK) to register it.
        use_native_hstore=False,
    )
    _ping_after_idle(engine, PG_PING_AFTER_IDLE_SECONDS)
    _read_in_autocommit(engine)
    return engine


def _read_in_autocommit(engine: Engine) -> None:
    """Connections used with the execution option trawl_pg_autocommit (Store.read_session)
    run their statements in psycopg2's autocommit mode, switched off again at check-in.

    The driver's own switch costs no round trip; SQLAlchemy's isolation_level="AUTOCOMMIT"
    option sets the isolation level back at check-in, after which psycopg2 sends a
    `SET default_transaction_isolation` every time the connection leaves autocommit."""

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get("trawl_pg_autocommit"):
            return
        dbapi_conn: Any = conn.connection.dbapi_connection
        if dbapi_conn.autocommit:
            return
        if dbapi_conn.get_transaction_status() != _PG_IDLE:
            dbapi_conn.rollback()  # the idle ping's SELECT 1 opened one
        dbapi_conn.autocommit = True

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn is not None and dbapi_conn.autocommit:
            dbapi_conn.autocommit = False


_PG_IDLE = 0  # psycopg2.extensions.TRANSACTION_STATUS_IDLE


def _ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle in the pool longer than
    `idle_seconds`; a dead one is replaced (the pool retries with a new connection).

    A crawl or a server outlives database restarts this way, as with pool_pre_ping, but a
    busy web server does not pay a round trip for every checkout (two or three a request:
    pool_pre_ping was one in eight of a review page's round trips). A connection that dies
    while in use (or within `idle_seconds` of its last use) fails the statement it was
    running, and the pool discards it.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["trawl_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("trawl_idle_since")
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # just connected, or used a moment ago
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT 1")
        except Exception as exc:  # the driver's own error type: any failure means dead
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc
        finally:
            try:
                cursor.close()
            except Exception:  # the connection is being discarded anyway
                pass


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if memory:
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below): the sqlite3 module's implicit transactions
        # would leave DDL and reads outside any transaction.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            if not memory:
                # WAL: readers (the CLI, the web app) never block the crawl's writer.
                _enable_wal(cursor)
                # NORMAL in WAL mode loses nothing when a process is killed, only on power loss.
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("trawl_sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL (persistent, so later connections find it done).

    Changing the journal mode needs the file to itself, and SQLite reports "database is
    locked" at once, without its busy timeout, when another connection is opening the
    same fresh file at that moment; so wait and retry, within the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode and str(mode[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


@functools.cache
def _revision_ids() -> frozenset[str]:
    """The `revision = "..."` of every migration file, read as text (Alembic's script
    directory costs ~0.4 s of imports and parsing, on every CLI start that checks guards)."""
    found = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        match = re.search(r'^revision(?:: str)? = ["\']([^"\']+)["\']', path.read_text(),
                          re.MULTILINE)
        if match:
            found.add(match.group(1))
    return frozenset(found)


@functools.cache
def _script_directory() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def _script_directory_head() -> str:
    head = _script_directory().get_current_head()
    assert head is not None, f"no migrations found in {MIGRATIONS_DIR}"
    return str(head)


def _known_revisions() -> set[str]:
    return {script.revision for script in _script_directory().walk_revisions()}


def _reason(exc: BaseException, url: URL) -> str:
    """The driver's first line of explanation, without SQL, parameters or password."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip()
    line = next((part.strip() for part in message.splitlines() if part.strip()), "")
    line = re.sub(r"\bFATAL:\s+", "", line).strip().rstrip(".")
    if url.password:
        line = line.replace(str(url.password), "***")
    return line or type(exc).__name__
