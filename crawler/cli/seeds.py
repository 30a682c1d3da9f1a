"""`trawl seeds`: add the sites to crawl (validated, scoped by registered domain) and list them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from crawler.cli.common import emit, format_option, opened_store, pass_config, rows_of
from crawler.config import Config
from crawler.engine.scope import DEFAULT_DEPTH

if TYPE_CHECKING:
    from storage.records import SeedInfo

SEED_COLUMNS = (
    "id", "url", "domain", "depth", "max_pages", "include_subdomains", "obey_robots",
    "active", "tags",
)


def show_seeds(seeds: Sequence[SeedInfo], fmt: str) -> None:
    """JSON keeps tags as a list; a table shows them comma-separated."""
    rows: list[Any] = list(seeds)
    if fmt == "table":
        rows = [{**row, "tags": ",".join(row["tags"])} for row in rows_of(seeds)]
    emit(rows, fmt, SEED_COLUMNS)


@click.group("seeds")
def seeds_group() -> None:
    """Manage seed sites: the sites a crawl walks (within their registered domain)."""


@seeds_group.command("add")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("--depth", type=click.IntRange(min=0), default=DEFAULT_DEPTH, show_default=True,
              help="How many links deep to follow from the seed page.")
@click.option("--max-pages", type=click.IntRange(min=1), default=None,
              help="Stop after this many pages of the seed (default: no limit).")
@click.option("--include-subdomains", is_flag=True,
              help="Also crawl other hosts under the seed's registered domain.")
@click.option("--ignore-robots", is_flag=True,
              help="Do not obey robots.txt for this seed (hotline policy decides).")
@click.option("--tag", "tags", multiple=True, help="Label seeds for selection (repeatable).")
@format_option()
@pass_config
def add_command(
    config: Config, urls: tuple[str, ...], depth: int, max_pages: int | None,
    include_subdomains: bool, ignore_robots: bool, tags: tuple[str, ...], fmt: str,
) -> None:
    """Add or update seeds (http/https URLs); prints the stored seeds.

    Example: trawl seeds add https://example.org/ --depth 2 --tag forum
    """
    from crawler.services.seeds import add_seeds, seed_specs

    seed_specs(urls, tags=tags)  # every URL and tag checked before the database is opened
    with opened_store(config) as store:
        stored = add_seeds(store, urls, depth=depth, max_pages=max_pages,
                           include_subdomains=include_subdomains,
                           obey_robots=not ignore_robots, tags=tags, actor=config.actor)
    show_seeds(stored, fmt)


@seeds_group.command("list")
@click.option("--active", "active_only", is_flag=True, help="Only seeds that are not paused.")
@click.option("--tag", default=None, help="Only seeds with this tag.")
@format_option()
@pass_config
def list_command(config: Config, active_only: bool, tag: str | None, fmt: str) -> None:
    """List seeds.

    Example: trawl seeds list --tag forum --format json
    """
    from storage.seeds import list_seeds

    with opened_store(config) as store:
        rows = list_seeds(store, active_only=active_only, tag=tag)
    show_seeds(rows, fmt)


def _set_active(config: Config, ids: tuple[int, ...], active: bool, fmt: str) -> None:
    from crawler.services.seeds import set_seeds_active

    with opened_store(config) as store:
        changed = set_seeds_active(store, ids, active=active, actor=config.actor)
    show_seeds(changed, fmt)


@seeds_group.command("pause")
@click.argument("ids", nargs=-1, required=True, type=int, metavar="ID...")
@format_option()
@pass_config
def pause_command(config: Config, ids: tuple[int, ...], fmt: str) -> None:
    """Pause seeds: schedules and `trawl crawl --tag` skip them until resumed.

    Example: trawl seeds pause 3 4
    """
    _set_active(config, ids, False, fmt)


@seeds_group.command("resume")
@click.argument("ids", nargs=-1, required=True, type=int, metavar="ID...")
@format_option()
@pass_config
def resume_command(config: Config, ids: tuple[int, ...], fmt: str) -> None:
    """Resume paused seeds.

    Example: trawl seeds resume 3
    """
    _set_active(config, ids, True, fmt)


@seeds_group.command("tag")
@click.argument("seed_id", type=int, metavar="ID")
@click.option("--tag", "tags", multiple=True,
              help="A tag (repeatable); the seed's tags become exactly these. None: clear.")
@format_option()
@pass_config
def tag_command(config: Config, seed_id: int, tags: tuple[str, ...], fmt: str) -> None:
    """Replace seed ID's tags.

    Example: trawl seeds tag 3 --tag forum --tag uk
    """
    from crawler.services.seeds import set_seed_tags

    with opened_store(config) as store:
        changed = set_seed_tags(store, seed_id, tags, actor=config.actor)
    show_seeds([changed], fmt)


def register(cli: click.Group) -> None:
    cli.add_command(seeds_group)
