"""Scope rules: registered domains (bundled suffix list), canonical URLs, seed scopes, traps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.engine.scope import (
    Frontier,
    ScopeError,
    SeedPlan,
    SeedScope,
    TrapDetector,
    canonicalize_url,
    registered_domain,
)


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("http://www.bbc.co.uk/news", "bbc.co.uk"),
        ("https://a.b.example.com:8443/x", "example.com"),
        ("http://EXAMPLE.COM./", "example.com"),
        ("http://alice.blogspot.com/", "alice.blogspot.com"),  # private suffix: own site
        ("http://127.0.0.1:8000/", "127.0.0.1"),  # an IP is its own domain
        ("http://[::1]:8000/", "::1"),
        ("http://localhost:5000/", "localhost"),
        ("http://a.shop.test/", "shop.test"),  # no public suffix: last two labels
        ("bbc.co.uk", "bbc.co.uk"),  # a bare host works too
    ],
)
def test_registered_domain(url: str, domain: str) -> None:
    assert registered_domain(url) == domain


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/a/./b/../c?b=2&a=1#frag", "http://example.com/a/c?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/", "http://example.com:8080/"),
        ("http://example.com/p?PHPSESSID=abc&id=3", "http://example.com/p?id=3"),
        ("http://example.com/p?id=3&jsessionid=x&SID=y&sessionid=z", "http://example.com/p?id=3"),
        ("http://example.com/p;jsessionid=ABC123?id=3", "http://example.com/p?id=3"),
        ("http://example.com/p?ASPSESSIONIDQQ=1&q=a", "http://example.com/p?q=a"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("  http://example.com/x  ", "http://example.com/x"),
    ],
)
def test_canonicalize_url(url: str, canonical: str) -> None:
    assert canonicalize_url(url) == canonical


def test_canonicalize_remembers_recent_urls_bounded_and_gives_the_same_spelling() -> None:
    from crawler.engine import scope

    scope._CANONICAL.clear()
    url = "HTTP://Example.COM:80/a/./b/../c?b=2&a=1#frag"
    first = canonicalize_url(url)
    assert dict(scope._CANONICAL) == {url: first}
    assert canonicalize_url(url) == first == scope._canonicalize(url)
    for n in range(scope.CANONICAL_MEMO_SIZE + 10):  # emptied when full, never larger
        assert canonicalize_url(f"http://example.com/{n}") == f"http://example.com/{n}"
        assert len(scope._CANONICAL) <= scope.CANONICAL_MEMO_SIZE
    for _ in range(2):  # a rejected URL is not remembered: it raises every time
        with pytest.raises(ScopeError):
            canonicalize_url("ftp://example.com/file")
    assert "ftp://example.com/file" not in scope._CANONICAL


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", "scheme 'ftp' is not supported"),
        ("file:///etc/passwd", "scheme 'file' is not supported"),
        ("example.com", "has no scheme; write it as http://example.com"),
        ("http:///nohost", "has no host name"),
        ("http://example.com:99999/", "Port out of range"),
    ],
)
def test_canonicalize_rejects_uncrawlable_urls(url: str, message: str) -> None:
    with pytest.raises(ScopeError, match=re.escape(message)) as info:
        canonicalize_url(url)
    assert url.strip() in str(info.value) or "Port" in message


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,2}", fullmatch=True),
    st.lists(st.from_regex(r"[A-Za-z0-9._~-]{0,6}", fullmatch=True), max_size=4),
    st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(max_size=5), max_size=3),
)
def test_canonicalize_is_idempotent(scheme: str, host: str, segments: list[str],
                                    query: dict[str, str]) -> None:
    from urllib.parse import urlencode

    url = f"{scheme}://{host}/{'/'.join(segments)}?{urlencode(query)}"
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


def test_seed_scope_without_subdomains_keeps_to_the_host() -> None:
    scope = SeedScope.for_url("http://www.example.com/start")
    assert scope.allows("http://example.com/a")
    assert scope.allows("https://www.example.com/b")  # scheme and www. do not matter
    assert not scope.allows("http://cdn.example.com/c")
    assert not scope.allows("http://example.org/")
    assert not scope.allows("ftp://example.com/")


def test_seed_scope_with_subdomains_keeps_to_the_registered_domain() -> None:
    scope = SeedScope.for_url("http://www.example.co.uk/", include_subdomains=True)
    assert scope.allows("http://img.static.example.co.uk/x")
    assert not scope.allows("http://example.com/")
    assert not scope.allows("http://other.co.uk/")
    ip = SeedScope.for_url("http://127.0.0.1:8000/", include_subdomains=True)
    assert ip.allows("http://127.0.0.1:9999/page")  # same host, other port: same site
    assert not ip.allows("http://127.0.0.2:8000/page")


@pytest.mark.hostile
def test_trap_detector_limits_query_variants_per_path() -> None:
    traps = TrapDetector(max_query_variants=3)
    results = [traps.check(f"http://x.test/cal?month={n}") for n in range(5)]
    assert results == [None, None, None, "trap", "trap"]
    assert traps.check("http://x.test/other?month=1") is None  # another path has its own count


@pytest.mark.hostile
def test_trap_detector_flags_repeated_segments_and_long_urls() -> None:
    traps = TrapDetector(max_segment_repeats=3, max_url_length=100)
    assert traps.check("http://x.test/a/b/a/b/a/b") is None
    assert traps.check("http://x.test/a/b/a/b/a/b/a/b") == "trap"
    assert traps.check("http://x.test/" + "y" * 120) == "url_too_long"


def test_frontier_applies_scope_depth_dedupe_and_page_limits() -> None:
    seeds = [SeedPlan("http://a.test/", depth=2, max_pages=3), SeedPlan("http://b.test/", depth=1)]
    frontier = Frontier(seeds)
    assert frontier.admit(0, "http://a.test/", 0) is None
    assert frontier.admit(0, "http://a.test/", 1) == "seen"
    assert frontier.admit(0, "http://b.test/x", 1) == "off_scope"
    assert frontier.admit(0, "http://a.test/deep", 3) == "depth"
    assert frontier.admit(0, "http://a.test/1", 1) is None
    assert frontier.admit(0, "http://a.test/2", 2) is None
    assert frontier.admit(0, "http://a.test/3", 2) == "page_limit"
    assert frontier.admit(1, "http://b.test/", 0) is None  # each seed has its own limits
    assert frontier.pages == [3, 1]
