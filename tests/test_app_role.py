"""`trawl init --app-role`: a PostgreSQL role that runs Trawl, owns nothing, and can add to
the audit trail but never alter, disable, update, delete or truncate it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from crawler.cli.main import cli
from storage.approle import AppRoleError, grant_app_role
from storage.audit import append_audit, list_audit
from storage.crawls import heartbeat, start_crawl
from storage.db import open_store

pytestmark = pytest.mark.hostile

PASSWORD = "correct horse battery staple"


@pytest.fixture
def role_name(pg_url: str) -> Iterator[str]:
    """A fresh role name; the role (if made) is dropped before the database is."""
    name = f"trawl_app_{uuid.uuid4().hex[:10]}"
    yield name
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                            {"n": name}).first():
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE usename = :n"), {"n": name})
                conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
                conn.exec_driver_sql(f'DROP ROLE "{name}"')
    finally:
        admin.dispose()


def _as_role(pg_url: str, name: str) -> str:
    return make_url(pg_url).set(username=name, password=PASSWORD).render_as_string(
        hide_password=False)


def test_the_app_role_can_append_to_the_audit_trail_and_nothing_more(
    pg_url: str, role_name: str
) -> None:
    owner = open_store(pg_url)
    try:
        role = grant_app_role(owner, role_name, actor="admin", password=PASSWORD)
        assert role.created
        assert role.password_set
        assert "audit" not in role.read_write_tables
        assert {"hits", "crawls", "media"} <= set(role.read_write_tables)
        granted = list_audit(owner)[-1]
        assert (granted.actor, granted.action) == ("admin", "app_role_granted")
    finally:
        owner.close()

    app = open_store(_as_role(pg_url, role_name))  # migrates (nothing to do) and checks guards
    try:
        with app.session() as session:
            append_audit(session, actor="alice", action="confirm", entity="hit", entity_id=1)
        crawl_id = start_crawl(app, start_urls=["http://127.0.0.1/"], seed_ids=[])
        assert heartbeat(app, crawl_id)
        assert [e.actor for e in list_audit(app)][-1] == "alice"
        for statement, refusal in [
            ("UPDATE audit SET actor = 'mallory'", "permission denied"),
            ("DELETE FROM audit", "permission denied"),
            ("TRUNCATE audit", "permission denied"),
            ("ALTER TABLE audit DISABLE TRIGGER audit_no_update_delete", "must be owner"),
            ("ALTER TABLE audit DISABLE TRIGGER ALL", "must be owner"),
            ("DROP TRIGGER audit_no_update_delete ON audit", "must be owner"),
            ("CREATE TRIGGER t BEFORE INSERT ON audit FOR EACH STATEMENT "
             "EXECUTE FUNCTION trawl_audit_append_only()", "permission denied"),
            ("DROP TABLE audit", "must be owner"),
            ("SELECT setval('audit_id_seq', 1)", "permission denied"),
            ("CREATE OR REPLACE FUNCTION trawl_audit_append_only() RETURNS trigger "
             "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$",
             "must be owner|permission denied for schema"),
        ]:
            with pytest.raises(sa.exc.DBAPIError, match=refusal), app.engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        app.close()


def test_running_it_again_resets_the_rights_of_the_existing_role(
    pg_url: str, role_name: str
) -> None:
    owner = open_store(pg_url)
    try:
        grant_app_role(owner, role_name, actor="admin", password=PASSWORD)
        with owner.engine.begin() as conn:
            conn.exec_driver_sql(f'GRANT UPDATE, DELETE ON audit TO "{role_name}"')
        again = grant_app_role(owner, role_name, actor="admin")
        assert not again.created
        assert not again.password_set
        with owner.engine.connect() as conn:
            held = conn.execute(sa.text("SELECT has_table_privilege(:n, 'audit', 'UPDATE')"),
                                {"n": role_name}).scalar()
        assert held is False
    finally:
        owner.close()


def test_a_grant_to_public_on_audit_is_revoked(pg_url: str, role_name: str) -> None:
    owner = open_store(pg_url)
    try:
        with owner.engine.begin() as conn:
            conn.exec_driver_sql("GRANT UPDATE ON audit TO PUBLIC")
        grant_app_role(owner, role_name, actor="admin")
        with owner.engine.connect() as conn:
            held = conn.execute(sa.text("SELECT has_table_privilege(:n, 'audit', 'UPDATE')"),
                                {"n": role_name}).scalar()
        assert held is False
    finally:
        owner.close()


@pytest.mark.parametrize(
    ("setup", "refusal"),
    [
        ("CREATE ROLE {r} SUPERUSER", "is a superuser"),
        ("CREATE ROLE {r} BYPASSRLS", "has BYPASSRLS"),
        ("CREATE ROLE {r}; CREATE TABLE mine (x int); ALTER TABLE mine OWNER TO {r}",
         "owns 1 database object"),
        ("CREATE ROLE {r}; GRANT postgres TO {r}", "is a member of postgres"),
    ],
)
def test_a_role_that_could_act_as_an_owner_is_refused(
    pg_url: str, role_name: str, setup: str, refusal: str
) -> None:
    owner = open_store(pg_url)
    try:
        with owner.engine.begin() as conn:
            for statement in setup.format(r=role_name).split("; "):
                conn.exec_driver_sql(statement)
        before = len(list_audit(owner))
        with pytest.raises(AppRoleError, match=refusal):
            grant_app_role(owner, role_name, actor="admin")
        assert len(list_audit(owner)) == before
    finally:
        owner.close()


@pytest.mark.parametrize("name", ["postgres", "Trawl-App", "pg_trawl", "x; DROP TABLE audit", ""])
def test_owner_and_odd_names_are_refused(pg_url: str, name: str) -> None:
    owner = open_store(pg_url)
    try:
        with pytest.raises(AppRoleError, match=r"owns the tables|cannot be the app role's name"):
            grant_app_role(owner, name, actor="admin")
    finally:
        owner.close()


def test_sqlite_refuses_cleanly(sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "init", "--app-role", "trawl_app"])
    assert result.exit_code == 1
    assert "SQLite has no database roles" in result.output
    assert "Traceback" not in result.output


def test_trawl_init_app_role(pg_url: str, role_name: str) -> None:
    result = CliRunner().invoke(cli, ["--db", pg_url, "init", "--app-role", role_name],
                                env={"TRAWL_APP_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert f"Created the role {role_name}" in result.output
    assert "password set" in result.output
    open_store(_as_role(pg_url, role_name)).close()
