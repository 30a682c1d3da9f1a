"""SQLAlchemy 2.0 models: the whole schema of Trawl in one place (no image bytes, ever)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base; every timestamp is stored as naive UTC."""


# --- seeds and crawls ---------------------------------------------------------------


class Seed(Base):
    __tablename__ = "seeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    url_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # sha256(url)
    domain: Mapped[str] = mapped_column(String(255), nullable=False)  # registered domain
    depth: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    max_pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    include_subdomains: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    obey_robots: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    tags: Mapped[str] = mapped_column(Text, nullable=False, default="")  # comma-separated
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class Crawl(Base):
    """One run of the crawler, with its stats and outcome."""

    __tablename__ = "crawls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # running | finished | failed | killed | timeout
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), nullable=True
    )
    # Where the crawl runs and when it last said it is alive: a running crawl whose process
    # is gone (same host) or whose heartbeat is stale is marked failed (storage.crawls).
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    start_urls: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list
    pages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    images: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    hashed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    hits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stats: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON object
    # The shared frontier a distributed crawl runs on (its Redis URL, without password);
    # None: crawled in one process.
    frontier: Mapped[str | None] = mapped_column(String(255), nullable=True)


class CrawlSeed(Base):
    """Which seeds a crawl covers (a seed must never be crawled twice at once)."""

    __tablename__ = "crawl_seeds"

    crawl_id: Mapped[int] = mapped_column(
        ForeignKey("crawls.id", ondelete="CASCADE"), primary_key=True
    )
    seed_id: Mapped[int] = mapped_column(
        ForeignKey("seeds.id", ondelete="CASCADE"), primary_key=True
    )


# --- known-hash lists ---------------------------------------------------------------


class KnownList(Base):
    __tablename__ = "known_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    format: Mapped[str] = mapped_column(String(32), nullable=False)
    source_file: Mapped[str | None] = mapped_column(Text, nullable=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    imported_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    entry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duplicate_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class KnownHash(Base):
    __tablename__ = "known_hashes"
    __table_args__ = (
        # (hash_type, value) alone had an index until migration 0011: no query used it.
        UniqueConstraint("list_id", "hash_type", "value", name="uq_known_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("known_lists.id", ondelete="CASCADE"), nullable=False
    )
    hash_type: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[str] = mapped_column(String(128), nullable=False)  # lowercase hex
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    category: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of other columns
    # Which variant of the known item this hash is (crop-centre-90, trim, ...: lists made
    # with `trawl hash --variants crops`); None for the full image's hash (migration 0006).
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)


class KnownListsVersion(Base):
    """One row, bumped by every list import or removal (migration 0005).

    A matcher saved to disk records the stamp it was built from ("<instance>:<version>");
    the crawl reuses the file while the stamp is current and rebuilds it otherwise. The
    instance is random per database, so a file never passes for another database's.
    """

    __tablename__ = "known_lists_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    instance: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# --- what the crawler saw -----------------------------------------------------------


class Media(Base):
    """One image URL: its digests and fetch facts. Never the bytes."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_md5", "md5"),
        Index("ix_media_sha1", "sha1"),
        Index("ix_media_sha256", "sha256"),
        Index("ix_media_host", "host"),  # the hits list filtered by host
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    url_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # sha256(url)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)  # sniffed
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sha1: Mapped[str | None] = mapped_column(String(40), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dhash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Share of a 64x64 grey thumbnail in its 4 most common tones: how flat a graphic it is.
    flatness: Mapped[float | None] = mapped_column(Float, nullable=True)
    # PDQ of the seven other orientations (rotations, mirrors), space-separated hex: lets a
    # recrawl's 304 and `trawl rematch` find rotated re-uploads without the image.
    pdq_dihedral: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Hashes of the picture inside a frame or without a caption band (migration 0006), so a
    # rematch or a 304 re-fetch finds such copies without the image.
    variant_hashes: Mapped[str | None] = mapped_column(Text, nullable=True)
    server_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    etag: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_modified: Mapped[str | None] = mapped_column(Text, nullable=True)
    # ok | unsupported | undecodable | too_large | http_<code> | error
    fetch_status: Mapped[str] = mapped_column(String(32), nullable=False, default="ok")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_crawl_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawls.id", ondelete="SET NULL"), nullable=True
    )


class Observation(Base):
    """Which page showed which image in which crawl."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("crawl_id", "media_id", "page_key", name="uq_observation"),
        Index("ix_observation_media", "media_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawls.id", ondelete="SET NULL"), nullable=True
    )
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), nullable=False
    )
    page_url: Mapped[str] = mapped_column(Text, nullable=False)
    page_key: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256(page_url)
    seen_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


# --- hits, review, audit ------------------------------------------------------------


class Hit(Base):
    """An image at a URL that matched known hashes: the one unit an analyst decides and a
    provider is told about. Every match is kept as evidence in hit_matches; `tier` and
    `confidence` are those of its best match (the queue's order)."""

    __tablename__ = "hits"
    __table_args__ = (
        UniqueConstraint("media_id", name="uq_hit_media"),
        # The review queue: pending images of a tier, most trusted and oldest first.
        Index("ix_hit_queue", "status", "tier", "confidence", "created_at"),
        # Claims: an analyst's own batch, and everyone's live claims.
        Index("ix_hit_claimed_by", "claimed_by", "claimed_until"),
        Index("ix_hit_claimed_until", "claimed_until"),
        # Listings by state, newest first; still-live images oldest first; due re-notices.
        Index("ix_hit_status_id", "status", "id"),
        Index("ix_hit_status_notified", "status", "notified_at", "id"),
        Index("ix_hit_status_renotice", "status", "renotice_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), nullable=False
    )
    crawl_id: Mapped[int | None] = mapped_column(  # the crawl that first found it (None:
        ForeignKey("crawls.id", ondelete="SET NULL"), nullable=True  # a rematch)
    )
    confidence: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    tier: Mapped[str] = mapped_column(String(16), nullable=False, default="high")  # high|low
    # pending | confirmed | rejected | notified | live | removed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    renotice_due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Votes with an id up to this one were cast before the image was last re-opened (new
    # evidence after a rejection): they stay in its history but no longer count.
    vote_floor: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


# The same order as the review queue reads it (confidence descending, then oldest): a page
# of the queue is an index range, not a sort of every pending image.
Index("ix_hit_review_order", Hit.status, Hit.tier, Hit.confidence.desc(), Hit.created_at,
      Hit.id)


class HitStateCount(Base):
    """Images per (state, tier), pre-aggregated for the dashboard and `trawl stats`: rows of
    +1/-1 deltas written by triggers on hits (0008), summed when read and folded together
    now and then (storage.stats). Append-only deltas, so concurrent decisions never wait
    on a shared counter row."""

    __tablename__ = "hit_state_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TakedownChange(Base):
    """One row per change that can move the takedown figures (a hit entering or leaving
    notified/live/removed, its notice or removal times, a notice): written by triggers
    (0008). The newest id is the figures' version."""

    __tablename__ = "takedown_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class StatsSnapshot(Base):
    """A figure computed at a version (e.g. time to removal per provider at the newest
    takedown_changes id): reused until the version moves."""

    __tablename__ = "stats_snapshots"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    computed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class HitMatch(Base):
    """One known hash an image matched: evidence of its hit, with how far to trust it."""

    __tablename__ = "hit_matches"
    __table_args__ = (
        UniqueConstraint("hit_id", "known_hash_id", name="uq_hit_match"),
        # Removing a known list cascades to its matches: without this, one scan per hash.
        Index("ix_hit_match_known_hash", "known_hash_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), nullable=False)
    known_hash_id: Mapped[int] = mapped_column(
        ForeignKey("known_hashes.id", ondelete="CASCADE"), nullable=False
    )
    hash_type: Mapped[str] = mapped_column(String(16), nullable=False)
    distance: Mapped[int] = mapped_column(Integer, nullable=False)
    threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    confidence: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    tier: Mapped[str] = mapped_column(String(16), nullable=False, default="high")  # high|low
    # What, applied to the crawled image, matched: a PDQ orientation (rotate_90,
    # flip_left_right, ...) or a query-side variant; None when it matched as it is.
    transform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    crawl_id: Mapped[int | None] = mapped_column(  # the crawl that found it (None: a rematch)
        ForeignKey("crawls.id", ondelete="SET NULL"), nullable=True
    )
    found_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class HitAlias(Base):
    """A hit id from before images became the unit of review (one hit per image and known
    hash), merged into the image's hit: its audit entries belong to that hit's history."""

    __tablename__ = "hit_aliases"

    old_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), nullable=False)


class HitVote(Base):
    """One analyst's decision on a hit (the two-person rule counts distinct actors)."""

    __tablename__ = "hit_votes"
    __table_args__ = (UniqueConstraint("hit_id", "actor", "decision", name="uq_hit_vote"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)  # confirm | reject
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class Suppression(Base):
    """A rejected (digest, known hash) pair: never queued again (negative signal)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("sha256", "known_hash_id", name="uq_suppression"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    known_hash_id: Mapped[int] = mapped_column(
        ForeignKey("known_hashes.id", ondelete="CASCADE"), nullable=False
    )
    hit_id: Mapped[int | None] = mapped_column(
        ForeignKey("hits.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class AuditEvent(Base):
    """Append-only trail: database triggers refuse UPDATE, DELETE and any insert that reuses
    an id (storage.auditguards describes them; every open_store checks them)."""

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_entity", "entity", "entity_id"),
        # The Audit page's filters, each paged newest first (migration 0010).
        Index("ix_audit_actor", "actor", "id"),
        Index("ix_audit_action", "action", "id"),
        Index("ix_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)  # hit | notice | list | ...
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    from_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # note or JSON


# --- hosting providers and notices --------------------------------------------------


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    abuse_email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    country: Mapped[str | None] = mapped_column(String(8), nullable=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class ProviderRange(Base):
    """An IP range of a provider, as integers so longest-prefix match is a range query."""

    __tablename__ = "provider_ranges"
    __table_args__ = (Index("ix_provider_range", "version", "first", "last"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), nullable=False
    )
    cidr: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # 4 | 6
    prefixlen: Mapped[int] = mapped_column(Integer, nullable=False)
    # decimal strings: IPv6 does not fit a BIGINT; zero-padded to 39 digits so they sort
    first: Mapped[str] = mapped_column(String(40), nullable=False)
    last: Mapped[str] = mapped_column(String(40), nullable=False)


class ProviderDomain(Base):
    __tablename__ = "provider_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), nullable=False
    )
    suffix: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL"), nullable=True
    )
    provider_key: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sent_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="initial")  # |renotice


class NoticeItem(Base):
    __tablename__ = "notice_items"

    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True
    )
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), primary_key=True)

    # An image's notices (its provider and how many were sent), without a scan.
    __table_args__ = (Index("ix_notice_item_hit", "hit_id"),)


# --- schedules ----------------------------------------------------------------------


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    seed_ids: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list
    seed_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    cron: Mapped[str | None] = mapped_column(String(128), nullable=True)
    interval_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    depth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    time_budget_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=3600)
    # JSON list of CIDR blocks its crawls may reach besides the seeds' hosts (migration 0009)
    allow_addresses: Mapped[str] = mapped_column(
        Text, nullable=False, default="[]", server_default="[]"
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


# --- people: accounts, API tokens, login sessions (migration 0004) ------------------


class User(Base):
    """A person who signs in to `trawl serve` or acts through an API token."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # analyst | takedown | admin
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)  # argon2 encoded string
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class ApiToken(Base):
    """A bearer token for the JSON API; only the sha256 of the token is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_token_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LoginSession(Base):
    """A signed-in browser: the sha256 of its cookie, its CSRF secret and its expiry."""

    __tablename__ = "login_sessions"
    __table_args__ = (
        Index("ix_login_session_user", "user_id"),
        Index("ix_login_session_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    csrf_secret: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class LoginFailure(Base):
    """One failed sign-in, by the name tried and the client address (lockout, rate limit)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failure_name", "name", "at"),
        Index("ix_login_failure_address", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


# --- distributed crawling (`trawl worker`) --------------------------------------------


class Worker(Base):
    """A `trawl worker` process: where it runs and when it last said it is alive."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    frontier: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    crawl_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # latest it worked on
    requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rate: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)  # requests/s


class CrawlWorker(Base):
    """One worker's share of one crawl: the counters its committed requests added."""

    __tablename__ = "crawl_workers"

    crawl_id: Mapped[int] = mapped_column(
        ForeignKey("crawls.id", ondelete="CASCADE"), primary_key=True
    )
    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    images: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    hashed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    hits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CrawlRequestDone(Base):
    """Lease bookkeeping: a request of a distributed crawl whose results are committed.

    A worker that dies after committing but before releasing its lease has the request
    crawled again by another; the primary key makes that second run count nothing.
    """

    __tablename__ = "crawl_requests_done"

    crawl_id: Mapped[int] = mapped_column(
        ForeignKey("crawls.id", ondelete="CASCADE"), primary_key=True
    )
    request_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(kind url)
    worker_id: Mapped[str] = mapped_column(String(64), nullable=False)
    done_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
