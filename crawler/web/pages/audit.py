"""Audit: the append-only trail, filtered by actor, action, entity and date, newest first."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from crawler.services import users as user_service
from crawler.web.auth import User, require_signed_in, store_of
from crawler.web.pagination import DEFAULT_LIMIT, PageRequest, make_page
from crawler.web.problems import BadInput
from crawler.web.templating import render
from storage.audit import list_audit

router = APIRouter(include_in_schema=False)

FILTERS = ("actor", "action", "entity", "since", "until")
# Suggestions for the filter fields (any value may still be typed): what Trawl records.
ENTITY_HINTS = ("hit", "notice", "list", "provider", "seed", "schedule", "crawl", "recheck",
                "user", "token", "database", "audit")
ACTION_HINTS = ("add", "claim", "confirm", "confirm_vote", "reject", "reopen", "reappeared",
                "create", "export", "sent", "notify", "renotice", "recheck",
                "recheck_started", "import", "pause", "resume", "run_now",
                "crawl_marked_failed", "disable", "enable", "issue", "revoke", "login",
                "logout", "lockout")


def _day(value: str | None, field: str) -> date | None:
    """A YYYY-MM-DD form value; empty means no bound."""
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"{field}: {value!r} is not a date such as 2026-05-01.",
                       field=field) from None


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@router.get("/audit")
def audit_page(
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    entity: str | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: int = Query(0, ge=0),
    user: User = Depends(require_signed_in()),
) -> Response:
    first, last = _day(since, "since"), _day(until, "until")
    if first and last and last < first:
        raise BadInput(f"until: {last} is before since ({first}); give the earlier day "
                       "first.", field="until")
    page = PageRequest(limit=DEFAULT_LIMIT, offset=offset)
    rows = list_audit(
        store_of(request),
        actor=_blank_to_none(actor), action=_blank_to_none(action),
        entity=_blank_to_none(entity),
        since=datetime.combine(first, time()) if first else None,
        until=datetime.combine(last + timedelta(days=1), time()) if last else None,
        limit=page.fetch, offset=page.offset, newest_first=True,
    )
    shown = make_page(rows, page)
    filters = {"actor": actor or "", "action": action or "", "entity": entity or "",
               "since": since or "", "until": until or ""}
    kept = {k: v for k, v in filters.items() if v}

    def link(to_offset: int | None) -> str | None:
        if to_offset is None:
            return None
        return "/audit?" + urlencode({**kept, "offset": to_offset})

    newer = max(0, offset - page.limit) if offset > 0 else None
    return render(request, "audit.html", {
        "page": shown, "filters": filters, "entity_hints": ENTITY_HINTS,
        "action_hints": ACTION_HINTS,
        "actor_hints": [a.name for a in user_service.list_users(store_of(request))],
        "older_link": link(shown.next_offset), "newer_link": link(newer),
    })
