"""`trawl worker` (consume a shared Redis frontier) and `trawl workers` (who is working)."""

from __future__ import annotations

import click

from crawler.cli.common import (
    allow_address_option,
    emit,
    format_option,
    opened_store,
    pass_config,
)
from crawler.config import Config

REDIS_ENV = "TRAWL_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_options(func: click.decorators.FC) -> click.decorators.FC:
    """--redis and --redis-prefix, shared by `trawl worker` and `trawl crawl --distributed`."""
    func = click.option(
        "--redis-prefix", default="trawl", show_default=True,
        help="Key prefix of the frontier in Redis (one frontier per prefix).")(func)
    return click.option(
        "--redis", "redis_url", envvar=REDIS_ENV, default=DEFAULT_REDIS_URL, show_default=True,
        help=f"Redis URL of the shared frontier. Env: {REDIS_ENV}.")(func)


@click.command("worker")
@redis_options
@allow_address_option
@click.option("--set", "-s", "set_pairs", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy/Trawl setting, e.g. -s TRAWL_HOST_DELAY=0.5.")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Write Scrapy's log lines to this file.")
@pass_config
def worker_command(config: Config, redis_url: str, redis_prefix: str,
                   set_pairs: tuple[str, ...], log_file: str | None,
                   allow_addresses: tuple[str, ...]) -> None:
    """Crawl from the shared frontier until stopped (Ctrl-C or SIGTERM).

    Run one or more per machine, all with the same --redis and --db (PostgreSQL for
    several machines). Requests a worker holds when it stops are put back; a worker that
    dies holding some has them re-queued by the others after TRAWL_WORKER_TTL seconds.
    Each crawl reaches the internal addresses it was queued with (`trawl crawl
    --distributed --allow-address`); a worker's own --allow-address adds to every crawl.
    Example: trawl --db postgresql://trawl@db/trawl worker --redis redis://queue:6379/0
    """
    from pathlib import Path

    from crawler.cli.crawls import crawl_settings
    from crawler.services.workers import run_worker

    settings = crawl_settings(set_pairs, allow_addresses)
    with opened_store(config) as store:
        run_worker(store, redis_url, prefix=redis_prefix, settings=settings,
                   log_file=Path(log_file) if log_file else None, verbose=config.verbose)


@click.command("workers")
@click.option("--all", "include_stopped", is_flag=True,
              help="Also workers that stopped or stopped beating.")
@format_option()
@pass_config
def workers_command(config: Config, include_stopped: bool, fmt: str) -> None:
    """List live workers: host, pid, crawl, requests/s and last heartbeat."""
    from crawler.services.workers import live_workers

    with opened_store(config) as store:
        workers = live_workers(store, include_stopped=include_stopped)
    if not workers and fmt == "table":
        click.echo("No live workers: start some with `trawl worker --redis URL`.")
        return
    rows = [{"id": w.id, "host": w.host, "pid": w.pid, "crawl": w.crawl_id,
             "requests": w.requests, "requests_per_s": round(w.rate, 1),
             "heartbeat": w.heartbeat_at, "stopped": w.stopped_at, "frontier": w.frontier}
            for w in workers]
    columns = ["host", "pid", "crawl", "requests", "requests_per_s", "heartbeat", "frontier"]
    emit(rows, fmt, columns + (["stopped"] if include_stopped else []))


def register(cli: click.Group) -> None:
    cli.add_command(worker_command)
    cli.add_command(workers_command)
