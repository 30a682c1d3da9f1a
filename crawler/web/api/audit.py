"""GET /api/v1/audit: the append-only trail, filtered and paged, newest first."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Request

from crawler.web.auth import User, require_signed_in, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.problems import BadInput
from crawler.web.schemas import PROBLEM_RESPONSES, AuditOut
from storage.audit import list_audit

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=PROBLEM_RESPONSES)


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@router.get("/audit", response_model=Page[AuditOut], summary="Audit events, newest first")
def audit(
    request: Request,
    actor: str | None = Query(None, description="Who acted (account name, or e.g. crawler)."),
    action: str | None = Query(None, description="e.g. add, disable, confirm, sent."),
    entity: str | None = Query(None, description="e.g. user, token, hit, notice, list."),
    entity_id: int | None = Query(None, ge=1),
    since: datetime | None = Query(None, description="At or after (ISO 8601; naive is UTC)."),
    until: datetime | None = Query(None, description="Before (ISO 8601; naive is UTC)."),
    page: PageRequest = Depends(page_request),
    user: User = Depends(require_signed_in()),
) -> Page[AuditOut]:
    first, last = _naive_utc(since), _naive_utc(until)
    if first is not None and last is not None and last <= first:
        raise BadInput("until must be after since.", field="until")
    rows = list_audit(store_of(request), actor=actor, action=action, entity=entity,
                      entity_id=entity_id, since=first, until=last,
                      limit=page.fetch, offset=page.offset, newest_first=True)
    return make_page([AuditOut.model_validate(r) for r in rows], page)
