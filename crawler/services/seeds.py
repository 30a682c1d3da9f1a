"""Seeds: validate the sites an analyst asks Trawl to crawl, then store them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from crawler.engine.scope import DEFAULT_DEPTH, ScopeError, canonicalize_url
from crawler.errors import TrawlError
from storage.domains import registered_domain

if TYPE_CHECKING:
    from storage.db import Store
    from storage.records import SeedInfo, SeedSpec


class SeedError(TrawlError, ValueError):
    """Seeds that cannot be added; the message lists every problem (nothing was stored)."""


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as stored: stripped, unique, in the order given; refuses empty or comma tags."""
    cleaned: list[str] = []
    for tag in tags:
        value = tag.strip()
        if not value or "," in value:
            raise SeedError(
                f"Tag {tag!r} is not usable: tags must be non-empty and contain no commas. "
                "Pass one --tag per tag."
            )
        if value not in cleaned:
            cleaned.append(value)
    return tuple(cleaned)


def seed_specs(
    urls: Iterable[str],
    *,
    depth: int = DEFAULT_DEPTH,
    max_pages: int | None = None,
    include_subdomains: bool = False,
    obey_robots: bool = True,
    tags: Iterable[str] = (),
) -> list[SeedSpec]:
    """Validate every URL before anything is stored, so one bad URL stores nothing.

    Seeds are kept in canonical form (lowercase host, no fragment or session id) so adding
    the same site twice with a different spelling updates one seed instead of making two.
    """
    from storage.records import SeedSpec

    cleaned = clean_tags(tags)
    specs: list[SeedSpec] = []
    problems: list[str] = []
    for url in urls:
        try:
            canonical = canonicalize_url(url)
        except ScopeError as exc:
            problems.append(str(exc))
            continue
        specs.append(SeedSpec(
            url=canonical, domain=registered_domain(canonical), depth=depth,
            max_pages=max_pages, include_subdomains=include_subdomains,
            obey_robots=obey_robots, tags=cleaned,
        ))
    if problems:
        raise SeedError("\n".join([*problems, "No seeds were added."]))
    return specs


def add_seeds(
    store: Store,
    urls: Iterable[str],
    *,
    depth: int = DEFAULT_DEPTH,
    max_pages: int | None = None,
    include_subdomains: bool = False,
    obey_robots: bool = True,
    tags: Iterable[str] = (),
    actor: str | None = None,
) -> list[SeedInfo]:
    """Validate `urls` (all or nothing) and add them, or update seeds with the same URL;
    audited as `actor` when given (the web app always gives the signed-in person)."""
    from storage.seeds import add_seeds as store_seeds

    return store_seeds(store, seed_specs(
        urls, depth=depth, max_pages=max_pages, include_subdomains=include_subdomains,
        obey_robots=obey_robots, tags=tags,
    ), actor=actor)


def set_seeds_active(store: Store, ids: Iterable[int], *, active: bool,
                     actor: str | None = None) -> list[SeedInfo]:
    """Pause (active=False) or resume seeds; NotFoundError names unknown ids."""
    from storage.seeds import set_seeds_active as store_active

    return store_active(store, list(ids), active=active, actor=actor)


def set_seed_tags(store: Store, seed_id: int, tags: Iterable[str], *,
                  actor: str | None = None) -> SeedInfo:
    """Replace seed `seed_id`'s tags, checked as `trawl seeds add --tag` checks them (none
    clears them); NotFoundError for an unknown id."""
    from storage.seeds import set_seed_tags as store_tags

    return store_tags(store, seed_id, list(clean_tags(tags)), actor=actor)
