"""Seeds: the sites an analyst asked Trawl to crawl, keyed by URL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import literal, select, update

from storage.audit import append_audit
from storage.db import NotFoundError, dialect_insert, url_key, utcnow
from storage.models import Seed
from storage.records import SeedInfo, SeedSpec

if TYPE_CHECKING:
    from storage.db import Store

__all__ = ["SeedInfo", "SeedSpec", "add_seeds", "list_seeds", "set_seed_tags",
           "set_seeds_active"]


def add_seeds(store: Store, specs: Iterable[SeedSpec], *,
              actor: str | None = None) -> list[SeedInfo]:
    """Add seeds, or update the settings of seeds already known by the same URL (which
    also re-activates them). Returns the stored seeds in the order given; a URL given
    twice keeps its last settings. With `actor`, each seed's change is audited in the
    same transaction.
    """
    latest: dict[str, dict[str, object]] = {}
    order: list[str] = []
    now = utcnow()
    for spec in specs:
        row = _validated(spec)
        key = str(row["url_key"])
        if key not in latest:
            order.append(key)
        latest[key] = row | {"created_at": now, "active": True}
    if not latest:
        return []
    with store.session() as session:
        stmt = dialect_insert(store, Seed.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["url_key"],
            set_={
                name: stmt.excluded[name]
                for name in ("domain", "depth", "max_pages", "include_subdomains",
                             "obey_robots", "tags", "active")
            },
        )
        session.execute(stmt, list(latest.values()))
        rows = {s.url_key: _info(s) for s in session.scalars(
            select(Seed).where(Seed.url_key.in_(order)))}
        if actor is not None:
            for key in order:
                seed = rows[key]
                append_audit(session, actor=actor, action="add", entity="seed",
                             entity_id=seed.id, to_state="active",
                             detail={"url": seed.url, "depth": seed.depth,
                                     "max_pages": seed.max_pages, "tags": list(seed.tags),
                                     "include_subdomains": seed.include_subdomains,
                                     "obey_robots": seed.obey_robots})
    return [rows[key] for key in order]


def list_seeds(
    store: Store,
    *,
    active_only: bool = False,
    tag: str | None = None,
    ids: Sequence[int] | None = None,
) -> list[SeedInfo]:
    """Seeds by id; `tag` selects seeds carrying that tag, `ids` exactly those seeds."""
    query = select(Seed).order_by(Seed.id)
    if active_only:
        query = query.where(Seed.active.is_(True))
    if tag is not None:
        # tags are stored comma-separated without spaces: match ",tag," in ",a,b,"
        wrapped = literal(",") + Seed.tags + ","
        query = query.where(wrapped.contains(f",{tag.strip()},", autoescape=True))
    if ids is not None:
        query = query.where(Seed.id.in_(list(ids)))
    with store.read_session() as session:
        return [_info(s) for s in session.scalars(query)]


def set_seeds_active(store: Store, ids: Sequence[int], *, active: bool,
                     actor: str | None = None) -> list[SeedInfo]:
    """Pause (active=False) or resume seeds; raises NotFoundError naming unknown ids. With
    `actor`, each seed whose state changes is audited in the same transaction."""
    wanted = sorted(set(ids))
    with store.session() as session:
        found = set(session.scalars(select(Seed.id).where(Seed.id.in_(wanted))))
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(
                f"No seed has id {', '.join(map(str, missing))}: list seeds to see their ids."
            )
        before = {seed_id: was for seed_id, was in session.execute(
            select(Seed.id, Seed.active).where(Seed.id.in_(wanted)))}
        session.execute(update(Seed).where(Seed.id.in_(wanted)).values(active=active))
        if actor is not None:
            for seed_id in wanted:
                if before[seed_id] != active:
                    append_audit(session, actor=actor, action="resume" if active else "pause",
                                 entity="seed", entity_id=seed_id,
                                 from_state=_state(before[seed_id]), to_state=_state(active))
        return [_info(s) for s in session.scalars(
            select(Seed).where(Seed.id.in_(wanted)).order_by(Seed.id))]


def set_seed_tags(store: Store, seed_id: int, tags: Sequence[str], *,
                  actor: str | None = None) -> SeedInfo:
    """Replace a seed's tags (an empty list clears them); NotFoundError for an unknown id.
    With `actor`, the change is audited in the same transaction."""
    with store.session() as session:
        seed = session.get(Seed, seed_id)
        if seed is None:
            raise NotFoundError(f"No seed has id {seed_id}: list seeds to see their ids.")
        before, after = seed.tags, _tags_column(tags, seed.url)
        seed.tags = after
        if actor is not None and before != after:
            append_audit(session, actor=actor, action="tag", entity="seed", entity_id=seed_id,
                         detail={"from": [t for t in before.split(",") if t],
                                 "to": [t for t in after.split(",") if t]})
        session.flush()
        return _info(seed)


def _state(active: bool) -> str:
    return "active" if active else "paused"


def _validated(spec: SeedSpec) -> dict[str, object]:
    url = spec.url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"Seed URL {spec.url!r} must start with http:// or https://.")
    if not spec.domain.strip():
        raise ValueError(f"Seed {url} needs its registered domain (e.g. example.org).")
    if spec.depth < 0:
        raise ValueError(f"Seed {url}: depth {spec.depth} must be 0 or more.")
    if spec.max_pages is not None and spec.max_pages < 1:
        raise ValueError(f"Seed {url}: max_pages {spec.max_pages} must be 1 or more.")
    return {
        "url": url,
        "url_key": url_key(url),
        "domain": spec.domain.strip().lower(),
        "depth": spec.depth,
        "max_pages": spec.max_pages,
        "include_subdomains": spec.include_subdomains,
        "obey_robots": spec.obey_robots,
        "tags": _tags_column(spec.tags, url),
    }


def _tags_column(tags: Iterable[str], where: str) -> str:
    """Tags as stored: stripped, unique, comma-separated (so no tag may hold a comma)."""
    kept: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if "," in tag:
            raise ValueError(f"Seed {where}: tag {tag!r} must not contain a comma.")
        if tag and tag not in kept:
            kept.append(tag)
    return ",".join(kept)


def _info(seed: Seed) -> SeedInfo:
    return SeedInfo(
        id=seed.id,
        url=seed.url,
        domain=seed.domain,
        depth=seed.depth,
        max_pages=seed.max_pages,
        include_subdomains=seed.include_subdomains,
        obey_robots=seed.obey_robots,
        active=seed.active,
        tags=tuple(t for t in seed.tags.split(",") if t),
        created_at=seed.created_at,
    )
