"""The worker spider: the seed spider's rules, fed by the shared frontier of `trawl worker`.

It walks pages and requests images exactly as the seed spider does (scope, depth, traps,
robots, size caps), for every crawl in the frontier at once: a request's seed is
(crawl id, seed index). What the seed spider decides in memory and must be shared by all
workers (a URL already seen, query-variant traps, page limits) is decided when a request
is admitted to the frontier (crawler.engine.distributed.scheduler). Every callback's
output is tracked, so the request's lease is released only once its results are stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request, Response

from crawler.engine.distributed.context import CrawlPlans, WorkerContext, worker_context
from crawler.engine.items import ObservationItem
from crawler.engine.scope import Frontier, ScopeError, SeedScope, TrapDetector, canonicalize_url
from spiders.seed import IMAGE_PRIORITY, SeedSpider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure


class LocalRules(Frontier):
    """The page rules one worker can decide alone: scope, depth, path traps, URL length.
    `seen`, query-variant traps and page limits are the frontier's (shared) decisions."""

    def __init__(self, plans: CrawlPlans, traps: TrapDetector) -> None:
        self.seeds = plans  # type: ignore[assignment]  # mapping (crawl, index) -> plan
        self.plans = plans
        self.traps = traps
        self._scopes: dict[tuple[int, int], SeedScope] = {}

    def _scope(self, seed: Any) -> SeedScope:
        scope = self._scopes.get(seed)
        if scope is None:
            plan = self.plans[seed]
            scope = SeedScope.for_url(plan.url, include_subdomains=plan.include_subdomains)
            self._scopes[seed] = scope
        return scope

    def in_scope(self, seed: Any, url: str) -> bool:
        return self._scope(seed).allows(url)

    def admit(self, seed: Any, url: str, depth: int) -> str | None:
        if not self._scope(seed).allows(url):
            return "off_scope"
        if depth > self.plans[seed].depth:
            return "depth"
        return self.traps.check(url.split("?", 1)[0]) or (
            "url_too_long" if len(url) > self.traps.max_url_length else None)


class WorkerSpider(SeedSpider):
    name = "worker"

    context: WorkerContext

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(seeds=[], **kwargs)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> WorkerSpider:
        spider: WorkerSpider = super().from_crawler(crawler, *args, **kwargs)  # type: ignore[assignment]
        spider.context = worker_context(crawler)
        plans = CrawlPlans(spider.context)
        spider.plans = plans  # type: ignore[assignment]
        spider.frontier = LocalRules(plans, spider.frontier.traps)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        """No start URLs: every request comes from the shared frontier."""
        return
        yield  # an async generator that yields nothing

    def idle(self) -> None:
        raise DontCloseSpider("a worker waits for the frontier")

    # --- every callback's output is tracked against its lease --------------------------
    def parse_page(self, response: Response) -> Iterator[Any]:
        held = self.context.tracker.of_meta(response.meta)
        if held is not None:
            held.count("pages")
        return self.context.tracker.track(held, super().parse_page(response))

    def parse_image(self, response: Response) -> Iterator[Any]:
        held = self.context.tracker.of_meta(response.meta)
        return self.context.tracker.track(held, super().parse_image(response))

    def image_failed(self, failure: Failure) -> Iterator[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        held = self.context.tracker.of_meta(request.meta)
        before = self._errors()
        output = list(super().image_failed(failure))
        if held is not None:
            held.count("errors", self._errors() - before)
        return self.context.tracker.track(held, output)

    def page_failed(self, failure: Failure) -> Iterator[Any]:  # type: ignore[override]
        request: Request = failure.request  # type: ignore[attr-defined]
        held = self.context.tracker.of_meta(request.meta)
        before = self._errors()
        super().page_failed(failure)
        self.start_failures.clear()  # a crawl's outcome is decided from its counters here
        if held is not None:
            held.count("errors", self._errors() - before)
        return self.context.tracker.track(held, ())

    def _errors(self) -> int:
        assert self.crawler.stats is not None
        return int(self.crawler.stats.get_value("trawl/errors", 0))

    def _image_requests(self, raw_url: str, page_url: str, seed: Any) -> Iterator[Any]:
        """Every page showing an image is an observation; the frontier fetches the image
        once per crawl (its admission drops the request when the crawl has seen it)."""
        try:
            url = canonicalize_url(raw_url)
        except ScopeError:
            self._count("trawl/drop/bad_image_url")
            return
        yield ObservationItem(media_url=url, page_url=page_url)
        crawl = self.context.crawl(seed[0])
        meta: dict[str, Any] = {
            "trawl_kind": "image",
            "trawl_seed": seed,
            "trawl_page": page_url,
            "download_maxsize": crawl.max_image_size or self.max_image_size,
        }
        if not self.plans[seed].obey_robots:
            meta["dont_obey_robotstxt"] = True
        yield Request(url, callback=self.parse_image, errback=self.image_failed,
                      priority=IMAGE_PRIORITY, dont_filter=True, meta=meta)
