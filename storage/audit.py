"""The append-only audit trail: who did what to which hit, notice or list, and when."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select

from storage.db import utcnow
from storage.models import AuditEvent
from storage.records import AuditEntry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: str | Mapping[str, Any] | None = None,
) -> None:
    """Record an event inside the caller's transaction, so the event and the change it
    describes are committed (or rolled back) together. A mapping `detail` is stored as JSON.
    The table refuses UPDATE and DELETE (database triggers): events are never rewritten.
    """
    session.flush()  # what the session holds goes first, as an ORM INSERT would do
    session.execute(_AUDIT_INSERT, _event(
        actor=actor, action=action, entity=entity, entity_id=entity_id,
        from_state=from_state, to_state=to_state, detail=detail))


def append_audit_events(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Several events (each with append_audit's keywords) in one statement, in order."""
    if events:
        session.flush()
        session.execute(_AUDIT_INSERT, [_event(**event) for event in events])


# A plain INSERT of the table, built once: the ORM's bulk-insert path and building the
# statement anew cost more than the insert itself on every review decision.
_AUDIT_INSERT = insert(cast(Table, AuditEvent.__table__))


def _event(*, actor: str, action: str, entity: str, entity_id: int | None = None,
           from_state: str | None = None, to_state: str | None = None,
           detail: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    if not actor or not actor.strip():
        raise ValueError(
            f"The {action!r} event on {entity} needs an actor (who did it): "
            "pass --as NAME or set TRAWL_USER."
        )
    if detail is not None and not isinstance(detail, str):
        detail = json.dumps(dict(detail), sort_keys=True, default=str)
    return {"at": utcnow(), "actor": actor.strip(), "action": action, "entity": entity,
            "entity_id": entity_id, "from_state": from_state, "to_state": to_state,
            "detail": detail}


def list_audit(
    store: Store,
    *,
    entity: str | None = None,
    entity_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Events oldest first (or newest first), optionally for one entity kind, one entity,
    one actor or one action, at or after `since` and before `until` (naive UTC)."""
    order = AuditEvent.id.desc() if newest_first else AuditEvent.id
    query = select(AuditEvent).order_by(order)
    if entity is not None:
        query = query.where(AuditEvent.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.read_session() as session:
        return [
            AuditEntry(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                entity=e.entity,
                entity_id=e.entity_id,
                from_state=e.from_state,
                to_state=e.to_state,
                detail=e.detail,
            )
            for e in session.scalars(query)
        ]
