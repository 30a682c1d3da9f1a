"""A log formatter that names items by URL only: items can hold image bytes in memory."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.logformatter import LogFormatter, LogFormatterResult

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response


def _describe(item: Any) -> str:
    url = getattr(item, "url", None) or getattr(item, "media_url", None)
    return f"{type(item).__name__}({url!r})"


class QuietLogFormatter(LogFormatter):
    """Scrapy's formatter prints whole items; ours prints the item type and URL. The
    "Crawled (200) <GET ...>" line of every response is built only when the log keeps DEBUG
    lines: Scrapy makes the record (referer and all) whatever the log level, and a crawl at
    INFO threw one away per image."""

    def __init__(self, log_crawled: bool = True) -> None:
        self.log_crawled = log_crawled

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QuietLogFormatter:
        s = crawler.settings
        level = s.get("LOG_LEVEL")
        if isinstance(level, str):
            level = logging.getLevelName(level.upper())
        debug = not isinstance(level, int) or level <= logging.DEBUG
        return cls(log_crawled=s.getbool("LOG_ENABLED") and debug)

    def crawled(  # type: ignore[override]  # Scrapy documents None as "do not log"
        self, request: Request, response: Response, spider: Spider
    ) -> LogFormatterResult | None:
        if not self.log_crawled:
            return None
        return super().crawled(request, response, spider)

    def scraped(  # type: ignore[override]  # Scrapy documents None as "do not log"
        self, item: Any, response: Any, spider: Any
    ) -> LogFormatterResult | None:
        return None

    def dropped(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": logging.INFO,
            "msg": "Dropped %(item)s: %(exception)s",
            "args": {"item": _describe(item), "exception": exception},
        }

    def item_error(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": logging.ERROR,
            "msg": "Error processing %(item)s",
            "args": {"item": _describe(item)},
        }


# Loggers whose tracebacks say nothing the stats do not (an unreachable host's robots.txt).
TRACEBACK_FREE_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt",)


class _OneLine(logging.Filter):
    """Keep the record, drop its traceback: the exception's message is added to the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            message, reason = record.getMessage(), str(record.exc_info[1])
            record.msg = message if reason in message else f"{message}: {reason}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def one_line_errors(names: tuple[str, ...] = TRACEBACK_FREE_LOGGERS) -> None:
    """Log these loggers' errors as single lines on the console (idempotent)."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, _OneLine) for f in target.filters):
            target.addFilter(_OneLine())
