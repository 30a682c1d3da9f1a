"""Hits (analysts): every image that matched, filtered by state, tier and host; one image's
evidence, votes and audit history."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import DEFAULT_LIMIT, PageRequest, make_page
from crawler.web.review_schemas import HitState, Tier
from crawler.web.templating import render
from matchers.hashtypes import HASH_TYPES
from storage.evidence import get_hit_detail, providers_of
from storage.hits import list_hits
from storage.policy import HIT_STATES, TIER_CHOICES

router = APIRouter(include_in_schema=False)
analysts = require_role("analyst")


@router.get("/hits")
def hits_page(
    request: Request,
    status: HitState | None = Query(None),
    tier: Tier = Query("all"),
    host: str | None = Query(None, max_length=255),
    offset: int = Query(0, ge=0),
    user: User = Depends(analysts),
) -> Response:
    host = (host or "").strip() or None
    page = PageRequest(limit=DEFAULT_LIMIT, offset=offset)
    store = store_of(request)
    rows = list_hits(store, status=status, tier=tier, host=host, limit=page.fetch,
                     offset=page.offset, newest_first=True)
    shown = make_page(rows, page)
    kept = {k: v for k, v in {"status": status, "tier": tier, "host": host}.items() if v}

    def link(to_offset: int | None) -> str | None:
        return None if to_offset is None else "/hits?" + urlencode({**kept, "offset": to_offset})

    return render(request, "hits.html", {
        "page": shown, "providers": providers_of(store, shown.items),
        "filters": {"status": status or "", "tier": tier, "host": host or ""},
        "states": HIT_STATES, "tiers": TIER_CHOICES,
        "newer_link": link(max(0, offset - page.limit) if offset > 0 else None),
        "older_link": link(shown.next_offset),
    })


@router.get("/hits/{hit_id}")
def hit_page(request: Request, hit_id: int, user: User = Depends(analysts)) -> Response:
    detail = get_hit_detail(store_of(request), hit_id)
    digests = [(name, getattr(detail, name)) for name in HASH_TYPES
               if getattr(detail, name, None)]
    return render(request, "hit.html", {"hit": detail, "digests": digests})
