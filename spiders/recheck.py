"""The re-check spider: fetch notified image URLs again, in memory, to see if they are gone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.http import Request, Response

from crawler.engine.failures import GONE_REASONS, describe_failure
from crawler.engine.items import RecheckItem

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from storage.notices import RecheckResult, RecheckTarget

GONE_STATUSES = frozenset({404, 410})  # anything else non-2xx is inconclusive (retry later)


class RecheckSpider(scrapy.Spider):
    """Fetches each target URL once and yields what came back; the pipelines hash the bytes
    off the reactor and decide (crawler.engine.pipelines.recheck), appending to
    `self.results`. Request meta carries only the target's index, never content (rule 1)."""

    name = "recheck"

    def __init__(self, targets: Sequence[RecheckTarget] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = list(targets)
        self.results: list[RecheckResult] = []

    async def start(self) -> AsyncIterator[Any]:
        max_size = self.settings.getint("TRAWL_MAX_IMAGE_SIZE", 0) if self.settings else 0
        for index, target in enumerate(self.targets):
            meta: dict[str, Any] = {"trawl_target": index, "handle_httpstatus_all": True}
            if max_size:
                meta["download_maxsize"] = max_size
            yield Request(target.media_url, callback=self.parse_media, errback=self.on_error,
                          dont_filter=True, meta=meta)

    def parse_media(self, response: Response) -> Iterator[RecheckItem]:
        item = RecheckItem(url=self.targets[response.meta["trawl_target"]].media_url,
                           page_url=None, http_status=response.status,
                           target=response.meta["trawl_target"])
        if response.status in GONE_STATUSES:
            item.outcome, item.reason = "gone", f"HTTP {response.status}"
        elif not 200 <= response.status < 300:
            item.outcome, item.reason = "inconclusive", f"HTTP {response.status}"
        else:
            item.body = response.body  # hashed and dropped by HashPipeline
        yield item

    def on_error(self, failure: Failure) -> Iterator[RecheckItem]:
        request = getattr(failure, "request", None)
        if request is None:
            return
        index = request.meta["trawl_target"]
        status, sentence, reason = describe_failure(failure, None)
        outcome = "gone" if reason in GONE_REASONS else "inconclusive"
        yield RecheckItem(url=self.targets[index].media_url, page_url=None,
                          fetch_status=status, error=sentence, target=index,
                          outcome=outcome, reason=sentence)
