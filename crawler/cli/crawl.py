"""`trawl crawl`: crawl URLs or stored seeds now, with progress on stderr and a summary."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import click

from crawler.cli.common import StoppedBySignal, TrawlError, pass_config
from crawler.config import Config

if TYPE_CHECKING:
    from storage.seeds import SeedInfo


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise TrawlError(f"Bad --set {pair!r}: write it as NAME=VALUE, e.g. --set JOBDIR=job1.")
        settings[name.strip()] = value
    return settings


def _load_seeds(
    config: Config, seed_ids: tuple[int, ...], tag: str | None, all_active: bool
) -> list[SeedInfo]:
    from storage.db import StorageError, open_store
    from storage.seeds import list_seeds

    try:
        store = open_store(config.db_url)
    except StorageError as exc:
        raise TrawlError(str(exc)) from None
    try:
        seeds: list[SeedInfo] = []
        if seed_ids:
            seeds += list_seeds(store, ids=list(seed_ids))
            missing = sorted(set(seed_ids) - {s.id for s in seeds})
            if missing:
                raise TrawlError(
                    f"No seed with id {', '.join(map(str, missing))}: "
                    "see `trawl seeds list` for the ids."
                )
        if tag:
            tagged = list_seeds(store, active_only=True, tag=tag)
            if not tagged:
                raise TrawlError(f"No active seed has the tag {tag!r}: see `trawl seeds list`.")
            seeds += [s for s in tagged if s.id not in {x.id for x in seeds}]
        if all_active:
            seeds = list_seeds(store, active_only=True)
        return seeds
    finally:
        store.close()


@click.command("crawl")
@click.argument("urls", nargs=-1)
@click.option("--seed", "seed_ids", type=int, multiple=True, help="Crawl this seed (repeatable).")
@click.option("--tag", default=None, help="Crawl the active seeds with this tag.")
@click.option("--schedule-id", type=int, default=None, help="Record the crawl under a schedule.")
@click.option("--crawl-id", type=int, default=None, help="Record into this (started) crawl row.")
@click.option("--depth", type=click.IntRange(0), default=None,
              help="Link depth (default 3 for URLs; overrides the seeds' own depth).")
@click.option("--max-pages", type=click.IntRange(1), default=None,
              help="Page limit per seed (overrides the seeds' own limit).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop the crawl after this many seconds (outcome: timeout).")
@click.option("--max-image-size", type=click.IntRange(1), default=None,
              help="Largest image download in bytes (default 20 MiB); larger ones are skipped.")
@click.option("--set", "-s", "set_pairs", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy/Trawl setting, e.g. -s TRAWL_HASH_WORKERS=2 or -s JOBDIR=dir.")
@click.option("--progress/--no-progress", default=True, help="Progress lines on stderr.")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Summary format.")
@pass_config
def crawl(
    config: Config, urls: tuple[str, ...], seed_ids: tuple[int, ...], tag: str | None,
    schedule_id: int | None, crawl_id: int | None, depth: int | None, max_pages: int | None,
    time_budget: float | None, max_image_size: int | None, set_pairs: tuple[str, ...],
    progress: bool, log_level: str, fmt: str,
) -> None:
    """Crawl URLs (ad-hoc seeds) and/or stored seeds; with neither, every active seed."""
    from crawler.engine.process import CrawlError, build_plans, run_crawl
    from storage.db import StorageError

    seeds = _load_seeds(config, seed_ids, tag, all_active=not (urls or seed_ids or tag))
    if not urls and not seeds:
        raise TrawlError("Nothing to crawl: give URLs, or add seeds with `trawl seeds add`.")
    if depth is not None or max_pages is not None:
        seeds = [
            dataclasses.replace(
                s,
                depth=s.depth if depth is None else depth,
                max_pages=s.max_pages if max_pages is None else max_pages,
            )
            for s in seeds
        ]
    settings = _parse_settings(set_pairs)
    settings.setdefault("LOG_LEVEL", log_level)
    if depth is not None:
        settings["TRAWL_DEFAULT_DEPTH"] = depth
    if max_pages is not None:
        settings["TRAWL_MAX_PAGES"] = max_pages
    if max_image_size is not None:
        settings["TRAWL_MAX_IMAGE_SIZE"] = max_image_size
    try:
        build_plans(seeds, list(urls))  # fail on a bad URL before a crawl row exists
        summary = run_crawl(
            config.db_url, seeds=seeds, urls=list(urls), crawl_id=crawl_id,
            schedule_id=schedule_id, time_budget=time_budget, settings=settings,
            progress=progress,
        )
    except (CrawlError, StorageError) as exc:
        raise TrawlError(str(exc)) from None
    counts = {k: getattr(summary, k) for k in ("pages", "images", "hashed", "hits", "errors")}
    if fmt == "json":
        row = {"crawl_id": summary.crawl_id, "outcome": summary.outcome, "reason": summary.reason,
               **counts, "duration": round(summary.duration, 3),
               "start_failures": summary.start_failures, "stats": summary.stats}
        click.echo(json.dumps(row, indent=2))
    else:
        text = ", ".join(f"{v} {k}" for k, v in counts.items())
        took = f"{summary.duration:.1f}s"
        click.echo(f"Crawl {summary.crawl_id} {summary.outcome} in {took}: {text}.")
    if summary.outcome == "failed":
        raise TrawlError(summary.reason or "The crawl failed; see the log above.")
    if summary.outcome == "killed":
        raise StoppedBySignal("The crawl was stopped by a signal; what it found is recorded.")


def register(cli: click.Group) -> None:
    """Add `trawl crawl` to the top-level group."""
    cli.add_command(crawl)
