"""One time limit per image download, retries and redirects included."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest, NotConfigured

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

DEADLINE_META = "trawl_deadline"  # wall-clock time (a float, no content) the image must end by


class ImageDeadlineExceeded(IgnoreRequest):
    """An image download (with its retries and redirects) ran out of its time."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(
            f"the download of {url} took more than {seconds:g}s in all (TRAWL_IMAGE_DEADLINE)"
        )


class ImageDeadlineMiddleware:
    """Why: DOWNLOAD_TIMEOUT bounds one attempt, and a server that trickles a byte at a
    time (slowloris) used it up on every retry: 3 x 30 s per image, and a page may list
    thousands. Here an image request (or a re-check's) gets TRAWL_IMAGE_DEADLINE seconds
    from its first attempt; each attempt's download_timeout is what is left of it, and an
    attempt with nothing left is dropped (counted as trawl/drop/image_deadline)."""

    def __init__(self, deadline: float, default_timeout: float, stats: StatsCollector) -> None:
        self.deadline = deadline
        self.default_timeout = default_timeout
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageDeadlineMiddleware:
        s = crawler.settings
        deadline = s.getfloat("TRAWL_IMAGE_DEADLINE")
        if deadline <= 0:
            raise NotConfigured
        assert crawler.stats is not None
        return cls(deadline, s.getfloat("DOWNLOAD_TIMEOUT"), crawler.stats)

    def process_request(self, request: Request) -> None:
        meta = request.meta
        if meta.get("trawl_kind") != "image" and "trawl_target" not in meta:
            return
        now = time.time()
        ends = float(meta.setdefault(DEADLINE_META, now + self.deadline))
        remaining = ends - now
        if remaining <= 0:
            self.stats.inc_value("trawl/drop/image_deadline")
            raise ImageDeadlineExceeded(request.url, self.deadline)
        meta["download_timeout"] = min(remaining, self.default_timeout)
