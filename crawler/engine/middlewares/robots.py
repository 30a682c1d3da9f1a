"""Scrapy's robots.txt middleware, safe when many requests wait for one host's robots.txt.

Scrapy 2.19's RobotsTxtMiddleware keeps one Deferred per host while robots.txt downloads
and has every waiting request await it through `maybe_deferred_to_future`; under the
asyncio reactor that is Deferred.asFuture, which turns the Deferred's result into None for
whoever comes next. The first waiter gets the parser, every other one gets None, and None
means "no robots.txt: everything allowed". One process crawling a seed rarely has several
requests for a new host at once; a worker taking many requests from a shared frontier
always does (tests/test_workers_crawl.py caught it fetching a disallowed page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.robotstxt import RobotParser

WAIT_POLL_SECONDS = 0.05


class SharedWaitRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Requests that find robots.txt still downloading wait until the parser (or the
    failure, None) is stored, then read it: each of them gets the real answer."""

    async def robot_parser(self, request: Request) -> RobotParser | None:
        netloc = urlparse_cached(request).netloc
        if isinstance(self._parsers.get(netloc), Deferred):
            while isinstance(self._parsers.get(netloc), Deferred):
                await maybe_deferred_to_future(
                    deferLater(reactor, WAIT_POLL_SECONDS, lambda: None))  # type: ignore[arg-type]
            parser = self._parsers[netloc]
            assert not isinstance(parser, Deferred)
            return parser
        return await super().robot_parser(request)
