"""The crawl process's memory: crawler.engine.keyset.KeySet (a set of 64-bit keys in one
array: the crawl's per-URL memory), the duplicate filter built on it, and the periodic
malloc_trim."""

from __future__ import annotations

import random
import sys
import tracemalloc

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawler.engine.dupefilter import CompactDupeFilter
from crawler.engine.extensions.malloctrim import MallocTrimExtension, _malloc_trim
from crawler.engine.keyset import KeySet


def test_keyset_behaves_as_a_set_of_ints() -> None:
    rng = random.Random(3)
    keys = [rng.getrandbits(64) - (1 << 63) for _ in range(5000)] + [0, 1, -1, 17, 17]
    keyset, ref = KeySet(), set()
    for key in keys[:3000] + keys[-5:]:
        assert keyset.add(key) == (key not in ref)
        ref.add(key)
    assert len(keyset) == len(ref)
    for key in keys:
        assert (key in keyset) == (key in ref)
    assert "17" not in keyset
    assert KeySet(ref).__len__() == len(ref)


def test_keyset_keeps_the_low_64_bits_of_bigger_keys() -> None:
    keyset = KeySet([(1 << 64) + 5])
    assert 5 in keyset
    assert (1 << 80) + 5 in keyset
    assert 6 not in keyset


def test_keyset_costs_under_25_bytes_a_key() -> None:
    keys = [hash(f"http://img.test/{i}.jpg") for i in range(20000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keyset = KeySet(keys)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(keyset) == 20000
    assert used / 20000 < 25
    assert keyset.nbytes() / 20000 < 25


def test_compact_dupefilter_filters_a_request_seen_before() -> None:
    dupes = CompactDupeFilter()
    assert not dupes.request_seen(Request("http://site.test/a"))
    assert dupes.request_seen(Request("http://site.test/a"))
    assert dupes.request_seen(Request("http://site.test/a#frag"))  # same fingerprint
    assert not dupes.request_seen(Request("http://site.test/b"))
    assert not dupes.request_seen(Request("http://site.test/a", method="POST"))


def test_compact_dupefilter_keeps_no_fingerprint_on_the_request() -> None:
    from scrapy.utils.request import _fingerprint_cache

    request = Request("http://site.test/page?b=2&a=1")
    assert not CompactDupeFilter().request_seen(request)
    assert request not in _fingerprint_cache
    dupes = CompactDupeFilter()
    dupes.request_seen(request)
    assert dupes.request_seen(Request("http://site.test/page?a=1&b=2"))  # canonicalised
    assert not dupes.request_seen(Request("http://site.test/page?b=2&a=1",
                                          meta={"verbatim_url": True}))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_runs_on_glibc() -> None:
    trim = _malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)
    ext = MallocTrimExtension.from_crawler(get_crawler(settings_dict={
        "TRAWL_MALLOC_TRIM_INTERVAL": 10.0}))
    assert ext.interval == 10.0


def test_malloc_trim_off_with_interval_0() -> None:
    with pytest.raises(NotConfigured):
        MallocTrimExtension.from_crawler(get_crawler(settings_dict={
            "TRAWL_MALLOC_TRIM_INTERVAL": 0}))
