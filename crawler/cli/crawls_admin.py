"""`trawl crawls mark-failed ID`: the operator's word that a running crawl's process is dead.

Added to the `crawls` group (crawler/cli/schedule.py) at merge.
"""

from __future__ import annotations

import click

from crawler.cli.common import TrawlError, opened_store, pass_config, require_actor
from crawler.config import Config
from storage.crawls import CrawlEndedError, mark_crawl_failed
from storage.db import NotFoundError


@click.command("mark-failed")
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
    actor = require_actor(config)
    with opened_store(config) as store:
        try:
            crawl = mark_crawl_failed(store, crawl_id, actor=actor, reason=reason)
        except (NotFoundError, CrawlEndedError, ValueError) as exc:
            raise TrawlError(str(exc)) from None
    seeds = ", ".join(f"#{s}" for s in crawl.seed_ids) or "none"
    click.echo(f"Crawl {crawl.id} marked failed ({crawl.reason}); its seeds ({seeds}) can be "
               "crawled again.")
