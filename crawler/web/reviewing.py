"""What the review pages and the review API share: the clock, the settings, hit shapes.

The rules themselves (claims, votes, transitions, the queue's order) live in
storage.review; this module only calls them with the signed-in analyst as the actor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from fastapi import Request

from crawler.web.auth import store_of
from crawler.web.review_schemas import HitOut, MatchOut
from crawler.web.settings import WebSettings
from storage.evidence import providers_of
from storage.providers import Attribution
from storage.records import HitRow
from storage.review import Decision, DecisionResult, decide


def settings_of(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime | None:
    """The app's fixed time (TRAWL_NOW, for tests and drills), or None for the real clock."""
    now: datetime | None = request.app.state.config.now
    return now


def hit_outs(request: Request, rows: Sequence[HitRow],
             providers: Mapping[int, Attribution] | None = None) -> list[HitOut]:
    """Hit rows with their provider (looked up unless given), as the API shows them."""
    if providers is None:
        providers = providers_of(store_of(request), rows)
    return [
        HitOut(
            id=r.id, status=r.status, tier=r.tier, confidence=r.confidence,
            media_url=r.media_url, host=r.host, server_ip=r.server_ip,
            provider=providers[r.id].name if r.id in providers else None,
            page_urls=list(r.page_urls), page_count=r.page_count,
            matches=[MatchOut.model_validate(m) for m in r.matches],
            first_seen=r.first_seen, last_seen=r.last_seen, created_at=r.created_at,
            claimed_by=r.claimed_by, claimed_until=r.claimed_until,
            confirmations=r.confirmations,
        )
        for r in rows
    ]


def decide_hit(request: Request, hit_id: int, decision: Decision, note: str | None,
               actor: str) -> DecisionResult:
    """One analyst's confirm or reject of one image, under the app's confirmation rule."""
    (result,) = decide(store_of(request), [hit_id], actor=actor, decision=decision,
                       note=(note or "").strip() or None,
                       required=settings_of(request).confirmations_required,
                       now=now_of(request))
    return result
