"""Plain frozen dataclasses that storage functions take and return (no ORM object escapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- seeds --------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSpec:
    """A seed to add or update (seeds are keyed by URL)."""

    url: str
    domain: str  # registered domain, e.g. example.co.uk
    depth: int = 3
    max_pages: int | None = None
    include_subdomains: bool = False
    obey_robots: bool = True
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeedInfo:
    id: int
    url: str
    domain: str
    depth: int
    max_pages: int | None
    include_subdomains: bool
    obey_robots: bool
    active: bool
    tags: tuple[str, ...]
    created_at: datetime


# --- crawls -------------------------------------------------------------------------


@dataclass(frozen=True)
class CrawlInfo:
    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running | finished | failed | killed | timeout
    reason: str | None
    schedule_id: int | None
    pid: int | None
    start_urls: tuple[str, ...]
    seed_ids: tuple[int, ...]
    pages: int
    images: int
    hashed: int
    hits: int
    errors: int
    stats: dict[str, Any] = field(default_factory=dict)
    host: str | None = None  # where its process runs (socket.gethostname())
    heartbeat_at: datetime | None = None  # when its process last said it is alive
    frontier: str | None = None  # distributed crawls: the Redis URL of their frontier


@dataclass(frozen=True)
class DeadCrawl:
    """A running crawl that reap_dead_crawls found dead and marked failed."""

    crawl_id: int
    pid: int | None
    host: str | None
    reason: str


# --- known-hash lists ---------------------------------------------------------------


@dataclass(frozen=True)
class KnownHashIn:
    """One entry to import; `value` is already normalised by matchers.hashtypes."""

    hash_type: str
    value: str
    label: str | None = None
    source: str | None = None
    category: str | None = None
    extra: dict[str, str] | None = None
    variant: str | None = None  # crop-centre-90, ...: a stored variant of the item


@dataclass(frozen=True)
class ImportResult:
    list_id: int
    name: str
    added: int  # new rows in the list
    duplicates: int  # repeated within the imported file (parser's count + the import's own)
    already_present: int  # in the list before this import


@dataclass(frozen=True)
class KnownListInfo:
    id: int
    name: str
    format: str
    source_file: str | None
    imported_at: datetime
    imported_by: str | None
    entry_count: int
    duplicate_count: int
    by_type: dict[str, int] = field(default_factory=dict)  # hash type -> entries


@dataclass(frozen=True)
class KnownHashRow:
    """What a matcher needs of one known hash (matchers.decision.KnownRef has the same fields)."""

    id: int
    list_name: str
    hash_type: str
    value: str
    label: str | None
    category: str | None
    variant: str | None = None


# --- media and hits -----------------------------------------------------------------


# What a media row keeps of the bytes that were hashed (never the bytes): the one list the
# writer, the readers and the adapter (crawler/adapter.py) take their digest fields from.
DIGEST_FIELDS = (
    "size", "format", "width", "height", "frames", "md5", "sha1", "sha256", "phash", "dhash",
    "pdq", "pdq_quality", "flatness", "pdq_dihedral", "variant_hashes",
)


@dataclass(frozen=True)
class MediaRecord:
    """One fetched (or failed) image URL, as the crawler hands it to storage. Never bytes."""

    url: str
    host: str | None = None
    content_type: str | None = None
    size: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    phash: str | None = None
    dhash: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    flatness: float | None = None
    pdq_dihedral: str | None = None  # 7 space-separated PDQ hex (rotations and mirrors)
    variant_hashes: str | None = None  # matchers.digests.format_variants
    server_ip: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetch_status: str = "ok"  # ok | unsupported | undecodable | too_large | http_<code> | error
    error: str | None = None


@dataclass(frozen=True)
class MatchIn:
    """A match of an image against one known hash, as evidence to record for its hit."""

    known_hash_id: int
    hash_type: str
    distance: int
    threshold: int = 0
    confidence: float = 1.0
    tier: str = "high"  # high | low
    transform: str | None = None  # what, applied to the image, matched (rotate_90, trim...)


@dataclass(frozen=True)
class MediaInfo:
    """A stored media row: its digests plus the validators for a conditional re-fetch."""

    id: int
    url: str
    host: str | None
    content_type: str | None
    size: int | None
    format: str | None
    width: int | None
    height: int | None
    frames: int | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    phash: str | None
    dhash: str | None
    pdq: str | None
    pdq_quality: int | None
    flatness: float | None
    pdq_dihedral: str | None
    server_ip: str | None
    etag: str | None
    last_modified: str | None
    fetch_status: str
    error: str | None
    first_seen: datetime
    last_seen: datetime
    last_crawl_id: int | None
    variant_hashes: str | None = None


@dataclass(frozen=True)
class MediaDigestRow:
    """The digests of one hashed image, for matching a new list against everything seen."""

    id: int
    url: str
    md5: str | None
    sha1: str | None
    sha256: str | None
    size: int | None
    phash: str | None
    dhash: str | None
    pdq: str | None
    pdq_quality: int | None
    width: int | None = None
    height: int | None = None
    flatness: float | None = None
    pdq_dihedral: str | None = None
    variant_hashes: str | None = None


@dataclass(frozen=True)
class MatchRow:
    """One known hash an image matched: evidence of its hit."""

    id: int
    known_hash_id: int
    hash_type: str
    match_type: str  # exact | perceptual
    distance: int
    threshold: int
    confidence: float
    tier: str
    transform: str | None
    list: str
    label: str | None
    category: str | None
    known_value: str
    crawl_id: int | None  # the crawl that found it; None for a rematch
    found_at: datetime
    known_variant: str | None = None  # the stored crop it matched (crop-centre-90, ...)


@dataclass(frozen=True)
class HitRow:
    """An image at a URL that matched: what the queue, listings and notices show of it.

    The match fields at the top level (hash_type, distance, transform, list, label,
    category) are those of its best match; `matches` holds all of them, best first."""

    id: int
    media_id: int
    media_url: str
    page_url: str | None  # the first page seen showing the image
    page_urls: tuple[str, ...]  # distinct pages, first seen first (at most PAGE_URLS_PER_HIT)
    page_count: int  # distinct pages in total
    status: str
    tier: str  # of the best match
    confidence: float  # of the best match
    hash_type: str
    distance: int
    transform: str | None
    list: str
    label: str | None
    category: str | None
    match_count: int
    matches: tuple[MatchRow, ...]
    server_ip: str | None
    host: str | None
    sha256: str | None
    created_at: datetime
    updated_at: datetime
    crawl_id: int | None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    confirmations: int = 0  # distinct analysts who confirmed in the current round
    first_seen: datetime | None = None  # the image URL, first and last crawled
    last_seen: datetime | None = None


# --- audit --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    from_state: str | None
    to_state: str | None
    detail: str | None
