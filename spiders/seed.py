"""The seed spider: walk each seed's pages within scope and request every image they show."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.engine.extract import extract_refs
from crawler.engine.failures import describe_failure
from crawler.engine.items import ImageItem, ObservationItem
from crawler.engine.keyset import KeySet
from crawler.engine.scope import (
    Frontier,
    ScopeError,
    SeedPlan,
    TrapDetector,
    canonicalize_url,
)
from matchers.sniff import sniff_format

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

IMAGE_PRIORITY = 10  # images of fetched pages before more pages: hits early, little pending


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1")[:1000] if value else None


class SeedSpider(scrapy.Spider):
    """Pages are followed only within their seed's scope and limits (crawler.engine.scope.Frontier);
    images are requested from any host, once per crawl, size-capped per request."""

    name = "seed"

    def __init__(
        self, seeds: list[SeedPlan] | None = None, urls: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        plans = list(seeds or [])
        if urls:  # `scrapy crawl seed -a urls=URL,URL`
            plans += [SeedPlan(url=u.strip()) for u in urls.split(",") if u.strip()]
        self.plans = plans
        self.start_failures: dict[str, str] = {}
        self._images_requested = KeySet()  # hash() of every image URL requested

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SeedSpider:
        spider: SeedSpider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        traps = TrapDetector(
            max_query_variants=s.getint("TRAWL_TRAP_MAX_QUERY_VARIANTS"),
            max_segment_repeats=s.getint("TRAWL_TRAP_MAX_SEGMENT_REPEATS"),
        )
        spider.frontier = Frontier(spider.plans, traps)
        spider.max_image_size = s.getint("TRAWL_MAX_IMAGE_SIZE")
        return spider

    frontier: Frontier
    max_image_size: int

    def _count(self, key: str, n: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, n)

    async def start(self) -> AsyncIterator[Any]:
        for index, plan in enumerate(self.plans):
            try:
                url = canonicalize_url(plan.url)
            except ScopeError as exc:
                self.start_failures[plan.url] = str(exc)
                continue
            reason = self.frontier.admit(index, url, 0)
            if reason is None:
                yield self._page_request(url, index, 0, start=True)

    def _page_request(self, url: str, seed: int, depth: int, *, start: bool = False) -> Request:
        meta: dict[str, Any] = {"trawl_kind": "page", "trawl_seed": seed, "trawl_depth": depth}
        if start:
            meta["trawl_start"] = True
        if not self.plans[seed].obey_robots:
            meta["dont_obey_robotstxt"] = True
        return Request(
            url,
            callback=self.parse_page,
            errback=self.page_failed,
            priority=-depth,
            meta=meta,
        )

    def parse_page(self, response: Response) -> Iterator[Any]:
        self._count("trawl/pages")
        seed = response.meta["trawl_seed"]
        if sniff_format(response.body[:64]) is not None:
            # Image bytes behind a page link (e.g. /view?id=3): hashed by magic bytes.
            raw_referer = response.request.headers.get(b"Referer") if response.request else None
            referer = raw_referer.decode("latin-1") if raw_referer else None
            yield from self._image_response_items(response, page_url=referer)
            return
        if not isinstance(response, TextResponse):
            self._count("trawl/drop/page_not_html")
            return
        refs = extract_refs(response.selector, response.url)
        for key, n in (
            ("trawl/drop/data_uri", refs.data_uris),
            ("trawl/drop/link_limit", refs.dropped_links),
            ("trawl/drop/image_limit", refs.dropped_images),
        ):
            if n:
                self._count(key, n)
        for image_url in refs.images:
            yield from self._image_requests(image_url, response.url, seed)
        depth = response.meta["trawl_depth"] + 1
        for link in refs.links:
            try:
                url = canonicalize_url(link)
            except ScopeError:
                self._count("trawl/drop/bad_url")
                continue
            reason = self.frontier.admit(seed, url, depth)
            if reason is None:
                yield self._page_request(url, seed, depth)
            elif reason != "seen":
                self._count(f"trawl/drop/{reason}")

    def _image_requests(self, raw_url: str, page_url: str, seed: int) -> Iterator[Any]:
        try:
            url = canonicalize_url(raw_url)
        except ScopeError:
            self._count("trawl/drop/bad_image_url")
            return
        key = hash(url)
        if key in self._images_requested:  # fetched once; every other page is an observation
            yield ObservationItem(media_url=url, page_url=page_url)
            return
        self._images_requested.add(key)
        meta: dict[str, Any] = {
            "trawl_kind": "image",
            "trawl_seed": seed,
            "trawl_page": page_url,
            "download_maxsize": self.max_image_size,
        }
        if not self.plans[seed].obey_robots:
            meta["dont_obey_robotstxt"] = True
        yield Request(
            url,
            callback=self.parse_image,
            errback=self.image_failed,
            priority=IMAGE_PRIORITY,
            dont_filter=True,  # deduplicated above; redirect targets must not be filtered
            meta=meta,
        )

    def parse_image(self, response: Response) -> Iterator[ImageItem]:
        yield from self._image_response_items(response, page_url=response.meta.get("trawl_page"))

    def _image_response_items(self, response: Response, page_url: str | None) -> Iterator[Any]:
        redirects = response.meta.get("redirect_urls")
        url = redirects[0] if redirects else response.url
        item = ImageItem(
            url=url,
            page_url=page_url,
            http_status=response.status,
            content_type=_header(response, "Content-Type"),
            etag=_header(response, "ETag"),
            last_modified=_header(response, "Last-Modified"),
            server_ip=str(response.ip_address) if response.ip_address else None,
        )
        if response.status == 304:
            item.fetch_status = "not_modified"
        else:
            item.body = response.body
        yield item

    def image_failed(self, failure: Failure) -> Iterator[ImageItem]:
        request: Request = failure.request  # type: ignore[attr-defined]
        status, error, reason = describe_failure(failure, self.max_image_size)
        if reason in ("address_refused", "deadline"):
            pass  # counted by their middlewares (trawl/address_refused/..., drop/image_deadline)
        elif reason == "too_large":
            self._count("trawl/drop/image_too_large")
        elif reason == "robots":
            self._count("trawl/drop/robots_image")
        else:
            self._count("trawl/errors")
            self._count(f"trawl/errors/image/{reason}")
        redirects = request.meta.get("redirect_urls")
        response = failure.value.response if isinstance(failure.value, HttpError) else None
        yield ImageItem(
            url=redirects[0] if redirects else request.url,
            page_url=request.meta.get("trawl_page"),
            fetch_status=status,
            error=error,
            http_status=response.status if response is not None else None,
            server_ip=str(response.ip_address) if response and response.ip_address else None,
        )

    def page_failed(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        page_cap = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
        _status, error, reason = describe_failure(failure, page_cap)
        if reason in ("robots", "too_large"):
            self._count("trawl/drop/robots" if reason == "robots" else "trawl/drop/page_too_large")
        elif reason not in ("off_scope", "address_refused"):  # counted by their middlewares
            self._count("trawl/errors")
            self._count(f"trawl/errors/page/{reason}")
        if request.meta.get("trawl_start"):
            redirects = request.meta.get("redirect_urls")
            self.start_failures[redirects[0] if redirects else request.url] = error
