"""`trawl crawl` (crawl now, progress on stderr, a summary) and `trawl crawls` (history)."""

from __future__ import annotations

import json
from typing import Any

import click

from crawler.cli.common import (
    allow_address_option,
    emit,
    format_option,
    opened_store,
    pass_config,
    require_actor,
)
from crawler.cli.workers import redis_options
from crawler.config import Config
from crawler.errors import StoppedBySignal, TrawlError
from storage.policy import DEFAULT_TIME_BUDGET_SECONDS

OUTCOMES = ("running", "finished", "failed", "killed", "timeout")


class SettingError(TrawlError, ValueError):
    """A --set NAME=VALUE that is not written that way."""


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SettingError(
                f"Bad --set {pair!r}: write it as NAME=VALUE, e.g. --set JOBDIR=job1.")
        settings[name.strip()] = value
    return settings


def crawl_settings(set_pairs: tuple[str, ...], allow_addresses: tuple[str, ...]) -> dict[str, Any]:
    """The -s NAME=VALUE settings of a crawling command with its address allowance
    (--allow-address, TRAWL_ALLOW_ADDRESSES, and -s TRAWL_ALLOW_ADDRESSES, all checked)."""
    from crawler.services.addresses import address_settings

    settings = _parse_settings(set_pairs)
    given = str(settings.pop("TRAWL_ALLOW_ADDRESSES", "") or "")
    settings.update(address_settings([*allow_addresses, *([given] if given else [])]))
    return settings


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
@click.option("--time-budget", type=click.FloatRange(min=0), default=DEFAULT_TIME_BUDGET_SECONDS,
              show_default=True,
              help="Stop the crawl after this many seconds (outcome: timeout), like a "
              "scheduled crawl's budget; 0 for no limit.")
@click.option("--max-image-size", type=click.IntRange(1), default=None,
              help="Largest image download in bytes (default 20 MiB); larger ones are skipped.")
@allow_address_option
@click.option("--set", "-s", "set_pairs", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy/Trawl setting, e.g. -s TRAWL_HASH_WORKERS=2 or -s JOBDIR=dir.")
@click.option("--progress/--no-progress", default=True, help="Progress lines on stderr.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
              help="Level of Scrapy's log lines (shown with trawl -v).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Summary format.")
@click.option("--distributed", is_flag=True,
              help="Queue the crawl in the shared Redis frontier for `trawl worker` processes "
              "instead of crawling here.")
@click.option("--wait", is_flag=True, help="With --distributed: wait until the crawl ends.")
@redis_options
@pass_config
def crawl(
    config: Config, urls: tuple[str, ...], seed_ids: tuple[int, ...], tag: str | None,
    schedule_id: int | None, crawl_id: int | None, depth: int | None, max_pages: int | None,
    time_budget: float | None, max_image_size: int | None, allow_addresses: tuple[str, ...],
    set_pairs: tuple[str, ...], progress: bool, log_level: str, fmt: str, distributed: bool,
    wait: bool, redis_url: str, redis_prefix: str,
) -> None:
    """Crawl URLs (ad-hoc seeds) and/or stored seeds; with neither, every active seed."""
    from crawler.services.crawls import build_plans, run_crawl, select_seeds

    settings = crawl_settings(set_pairs, allow_addresses)
    settings.setdefault("LOG_LEVEL", log_level)
    if depth is not None:
        settings["TRAWL_DEFAULT_DEPTH"] = depth
    if max_pages is not None:
        settings["TRAWL_MAX_PAGES"] = max_pages
    if max_image_size is not None:
        settings["TRAWL_MAX_IMAGE_SIZE"] = max_image_size
    with opened_store(config) as store:
        seeds = (select_seeds(store, seed_ids=seed_ids, tag=tag, depth=depth,
                              max_pages=max_pages)
                 if seed_ids or tag or not urls else [])
        build_plans(seeds, list(urls))  # fail on a bad URL before a crawl row exists
        if distributed:
            _distributed(store, seeds, urls, crawl_id=crawl_id, schedule_id=schedule_id,
                         time_budget=time_budget, settings=settings, wait=wait,
                         redis_url=redis_url, prefix=redis_prefix, fmt=fmt)
            return
        summary = run_crawl(
            store, seeds=seeds, urls=list(urls), crawl_id=crawl_id, schedule_id=schedule_id,
            time_budget=time_budget or None, settings=settings, progress=progress,
            verbose=config.verbose,
        )
    counts = {k: getattr(summary, k) for k in ("pages", "images", "hashed", "hits", "errors")}
    if fmt == "json":
        row = {"crawl_id": summary.crawl_id, "outcome": summary.outcome, "reason": summary.reason,
               **counts, "duration": round(summary.duration, 3),
               "start_failures": summary.start_failures, "stats": summary.stats}
        click.echo(json.dumps(row, indent=2))
    else:
        text = ", ".join(f"{v} {k}" for k, v in counts.items())
        click.echo(f"Crawl {summary.crawl_id} {summary.outcome} in {summary.duration:.1f}s: "
                   f"{text}.")
    if summary.outcome == "failed":
        raise TrawlError(summary.reason or "The crawl failed; see its log.")
    if summary.outcome == "killed":
        raise StoppedBySignal("The crawl was stopped by a signal; what it found is recorded.")


def _distributed(store: Any, seeds: Any, urls: tuple[str, ...], *, crawl_id: int | None,
                 schedule_id: int | None, time_budget: float | None, settings: dict[str, Any],
                 wait: bool, redis_url: str, prefix: str, fmt: str) -> None:
    from crawler.services.workers import enqueue_distributed_crawl, wait_for_crawl

    crawl_id = enqueue_distributed_crawl(
        store, redis_url, seeds=seeds, urls=list(urls), crawl_id=crawl_id,
        schedule_id=schedule_id, time_budget=time_budget, settings=settings, prefix=prefix)
    if not wait:
        if fmt == "json":
            click.echo(json.dumps({"crawl_id": crawl_id, "outcome": "running"}))
        else:
            click.echo(f"Crawl {crawl_id} queued in the frontier; `trawl worker` processes "
                       f"crawl it (see `trawl crawls show {crawl_id}`).")
        return
    info = wait_for_crawl(store, crawl_id)
    counts = {k: getattr(info, k) for k in ("pages", "images", "hashed", "hits", "errors")}
    if fmt == "json":
        click.echo(json.dumps({"crawl_id": crawl_id, "outcome": info.outcome,
                               "reason": info.reason, **counts, "stats": info.stats},
                              indent=2, default=str))
    else:
        text = ", ".join(f"{v} {k}" for k, v in counts.items())
        click.echo(f"Crawl {crawl_id} {info.outcome}: {text}.")
    if info.outcome == "failed":
        raise TrawlError(info.reason or "The crawl failed; see `trawl crawls show`.")


@click.group("crawls")
def crawls_group() -> None:
    """Crawl history: outcome, duration, pages, images, hits, errors and drop reasons."""


@crawls_group.command("list")
@click.option("--seed", "seed_id", type=int, default=None, help="Only crawls of this seed.")
@click.option("--schedule", "schedule_ref", default=None, help="Only crawls of this schedule.")
@click.option("--outcome", type=click.Choice(OUTCOMES), default=None)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@format_option()
@pass_config
def crawls_list(
    config: Config, seed_id: int | None, schedule_ref: str | None, outcome: str | None,
    limit: int, fmt: str,
) -> None:
    """List crawls, newest first."""
    from crawler.services.history import LIST_COLUMNS, crawl_history, crawl_row

    with opened_store(config) as store:
        crawls = crawl_history(store, seed_id=seed_id, schedule_ref=schedule_ref,
                               outcome=outcome, limit=limit)
    emit([crawl_row(c) for c in crawls], fmt, LIST_COLUMNS)


@crawls_group.command("show")
@click.argument("crawl_id", type=int)
@click.option("--trend", "trend_limit", type=click.IntRange(1), default=10, show_default=True,
              help="How many recent crawls of each seed to show.")
@format_option()
@pass_config
def crawls_show(config: Config, crawl_id: int, trend_limit: int, fmt: str) -> None:
    """Show crawl CRAWL_ID: counters, drop and error reasons, and each seed's trend."""
    from crawler.services.history import crawl_report

    with opened_store(config) as store:
        detail = crawl_report(store, crawl_id, trend_limit=trend_limit)
    if fmt == "json":
        emit([detail], fmt)
        return
    _print_detail(detail)


@crawls_group.command("mark-failed")
@click.argument("crawl_id", type=int)
@click.option("--reason", default="its process died", show_default=True,
              help="Why (recorded on the crawl and in the audit trail).")
@pass_config
def mark_failed_command(config: Config, crawl_id: int, reason: str) -> None:
    """Mark running crawl CRAWL_ID failed, so its seeds can be crawled again.

    For a crawl whose process is gone (killed, its machine rebooted) but whose row still
    says running. Trawl also does this by itself for crawls whose process is gone from this
    machine or whose heartbeat stopped. Example: trawl --as alice crawls mark-failed 12
    """
    from storage.crawls import mark_crawl_failed

    actor = require_actor(config)
    with opened_store(config) as store:
        crawl = mark_crawl_failed(store, crawl_id, actor=actor, reason=reason)
    seeds = ", ".join(f"#{s}" for s in crawl.seed_ids) or "none"
    click.echo(f"Crawl {crawl.id} marked failed ({crawl.reason}); its seeds ({seeds}) can be "
               "crawled again.")


def _print_detail(d: dict[str, Any]) -> None:
    from crawler.services.history import TREND_COLUMNS

    click.echo(f"Crawl {d['id']}: {d['outcome']}"
               + (f" (schedule {d['schedule_id']})" if d["schedule_id"] else ""))
    click.echo(f"  started   {d['started_at']:%Y-%m-%d %H:%M:%S} UTC, ran {d['duration']}")
    if d["reason"]:
        click.echo(f"  reason    {d['reason']}")
    click.echo(f"  seeds     {d['seeds'] or '(ad-hoc URLs)'}")
    for url in d["start_urls"][:5]:
        click.echo(f"  start     {url}")
    if len(d["start_urls"]) > 5:
        click.echo(f"  start     ... and {len(d['start_urls']) - 5} more")
    counts = ", ".join(f"{d[k]} {k}" for k in ("pages", "images", "hashed", "hits", "errors"))
    click.echo(f"  counts    {counts}")
    re = d["recrawl"]
    click.echo(f"  recrawl   {re['conditional_requests']} conditional requests, "
               f"{re['not_modified']} not modified; {re['response_bytes']} bytes downloaded")
    headings = {"dropped": "Dropped", "error_reasons": "Error reasons",
                "image_status": "Image status",
                "address_refused": "Refused addresses (not connected to; --allow-address)"}
    for heading, title in headings.items():
        if d.get(heading):
            click.echo(f"{title}:")
            width = max(len(k) for k in d[heading])
            for key, count in sorted(d[heading].items(), key=lambda kv: (-kv[1], kv[0])):
                click.echo(f"  {key.ljust(width)}  {count}")
    if d.get("workers"):
        click.echo(f"Workers (frontier {d['frontier']}):")
        emit(d["workers"], "table", ("worker_id", "requests", "pages", "images", "hashed",
                                     "hits", "errors"))
    for seed, rows in d["trend"].items():
        click.echo(f"Trend of seed #{seed} (newest first):")
        emit(rows, "table", TREND_COLUMNS)


def register(cli: click.Group) -> None:
    cli.add_command(crawl)
    cli.add_command(crawls_group)
