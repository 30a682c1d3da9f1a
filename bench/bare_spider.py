"""The baseline for bench_crawl.py: a bare Scrapy spider that only downloads pages and images.

Same site, same concurrency as `trawl crawl`, no hashing, no database. Prints one JSON line
with its Scrapy stats. Usage: python3 bench/bare_spider.py START_URL [CONCURRENT_REQUESTS
[CONCURRENT_ITEMS [polite]]] (Scrapy's default CONCURRENT_ITEMS, 100, unless given).

Plain Scrapy 2.19 starts every request queued for a host at once (up to CONCURRENT_REQUESTS
in flight to one host, against its per-host limit of 8: see crawler/engine/downloader.py);
`polite` gives it Trawl's PoliteDownloader, which holds the host to 8 as `trawl crawl` does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Request, Response


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, start: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start]
        self.host = urlsplit(start).netloc
        self.images = 0
        self.image_bytes = 0

    def parse(self, response: Response) -> Iterator[Request]:
        for src in response.css("img::attr(src)").getall():
            yield response.follow(src, callback=self.image)
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if urlsplit(url).netloc == self.host:
                yield Request(url, callback=self.parse)

    def image(self, response: Response) -> None:
        self.images += 1
        self.image_bytes += len(response.body)


def main() -> None:
    start = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    items = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    polite = len(sys.argv) > 4 and sys.argv[4] == "polite"
    process = CrawlerProcess(
        {
            **({"DOWNLOADER": "crawler.engine.downloader.PoliteDownloader"} if polite else {}),
            "LOG_LEVEL": "WARNING",
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "COOKIES_ENABLED": False,
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
            "CONCURRENT_ITEMS": items,
            "STATS_DUMP": False,
        }
    )
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, start=start)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    print(
        json.dumps(
            {
                "images": getattr(spider, "images", 0),
                "image_bytes": getattr(spider, "image_bytes", 0),
                "pages": stats.get("response_received_count", 0) - getattr(spider, "images", 0),
                "elapsed": stats.get("elapsed_time_seconds"),
            }
        )
    )


if __name__ == "__main__":
    main()
