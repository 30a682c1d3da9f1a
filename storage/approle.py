"""A PostgreSQL role to run Trawl as: it owns nothing and can only add to the audit trail.

Why: the owner of a table can always `ALTER TABLE audit DISABLE TRIGGER`, rewrite the trail
and enable the trigger again (every open_store would then pass). Operators who want the
trail out of reach of the running application create the tables as one role (`trawl init`)
and run crawls, the CLI and the web app as another, which has SELECT and INSERT on audit,
the ordinary read and write rights on the other tables, and no right to alter, drop,
truncate or add triggers to anything. Re-run `trawl init --app-role NAME` after each
upgrade: tables a new migration creates get their grants then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from storage.db import StorageError

if TYPE_CHECKING:
    from storage.db import Store

ROLE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY_TABLE = "audit"
READ_ONLY_TABLES = frozenset({"alembic_version"})
# What the app role must never hold on the audit table, whoever granted it.
FORBIDDEN_ON_AUDIT = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
_VERIFIER_RE = re.compile(r"^(SCRAM-SHA-256\$[A-Za-z0-9+/=:$]+|md5[0-9a-f]{32})$")


class AppRoleError(StorageError):
    """The app role cannot be set up as asked; the message says why and what to do."""


@dataclass(frozen=True)
class AppRole:
    """What `grant_app_role` did."""

    name: str
    created: bool  # False: the role existed and its rights were reset
    password_set: bool
    read_write_tables: tuple[str, ...]


def grant_app_role(
    store: Store, name: str, *, actor: str, password: str | None = None
) -> AppRole:
    """Create (or reset) the login role `name` with exactly the rights Trawl needs at run
    time, and record that in the audit trail (action app_role_granted).

    Refuses, with a sentence, on SQLite; for a name that is not a plain identifier; for the
    owner of the tables or the current user; and for an existing role that is a superuser,
    has REPLICATION or BYPASSRLS, owns anything in this database, or is a member of a role
    that does (it could act as that role). The password, if given, is sent as a SCRAM
    verifier computed on this side, so it never appears in the server's statement log.
    Run it as a role that owns the tables and may create roles (CREATEROLE), or as a
    superuser.
    """
    from storage.audit import append_audit
    from storage.models import Base

    if store.dialect != "postgresql":
        raise AppRoleError(
            "SQLite has no database roles, so --app-role is for PostgreSQL only. A SQLite "
            "database is protected by its file's permissions (Trawl creates it readable and "
            "writable by its owner only)."
        )
    if not ROLE_NAME_RE.fullmatch(name) or name.startswith("pg_"):
        raise AppRoleError(
            f"{name!r} cannot be the app role's name: use lower-case letters, digits and "
            "underscores, starting with a letter or underscore (e.g. trawl_app), not pg_."
        )
    try:
        with store.session() as session:
            conn = session.connection()
            me, schema, database = conn.execute(
                text("SELECT current_user, current_schema(), current_database()")
            ).one()
            owner = conn.execute(
                text("SELECT pg_get_userbyid(relowner) FROM pg_class "
                     "WHERE oid = to_regclass('audit')")
            ).scalar()
            if owner is None:
                raise AppRoleError(
                    f"The database {store.display_url} has no audit table yet: run "
                    "`trawl init` first, then `trawl init --app-role NAME`."
                )
            if name in (me, owner):
                which = "owns the tables" if name == owner else "is the role running this"
                raise AppRoleError(
                    f"The app role must own nothing, but {name} {which}: choose another "
                    "name, e.g. trawl_app."
                )
            role = conn.execute(
                text("SELECT oid, rolsuper, rolreplication, rolbypassrls, rolcreaterole, "
                     "rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = :n"),
                {"n": name},
            ).first()
            role_sql = _quoted(name)
            if role is None:
                conn.exec_driver_sql(
                    f"CREATE ROLE {role_sql} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS"
                )
            else:
                _refuse_powerful(conn, name, role)
                changes = [
                    option
                    for option, needed in (
                        ("LOGIN", not role.rolcanlogin),
                        ("NOCREATEROLE", role.rolcreaterole),
                        ("NOCREATEDB", role.rolcreatedb),
                    )
                    if needed
                ]
                if changes:
                    conn.exec_driver_sql(f"ALTER ROLE {role_sql} {' '.join(changes)}")
            if password is not None:
                verifier = _verifier(conn, password, name)
                conn.exec_driver_sql(f"ALTER ROLE {role_sql} PASSWORD '{verifier}'")
            tables = _grant(conn, role_sql, str(schema), str(database), set(Base.metadata.tables))
            _verify_audit_rights(conn, name)
            append_audit(
                session,
                actor=actor,
                action="app_role_granted",
                entity="database",
                detail={"role": name, "created": role is None,
                        "password_set": password is not None},
            )
    except DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise AppRoleError(
            f"Could not set up the role {name} on {store.display_url}: {reason}. Run "
            "`trawl init --app-role` as a role that owns the tables and may create roles "
            "(CREATEROLE), or as a superuser."
        ) from None
    return AppRole(name, role is None, password is not None, tables)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _refuse_powerful(conn: Connection, name: str, role: Any) -> None:
    """An existing role that could reach the tables' owner rights is refused, not fixed:
    quietly demoting someone's role is not ours to do."""
    if role.rolsuper:
        raise AppRoleError(
            f"The role {name} is a superuser, and superusers pass every guard: choose a role "
            "that is not, e.g. trawl_app."
        )
    powers = [p for p, held in (("REPLICATION", role.rolreplication),
                                ("BYPASSRLS", role.rolbypassrls)) if held]
    if powers:
        raise AppRoleError(
            f"The role {name} has {' and '.join(powers)}: remove it (ALTER ROLE {name} "
            f"NO{' NO'.join(powers)}, as a superuser) or choose another name."
        )
    owned = conn.execute(
        text("SELECT (SELECT count(*) FROM pg_class WHERE relowner = :oid AND "
             "relpersistence <> 't') + (SELECT count(*) FROM pg_proc WHERE proowner = :oid) "
             "+ (SELECT count(*) FROM pg_namespace WHERE nspowner = :oid) "
             "+ (SELECT count(*) FROM pg_database WHERE datdba = :oid)"),
        {"oid": role.oid},
    ).scalar()
    if owned:
        raise AppRoleError(
            f"The role {name} owns {owned} database object(s) (tables, functions, schemas or "
            "databases), and an owner can disable the audit guards: choose a role that owns "
            "nothing, e.g. a new trawl_app."
        )
    via = conn.execute(
        text("""SELECT r.rolname FROM pg_roles r
                WHERE r.oid <> :oid AND pg_has_role(:oid, r.oid, 'MEMBER')
                  AND (r.rolsuper OR r.rolcreaterole
                       OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid)
                       OR EXISTS (SELECT 1 FROM pg_database d WHERE d.datdba = r.oid))
                ORDER BY r.rolname"""),
        {"oid": role.oid},
    ).scalars().all()
    if via:
        raise AppRoleError(
            f"The role {name} is a member of {', '.join(via)}, so it could act as a role that "
            f"owns tables or creates roles: revoke that membership (REVOKE {via[0]} FROM "
            f"{name}) or choose another name."
        )


def _verifier(conn: Connection, password: str, name: str) -> str:
    """The password as the server will store it (SCRAM-SHA-256 unless the server asks for
    md5), computed by libpq so only the verifier crosses the wire and reaches the logs."""
    from psycopg2.extensions import encrypt_password

    if not password:
        raise AppRoleError("The app role's password is empty: give a real one, or none.")
    raw = conn.connection.dbapi_connection
    verifier = str(encrypt_password(password, name, raw))
    if not _VERIFIER_RE.fullmatch(verifier):  # never embed anything else in the statement
        raise AppRoleError("The server returned an unexpected password verifier format.")
    return verifier


def _grant(
    conn: Connection, role_sql: str, schema: str, database: str, trawl_tables: set[str]
) -> tuple[str, ...]:
    present = set(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
        ).scalars()
    )
    tables = sorted(present & (trawl_tables | READ_ONLY_TABLES))
    schema_sql = _quoted(schema)
    qualified = {t: f"{schema_sql}.{_quoted(t)}" for t in tables}
    if tables:
        conn.exec_driver_sql(
            f"REVOKE ALL ON {', '.join(qualified.values())} FROM {role_sql}"
        )
    conn.exec_driver_sql(f"GRANT CONNECT, TEMPORARY ON DATABASE {_quoted(database)} TO {role_sql}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema_sql} TO {role_sql}")
    read_write = tuple(
        t for t in tables if t != APPEND_ONLY_TABLE and t not in READ_ONLY_TABLES
    )
    if read_write:
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON "
            f"{', '.join(qualified[t] for t in read_write)} TO {role_sql}"
        )
    audit = qualified.get(APPEND_ONLY_TABLE)
    if audit is not None:
        conn.exec_driver_sql(f"GRANT SELECT, INSERT ON {audit} TO {role_sql}")
        # A grant to PUBLIC reaches every role; the audit table must not have such grants.
        conn.exec_driver_sql(f"REVOKE {', '.join(FORBIDDEN_ON_AUDIT)} ON {audit} FROM PUBLIC")
    for table in sorted(READ_ONLY_TABLES & set(tables)):
        conn.exec_driver_sql(f"GRANT SELECT ON {qualified[table]} TO {role_sql}")
    sequences = conn.execute(
        text("""SELECT DISTINCT s.oid::regclass::text FROM pg_class s
                JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
                JOIN pg_class t ON t.oid = d.refobjid
                WHERE s.relkind = 'S' AND t.relname = ANY(:tables)
                  AND t.relnamespace = to_regnamespace(:schema)"""),
        {"tables": list(tables), "schema": schema},
    ).scalars().all()
    if sequences:
        # USAGE allows nextval (inserting rows); not UPDATE, so no setval.
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON SEQUENCE {', '.join(sequences)} "
                             f"TO {role_sql}")
    return read_write


def _verify_audit_rights(conn: Connection, name: str) -> None:
    held = [
        right
        for right in FORBIDDEN_ON_AUDIT
        if conn.execute(
            text("SELECT has_table_privilege(:n, 'audit', :p)"), {"n": name, "p": right}
        ).scalar()
    ]
    if held:
        raise AppRoleError(
            f"The role {name} still has {', '.join(held)} on the audit table through a grant "
            f"to another role it belongs to: revoke that grant (REVOKE {held[0]} ON audit "
            "FROM ...) and run this again."
        )
