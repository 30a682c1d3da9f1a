"""Listing hits with everything a reviewer or a notice needs (URLs, list, label, server)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from storage.models import Hit, KnownHash, KnownList, Media, Observation
from storage.records import HitRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

__all__ = ["PAGE_URLS_PER_HIT", "HitRow", "list_hits", "page_urls_of"]

# A popular image can sit on thousands of pages; a hit row carries the first ones (and
# the total in page_count).
PAGE_URLS_PER_HIT = 50
_IN_CHUNK = 1000


def list_hits(
    store: Store,
    *,
    status: str | Sequence[str] | None = None,
    limit: int | None = None,
    ids: Sequence[int] | None = None,
    newest_first: bool = False,
) -> list[HitRow]:
    """Hits by id (oldest first unless `newest_first`), optionally only those with a
    status (or one of several) or those ids, joined with the image URL, the pages that
    showed it (first seen first), the known list, label and category, and the server IP."""
    query = (
        select(Hit, Media.url, Media.server_ip, Media.sha256, Media.host, KnownHash.value,
               KnownList.name, KnownHash.label, KnownHash.category)
        .join(Media, Media.id == Hit.media_id)
        .join(KnownHash, KnownHash.id == Hit.known_hash_id)
        .join(KnownList, KnownList.id == KnownHash.list_id)
        .order_by(Hit.id.desc() if newest_first else Hit.id)
    )
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        query = query.where(Hit.status.in_(statuses))
    if ids is not None:
        query = query.where(Hit.id.in_(list(ids)))
    if limit is not None:
        query = query.limit(limit)
    with store.read_session() as session:
        rows = session.execute(query).all()
        pages = page_urls_of(session, {row[0].media_id for row in rows})
        result = []
        for hit, media_url, server_ip, sha256, host, value, list_name, label, category in rows:
            urls, count = pages.get(hit.media_id, ((), 0))
            result.append(HitRow(
                id=hit.id, media_url=media_url, page_url=urls[0] if urls else None,
                page_urls=urls, hash_type=hit.hash_type, distance=hit.distance,
                confidence=hit.confidence, tier=hit.tier, list=list_name, label=label,
                category=category, status=hit.status, created_at=hit.created_at,
                updated_at=hit.updated_at, crawl_id=hit.crawl_id, media_id=hit.media_id,
                server_ip=server_ip, known_hash_id=hit.known_hash_id, known_value=value,
                sha256=sha256, host=host, page_count=count, transform=hit.transform,
            ))
        return result


def page_urls_of(
    session: Session, media_ids: Iterable[int], *, per_media: int = PAGE_URLS_PER_HIT
) -> dict[int, tuple[tuple[str, ...], int]]:
    """media id -> (distinct page URLs that showed it, first seen first, at most
    `per_media`; the number of distinct pages in all), over every crawl."""
    ids = sorted(set(media_ids))
    found: dict[int, tuple[list[str], int]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        first_seen = func.min(Observation.seen_at)
        grouped = (
            select(
                Observation.media_id,
                Observation.page_url,
                func.row_number().over(
                    partition_by=Observation.media_id,
                    order_by=(first_seen, func.min(Observation.id)),
                ).label("rank"),
                func.count().over(partition_by=Observation.media_id).label("total"),
            )
            .where(Observation.media_id.in_(chunk))
            .group_by(Observation.media_id, Observation.page_key, Observation.page_url)
            .subquery()
        )
        rows = session.execute(
            select(grouped.c.media_id, grouped.c.page_url, grouped.c.total)
            .where(grouped.c.rank <= per_media)
            .order_by(grouped.c.media_id, grouped.c.rank)
        )
        for media_id, page_url, total in rows:
            urls, _ = found.setdefault(media_id, ([], int(total)))
            urls.append(page_url)
    return {media_id: (tuple(urls), total) for media_id, (urls, total) in found.items()}
