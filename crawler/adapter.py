"""The one adapter between matchers and storage: digests <-> media rows, matches -> stored
matches, and the matcher built from the known lists.

Crawl pipelines, rematch and recheck all go through here, so the mapping between
`matchers.digests.Digests` and the database's media columns is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from matchers.digests import (
    Digests,
    DigestStatus,
    format_dihedral,
    format_variants,
    parse_dihedral,
    parse_variants,
)
from storage.records import DIGEST_FIELDS, MatchIn, MediaRecord

if TYPE_CHECKING:
    from matchers.decision import Matcher
    from matchers.match import Match
    from storage.db import Store

# Statuses a stored media row can carry that describe its digests (the others describe a
# failed fetch, whose row keeps the digests of an earlier successful one).
_DIGEST_STATUSES: tuple[DigestStatus, ...] = (
    "ok", "unsupported", "undecodable", "too_large", "timeout",
)


def media_record(
    url: str,
    digests: Digests | None,
    *,
    fetch_status: str = "ok",
    error: str | None = None,
    content_type: str | None = None,
    server_ip: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> MediaRecord:
    """The media row for one fetched (or failed) image URL; digest fields stay None when
    nothing was hashed. A fetch that delivered bytes takes the status of their digests."""
    status = fetch_status
    if status in ("ok", "not_modified"):
        status = digests.status if digests is not None else "error"
    kept: dict[str, Any] = {}
    if digests is not None:
        kept = {name: getattr(digests, name, None) for name in DIGEST_FIELDS}
        kept["pdq_dihedral"] = format_dihedral(digests.pdq_dihedral)
        kept["variant_hashes"] = format_variants(digests.variants)
    return MediaRecord(
        url=url, host=urlsplit(url).hostname, content_type=content_type, server_ip=server_ip,
        etag=etag, last_modified=last_modified, fetch_status=status,
        error=error or (digests.error if digests else None), **kept,
    )


def digests_of(row: Any) -> Digests | None:
    """The digests a stored media row holds (MediaInfo, MediaDigestRow, ...), as the matcher
    takes them; None for a URL that was never hashed (a failed fetch keeps its row but has
    nothing to match). Size and flatness come along: the decision grades perceptual
    matches by image class (icons, tiny images and flat graphics collide)."""
    if not (row.md5 and row.sha1 and row.sha256):
        return None
    stored = getattr(row, "fetch_status", None)
    if stored in _DIGEST_STATUSES:
        status = cast("DigestStatus", stored)
    else:  # a later failed fetch, or a row without a status: judge by what was hashed
        decoded = row.phash is not None or row.pdq is not None or row.dhash is not None
        status = "ok" if decoded else "undecodable"
    values: dict[str, Any] = {name: getattr(row, name, None) for name in DIGEST_FIELDS}
    values["size"] = values["size"] or 0
    values["frames"] = values["frames"] or 1
    values["pdq_dihedral"] = parse_dihedral(values["pdq_dihedral"])
    values["variants"] = parse_variants(values.pop("variant_hashes"))
    return Digests(status=status, **values)


def stored_match(match: Match) -> MatchIn:
    """What storage keeps of one match as evidence of its image's hit (crawl, rematch and
    recheck alike)."""
    return MatchIn(
        known_hash_id=match.known_id,
        hash_type=match.hash_type,
        distance=match.distance,
        threshold=match.threshold,
        confidence=match.confidence,
        tier=match.tier,
        transform=match.transform,
    )


def build_matcher(store: Store, *, thresholds: Mapping[str, int] | None = None) -> Matcher:
    """The matcher over every known hash in the database (all lists), as crawl, rematch
    and recheck use it: memory-mapped from the index file built when the lists last
    changed (crawler.index_cache), rebuilt first if they changed since."""
    from crawler.index_cache import index_dir_for, load_or_build_matcher

    return load_or_build_matcher(store, index_dir_for(store), thresholds)
