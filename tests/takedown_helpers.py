"""Test helpers for review and takedown: a store, and hits recorded through the real schema."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from storage.db import Store, open_store
from storage.models import AuditEvent, Hit, HitMatch, KnownHash, KnownList, Media, Observation

T0 = datetime(2024, 5, 1, 12, 0, 0)  # fixed clock for tests that move time with `now=`


@dataclass(frozen=True)
class HitSpec:
    media_url: str
    page_urls: Sequence[str] = ("http://site.test/index.html",)
    hash_type: str = "sha256"
    server_ip: str | None = "127.0.0.1"
    distance: int = 0
    label: str | None = "series-a"
    category: str | None = "A1"
    list_name: str = "test-list"
    known_value: str | None = None  # default: made up from the URL
    sha256: str | None = None  # the media's digest; default: made up from the URL


def make_store(url: str) -> Store:
    return open_store(url)


def add_hits(store: Store, specs: Sequence[HitSpec], *, at: datetime = T0) -> list[int]:
    """Media, observations, known hashes and pending hits (one match each), written the way
    a crawl leaves them."""
    ids: list[int] = []
    with store.session() as s:
        for n, spec in enumerate(specs):
            lst = s.scalars(sa.select(KnownList).where(KnownList.name == spec.list_name)).first()
            if lst is None:
                lst = KnownList(name=spec.list_name, format="csv", imported_at=at)
                s.add(lst)
                s.flush()
            digest = spec.sha256 or hashlib.sha256(spec.media_url.encode()).hexdigest()
            value = spec.known_value or (digest if spec.hash_type == "sha256"
                                         else f"{n + 1:016x}")
            known = KnownHash(list_id=lst.id, hash_type=spec.hash_type, value=value,
                              label=spec.label, category=spec.category)
            media = Media(
                url=spec.media_url, url_key=hashlib.sha256(spec.media_url.encode()).hexdigest(),
                host=urlsplit(spec.media_url).hostname,
                content_type="image/png", format="png", size=100 + n, width=8, height=8,
                md5=hashlib.md5(digest.encode()).hexdigest(),
                sha1=hashlib.sha1(digest.encode()).hexdigest(), sha256=digest,
                phash=f"{n + 1:016x}", server_ip=spec.server_ip, fetch_status="ok",
                first_seen=at, last_seen=at + timedelta(hours=1),
            )
            s.add_all([known, media])
            s.flush()
            for k, page in enumerate(spec.page_urls):
                s.add(Observation(media_id=media.id, page_url=page,
                                  page_key=hashlib.sha256(page.encode()).hexdigest(),
                                  seen_at=at + timedelta(minutes=k)))
            hit = Hit(media_id=media.id, confidence=1.0, tier="high", status="pending",
                      created_at=at + timedelta(seconds=n), updated_at=at, vote_floor=0)
            s.add(hit)
            s.flush()
            s.add(HitMatch(hit_id=hit.id, known_hash_id=known.id, hash_type=spec.hash_type,
                           distance=spec.distance, threshold=0 if spec.distance == 0 else 31,
                           confidence=1.0, tier="high", found_at=at))
            ids.append(hit.id)
    return ids


def audit_rows(store: Store) -> list[tuple[Any, ...]]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(
            sa.select(AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action,
                      AuditEvent.entity, AuditEvent.entity_id, AuditEvent.from_state,
                      AuditEvent.to_state, AuditEvent.detail).order_by(AuditEvent.id))]


def hit_status(store: Store, hit_id: int) -> str:
    with store.session() as s:
        return str(s.scalar(sa.select(Hit.status).where(Hit.id == hit_id)))
