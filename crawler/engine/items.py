"""The items that flow from the seed spider through the pipelines (kept in memory only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matchers.digests import Digests
    from matchers.match import Match


@dataclass(slots=True, eq=False)
class ImageItem:
    """One fetched (or failed) image URL. `body` holds the bytes only until HashPipeline
    drops them; it is excluded from repr so no log line can ever print image bytes."""

    url: str
    page_url: str | None  # the page that led to this request (None for unknown)
    fetch_status: str = "ok"  # ok | not_modified | http_<code> | too_large | error
    error: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    server_ip: str | None = None
    body: bytes | None = field(default=None, repr=False)
    digests: Digests | None = None
    matches: list[Match] = field(default_factory=list)
    matched: bool = False  # `matches` decided (by the hash pool or MatchPipeline)


@dataclass(frozen=True, slots=True)
class ObservationItem:
    """A page showed an image URL (the image is fetched once; every page is recorded)."""

    media_url: str
    page_url: str


@dataclass(slots=True, eq=False)
class RecheckItem(ImageItem):
    """A notified image fetched again: which target it is, and, when the fetch alone
    decided it (a 404, a vanished host, a timeout), the outcome and why."""

    target: int = -1  # index into the re-check's targets
    outcome: str | None = None  # gone | live | inconclusive; None: the bytes decide
    reason: str | None = None
