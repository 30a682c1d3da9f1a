"""Run one Trawl spider, by name, in this process: settings, Scrapy's CrawlerProcess, stats.

Spiders are found by name through Scrapy's spider loader (SPIDER_MODULES = ["spiders"]), so
`crawler` never imports `spiders`: spiders depend on the engine, not the other way round.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler.engine.context import attach_matcher, attach_store
from crawler.engine.extensions.crawlstats import json_safe_stats
from crawler.engine.extensions.logformatter import one_line_errors
from crawler.engine.scrapystart import cheap_deprecation_lookups
from crawler.gctune import for_crawl, thaw

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from matchers.decision import Matcher
    from storage.db import Store

SETTINGS_MODULE = "crawler.engine.settings"
# Settings an environment variable of the same name may set (below --set / -s values).
ENV_SETTINGS = ("TRAWL_HASH_TIMEOUT",)


def trawl_settings(
    overrides: dict[str, Any] | None = None, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Trawl's hardened settings, then the ENV_SETTINGS found in `environ`, then
    `overrides` on top (command-line priority)."""
    settings = Settings()
    settings.setmodule(SETTINGS_MODULE, priority="project")
    for name in ENV_SETTINGS:
        value = environ.get(name, "").strip()
        if value:
            settings.set(name, value, priority="project")
    settings.update(overrides or {}, priority="cmdline")
    return settings


@dataclass
class SpiderRun:
    """What a spider run left behind: its stats, the spider object, a start-up error."""

    stats: dict[str, Any]
    spider: Any
    startup_error: str | None
    duration: float


def run_spider(
    name: str,
    settings: Settings,
    *,
    store: Store | None = None,
    matcher: Matcher | None = None,
    log_file: Path | None = None,
    verbose: bool = False,
    **spider_args: Any,
) -> SpiderRun:
    """Run spider `name` until it closes; blocks. Once per process (Twisted's reactor
    cannot restart).

    Logging: Scrapy's own lines go to `log_file` (created private, see crawler.files) and,
    with `verbose`, to stderr too; without either only warnings of Trawl's own code reach
    stderr, so a user sees Trawl's messages, not Scrapy's.
    """
    started = time.monotonic()
    _route_logging(settings, log_file, verbose)
    process = CrawlerProcess(settings)
    one_line_errors()
    crawler = process.create_crawler(name)
    if store is not None:
        attach_store(crawler, store)
    if matcher is not None:
        attach_matcher(crawler, matcher)
    startup_errors: list[str] = []

    def crawl_failed(failure: Failure) -> None:
        startup_errors.append(f"the crawl could not run: {failure.getErrorMessage()}")

    with cheap_deprecation_lookups():  # the engine is built here (see scrapystart)
        process.crawl(crawler, **spider_args).addErrback(crawl_failed)
    for_crawl()  # the start is over: the crawl collects its own garbage, not the start's
    # long-lived objects again and again (crawler.gctune)
    try:
        process.start()
    finally:
        thaw()  # the start's objects are the collector's again once the crawl is over
    stats = crawler.stats.get_stats() if getattr(crawler, "_stats", None) is not None else {}
    return SpiderRun(
        stats=json_safe_stats(stats),
        spider=getattr(crawler, "spider", None),
        startup_error=startup_errors[0] if startup_errors else None,
        duration=time.monotonic() - started,
    )


def _route_logging(settings: Settings, log_file: Path | None, verbose: bool) -> None:
    """Where Scrapy's log lines go: stderr with `verbose`, else `log_file`, else nowhere.
    Trawl's own warnings (logger `crawler`) reach stderr in every case."""
    if verbose:
        return
    if log_file is not None:
        settings.set("LOG_FILE", str(log_file), priority="cmdline")
        settings.set("LOG_FILE_APPEND", True, priority="cmdline")
    else:
        settings.set("LOG_ENABLED", False, priority="cmdline")
    own = logging.getLogger("crawler")
    if not any(getattr(h, "_trawl_console", False) for h in own.handlers):
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("trawl: %(levelname)s: %(message)s"))
        console._trawl_console = True  # type: ignore[attr-defined]
        own.addHandler(console)
