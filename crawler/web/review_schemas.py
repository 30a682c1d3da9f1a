"""The review API's shapes (hits, evidence, claims, decisions, the team's figures)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crawler.web.schemas import UtcTime
from storage.policy import DEFAULT_CLAIM_LIMIT, DEFAULT_CLAIM_MINUTES

Tier = Literal["high", "low", "all"]
HitState = Literal["pending", "confirmed", "rejected", "notified", "live", "removed"]
MAX_NOTE_LENGTH = 2000
MAX_CLAIM = 100


class MatchOut(BaseModel):
    """One known hash the image matched: evidence, best first."""

    model_config = ConfigDict(from_attributes=True)

    known_hash_id: int
    hash_type: str
    match_type: str = Field(description="exact or perceptual")
    distance: int
    threshold: int
    confidence: float
    tier: str
    transform: str | None = Field(description="What, applied to the crawled image, matched "
                                  "(e.g. rotate_90); null when it matched as it is.")
    list: str
    label: str | None
    category: str | None
    crawl_id: int | None
    found_at: UtcTime


class HitOut(BaseModel):
    """One image at a URL that matched (URLs are text: nothing here is ever fetched)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    tier: str
    confidence: float
    media_url: str
    host: str | None
    server_ip: str | None
    provider: str | None = None
    page_urls: list[str] = Field(description="Pages that showed it, first seen first "
                                 "(at most 50; page_count has them all).")
    page_count: int
    matches: list[MatchOut]
    first_seen: UtcTime | None
    last_seen: UtcTime | None
    created_at: UtcTime
    claimed_by: str | None
    claimed_until: UtcTime | None
    confirmations: int


class PageSeenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    page_url: str
    first_seen: UtcTime
    last_seen: UtcTime
    times: int


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: UtcTime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: str | None


class VoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    actor: str
    decision: str
    note: str | None
    at: UtcTime


class HitDetailOut(BaseModel):
    """All evidence for one image: pages, digests, matches, host, votes, history."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    tier: str
    confidence: float
    media_url: str
    host: str
    server_ip: str | None
    provider: str
    provider_abuse_email: str | None
    attributed_via: str
    pages: list[PageSeenOut]
    matches: list[MatchOut]
    md5: str | None
    sha1: str | None
    sha256: str | None
    phash: str | None
    dhash: str | None
    pdq: str | None
    pdq_quality: int | None
    content_type: str | None
    format: str | None
    width: int | None
    height: int | None
    size: int | None
    fetch_status: str
    first_seen: UtcTime
    last_seen: UtcTime
    created_at: UtcTime
    updated_at: UtcTime
    claimed_by: str | None
    claimed_until: UtcTime | None
    notified_at: UtcTime | None
    removed_at: UtcTime | None
    renotice_due_at: UtcTime | None
    time_to_removal_seconds: float | None
    votes: list[VoteOut]
    notices: list[str]
    history: list[HistoryOut]


class DecisionIn(BaseModel):
    note: str | None = Field(default=None, max_length=MAX_NOTE_LENGTH,
                             description="Why (kept in the audit trail).")


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_state: str
    to_state: str
    confirmations: int
    required: int
    counted: bool = Field(description="False when this analyst had already voted the same "
                          "way.")


class ClaimIn(BaseModel):
    limit: int = Field(default=DEFAULT_CLAIM_LIMIT, ge=1, le=MAX_CLAIM)
    tier: Tier = "high"  # storage.policy.DEFAULT_TIER
    claim_minutes: float = Field(default=DEFAULT_CLAIM_MINUTES, gt=0, le=24 * 60)


class ClaimHolderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    actor: str
    images: int
    until: UtcTime


class QueueOut(BaseModel):
    tier: str
    mine: list[HitOut] = Field(description="Your live claims, in queue order.")
    next_up: list[HitOut] = Field(description="The next unclaimed images, in queue order.")
    holders: list[ClaimHolderOut] = Field(description="Who else holds pending images.")


class ProviderStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str
    notified: int
    removed: int
    still_live: int
    median_hours: float | None
    p90_hours: float | None


class LiveHitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    hit_id: int
    status: str
    media_url: str
    provider: str
    notified_at: UtcTime | None
    age_hours: float | None
    renotice_due_at: UtcTime | None
    notices_sent: int


class DayCrawlsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    crawls: int
    hits: int


class StatsOut(BaseModel):
    """The same figures as `trawl stats --format json` and the dashboard."""

    model_config = ConfigDict(from_attributes=True)

    generated_at: UtcTime
    hits_by_status: dict[str, int]
    pending_by_tier: dict[str, int]
    notices_sent: int
    notices_unsent: int
    renotices_due: int
    providers: list[ProviderStatsOut]
    oldest_live: list[LiveHitOut]
    crawls_by_day: list[DayCrawlsOut]
