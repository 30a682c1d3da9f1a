"""The re-check spider: fetch notified image URLs again, in memory, to see if they are gone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError
from scrapy.http import Request, Response
from twisted.internet import error as tx_error

from matchers.hashing import hash_image
from matchers.hashtypes import HASH_TYPES
from storage.notices import RecheckOutcome, RecheckResult, RecheckTarget

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from matchers.digests import Digests

GONE_STATUSES = frozenset({404, 410})  # anything else non-2xx is inconclusive (retry later)
# Failures that mean the host or the server is gone, not that the network hiccuped.
GONE_FAILURES: tuple[type[BaseException], ...] = (
    CannotResolveHostError,
    tx_error.DNSLookupError,
    DownloadConnectionRefusedError,
    tx_error.ConnectionRefusedError,
)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def still_matches(digests: Digests, hash_type: str, value: str, recorded_distance: int
                  ) -> tuple[bool, str]:
    """Whether freshly fetched content still matches the known hash, with the reason.

    Perceptual types use the type's default threshold, or the distance the hit was recorded
    at if a list used a looser one; PDQ below its quality threshold does not match, as in
    crawling."""
    kind = HASH_TYPES.get(hash_type)
    fresh = getattr(digests, hash_type, None)
    if not isinstance(fresh, str):
        return False, f"content changed ({digests.status}: no {hash_type} hash)"
    if kind is None or kind.kind == "exact":
        same = fresh == value
        return same, "still matches" if same else f"content changed ({hash_type} differs)"
    if (kind.quality_threshold is not None and digests.pdq_quality is not None
            and hash_type == "pdq" and digests.pdq_quality < kind.quality_threshold):
        return False, f"content changed (pdq quality {digests.pdq_quality})"
    distance = hamming(fresh, value)
    threshold = max(kind.default_threshold, recorded_distance)
    if distance <= threshold:
        return True, f"still matches ({hash_type} distance {distance})"
    return False, f"content changed ({hash_type} distance {distance} > {threshold})"


class RecheckSpider(scrapy.Spider):
    """Fetches each target URL once; results land in `self.results` (hit id, outcome, reason).

    The body is hashed inside the callback and dropped with the response: request meta
    carries only the index of the target, never content (rule 1)."""

    name = "recheck"

    def __init__(self, targets: Sequence[RecheckTarget] = (), max_pixels: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = list(targets)
        self.max_pixels = max_pixels
        self.results: list[RecheckResult] = []

    async def start(self) -> AsyncIterator[Any]:
        max_size = self.settings.getint("TRAWL_MAX_IMAGE_SIZE", 0) if self.settings else 0
        for index, target in enumerate(self.targets):
            meta: dict[str, Any] = {"trawl_target": index, "handle_httpstatus_all": True}
            if max_size:
                meta["download_maxsize"] = max_size
            yield Request(target.media_url, callback=self.parse_media, errback=self.on_error,
                          dont_filter=True, meta=meta)

    def _add(self, hit_id: int, outcome: RecheckOutcome, reason: str) -> None:
        self.results.append(RecheckResult(hit_id, outcome, reason))
        crawler = getattr(self, "crawler", None)
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(f"trawl/recheck/{outcome}")

    def _record(self, target: RecheckTarget, outcome: RecheckOutcome, reason: str) -> None:
        for hit_id, _, _, _ in target.hits:
            self._add(hit_id, outcome, reason)

    def parse_media(self, response: Response) -> None:
        target = self.targets[response.meta["trawl_target"]]
        if response.status in GONE_STATUSES:
            self._record(target, "gone", f"HTTP {response.status}")
            return
        if not 200 <= response.status < 300:
            self._record(target, "inconclusive", f"HTTP {response.status}")
            return
        digests = (hash_image(response.body, max_pixels=self.max_pixels) if self.max_pixels
                   else hash_image(response.body))
        for hit_id, hash_type, value, distance in target.hits:
            matches, reason = still_matches(digests, hash_type, value, distance)
            self._add(hit_id, "live" if matches else "gone", reason)

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        if request is None:
            return
        target = self.targets[request.meta["trawl_target"]]
        if failure.check(*GONE_FAILURES):
            what = ("host name not found" if failure.check(CannotResolveHostError,
                                                           tx_error.DNSLookupError)
                    else "connection refused")
            self._record(target, "gone", what)
        else:
            self._record(target, "inconclusive", type(failure.value).__name__)
