"""Scrapy's duplicate filter with its fingerprints kept compactly (crawler.engine.keyset)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.dupefilters import RFPDupeFilter
from w3lib.url import canonicalize_url

from crawler.engine.keyset import KeySet

if TYPE_CHECKING:
    from scrapy import Request


def _key(fingerprint: bytes) -> int:
    return int.from_bytes(fingerprint[:8], "big", signed=True)


class CompactDupeFilter(RFPDupeFilter):
    """RFPDupeFilter remembering a 64-bit key per request in a KeySet: ~16 bytes a request
    instead of ~100 (a 20-byte bytes object in a set). Only page requests reach it (image
    requests are deduplicated by the spider and marked dont_filter), so this is what a
    crawl keeps per page URL, redirect targets included.

    The key is hash() of what Scrapy's default fingerprint is made of (method, the URL
    canonicalised by w3lib without its fragment, or verbatim with meta verbatim_url, and
    the body), so the same requests are duplicates; unlike the fingerprinter it is not
    cached on the request (Scrapy keeps that cache, ~450 bytes, for as long as the request
    waits in the scheduler: every page of a wide site at once). Two pages whose keys
    collide are one page (~1 in 10^7 at 1M pages). With a JOBDIR the fingerprints are
    Scrapy's, kept as their first 8 bytes, so requests.seen stays readable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A JOBDIR's requests.seen was read into the base class's set: keep it as keys.
        self._keys = KeySet(_key(fp) for fp in self._fingerprints)
        self._fingerprints.clear()

    def request_seen(self, request: Request) -> bool:
        if self.file:  # a JOBDIR: Scrapy's fingerprints, written as Scrapy writes them
            fingerprint = self._fingerprint(request)
            if not self._keys.add(_key(fingerprint)):
                return True
            self.file.write(len(fingerprint).to_bytes(2, "big") + fingerprint)
            return False
        return not self._keys.add(request_key(request))


def request_key(request: Request) -> int:
    """hash() of the parts of Scrapy's default request fingerprint (no headers)."""
    url = (request.url if request.meta.get("verbatim_url")
           else canonicalize_url(request.url, keep_fragments=False))
    return hash((request.method, url, request.body or b""))
