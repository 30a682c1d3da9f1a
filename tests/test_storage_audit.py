"""The audit trail: appended with the change it records, and never rewritten (triggers)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storage.audit import append_audit, list_audit
from storage.db import Store, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def test_events_are_listed_in_order_and_filtered(store: Store) -> None:
    with store.session() as session:
        append_audit(session, actor="alice", action="confirm", entity="hit", entity_id=7,
                     from_state="pending", to_state="confirmed", detail="looks right")
        append_audit(session, actor="bob", action="import", entity="list", entity_id=1,
                     detail={"added": 3, "name": "IWF"})
    events = list_audit(store)
    assert [(e.actor, e.action) for e in events] == [("alice", "confirm"), ("bob", "import")]
    first = events[0]
    assert (first.entity, first.entity_id, first.from_state, first.to_state, first.detail) == (
        "hit", 7, "pending", "confirmed", "looks right")
    assert first.at.tzinfo is None
    assert json.loads(events[1].detail or "") == {"added": 3, "name": "IWF"}
    assert [e.actor for e in list_audit(store, entity="hit", entity_id=7)] == ["alice"]
    assert list_audit(store, entity="hit", entity_id=8) == []
    assert [e.actor for e in list_audit(store, actor="bob")] == ["bob"]
    assert [e.actor for e in list_audit(store, newest_first=True, limit=1)] == ["bob"]


def test_event_rolls_back_with_its_transaction(store: Store) -> None:
    def failing_change() -> None:
        with store.session() as session:
            append_audit(session, actor="alice", action="confirm", entity="hit", entity_id=1)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert list_audit(store) == []


def test_actor_is_required(store: Store) -> None:
    with pytest.raises(ValueError, match="needs an actor"), store.session() as session:
        append_audit(session, actor="  ", action="confirm", entity="hit")


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"],
)
def test_raw_update_and_delete_are_refused(store: Store, statement: str) -> None:
    with store.session() as session:
        append_audit(session, actor="alice", action="confirm", entity="hit", entity_id=1)
    with pytest.raises(sa.exc.DBAPIError, match="audit is append-only"), \
            store.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    (event,) = list_audit(store)
    assert event.actor == "alice"


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [("TRUNCATE audit", "TRUNCATE refused"),
     ("DELETE FROM audit WHERE id = -1", "DELETE refused")],  # statement-level triggers
)
def test_truncate_and_empty_deletes_are_refused_on_postgresql(
    pg_url: str, statement: str, refusal: str
) -> None:
    store = open_store(pg_url)
    try:
        with store.session() as session:
            append_audit(session, actor="alice", action="send", entity="notice", entity_id=1)
        with pytest.raises(sa.exc.DBAPIError, match=f"audit is append-only: {refusal}"), \
                store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
        assert len(list_audit(store)) == 1
    finally:
        store.close()
