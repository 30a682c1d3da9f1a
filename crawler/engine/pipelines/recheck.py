"""Decide a re-check: are the bytes at a notified URL still the image that was reported?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawler.engine.context import matcher_for
from crawler.engine.items import RecheckItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from matchers.decision import Matcher
    from storage.notices import RecheckResult, RecheckTarget


def describe(match: Any) -> str:
    after = f" after {match.transform}" if match.transform else ""
    return f"{match.hash_type} distance {match.distance}{after}"


class RecheckPipeline:
    """Runs after HashPipeline (which hashed the bytes off the reactor, as in a crawl) and
    asks the same matcher the crawl uses whether they still match one of the known hashes
    the image was reported for: orientations, quality gate and thresholds included."""

    def __init__(self, crawler: Crawler, stats: StatsCollector) -> None:
        self.crawler = crawler
        self.stats = stats
        self.matcher: Matcher | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecheckPipeline:
        assert crawler.stats is not None
        return cls(crawler, crawler.stats)

    def open_spider(self) -> None:
        self.matcher = matcher_for(self.crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, RecheckItem):
            return item
        spider: Any = self.crawler.spider  # the recheck spider: targets in, results out
        target: RecheckTarget = spider.targets[item.target]
        outcome, reason = item.outcome, item.reason
        if outcome is None:
            outcome, reason = self._decide(item, target)
        result = self._result(target.hit_id, outcome, reason or outcome)
        spider.results.append(result)
        self.stats.inc_value(f"trawl/recheck/{outcome}")
        return item

    def _decide(self, item: RecheckItem, target: RecheckTarget) -> tuple[str, str]:
        assert self.matcher is not None
        if item.digests is None:
            return "inconclusive", item.error or "nothing was hashed"
        found = self.matcher.match_known(item.digests, target.known_hash_ids)
        if found:
            return "live", f"still matches ({describe(found[0])})"
        return "gone", (f"content changed: matches none of its {len(target.known_hash_ids)} "
                        f"known hash(es) any more ({item.digests.status})")

    @staticmethod
    def _result(hit_id: int, outcome: str, reason: str) -> RecheckResult:
        from storage.notices import RecheckResult

        return RecheckResult(hit_id, outcome, reason)  # type: ignore[arg-type]
