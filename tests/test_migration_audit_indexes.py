"""Migration 0010 on a database at 0005 holding audit events: the filter indexes appear,
every event stays as it was, and the filters answer from them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from storage.audit import list_audit
from storage.db import alembic_config, open_store

T = datetime(2026, 1, 2, 3, 4, 5)


def test_upgrade_from_0005_keeps_the_trail_and_adds_the_indexes(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0005")
            for n in range(1, 7):
                conn.execute(sa.text(
                    "INSERT INTO audit (id, at, actor, action, entity, entity_id, detail) "
                    "VALUES (:id, :at, :actor, :action, 'hit', :id, NULL)"),
                    {"id": n, "at": T.replace(day=n), "actor": "ann" if n % 2 else "tom",
                     "action": "confirm" if n < 4 else "notify"})
    finally:
        store.close()

    store = open_store(fresh_db_url)  # migrates to the head
    try:
        names = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("audit")}
        assert {"ix_audit_actor", "ix_audit_action", "ix_audit_at"} <= names
        everything = list_audit(store)
        assert [(e.id, e.actor, e.action, e.at) for e in everything] == [
            (n, "ann" if n % 2 else "tom", "confirm" if n < 4 else "notify", T.replace(day=n))
            for n in range(1, 7)]
        assert [e.id for e in list_audit(store, actor="ann", newest_first=True)] == [5, 3, 1]
        since = T.replace(day=4, hour=12)
        assert [e.id for e in list_audit(store, action="notify", since=since)] == [5, 6]
    finally:
        store.close()
