"""Host names and registered domains, with one Public Suffix List reading for all of Trawl.

The list is the snapshot bundled with tldextract; it is never fetched over the network.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import tldextract


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    import tldextract

    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def preload() -> None:
    """Load the Public Suffix List now (a second or more) instead of in the first request
    or crawl step that needs a registered domain: a server calls it as it starts.

    tldextract reads the list and builds its tries only at the first look-up (~0.35 s
    here), not when the extractor is made: one look-up does it now."""
    _extractor().extract_str("preload.example.com")


def host_of(url: str) -> str:
    """The lowercase host of a URL ('' when it has none or cannot be parsed)."""
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


@lru_cache(maxsize=65536)
def registered_domain(host_or_url: str, *, private_suffixes: bool = True) -> str:
    """The registrable domain of a host or URL: "example.co.uk" for "a.b.example.co.uk".

    The two readings of the Public Suffix List, chosen by `private_suffixes`:
    True, the SITE: private suffixes count, so "x.blogspot.com" is a site of its own (what a
    crawl's scope is); False, the OPERATOR: "blogspot.com", whose owner answers for every
    blog under it (who a takedown notice goes to). An IP address is its own domain; a name
    without a public suffix (localhost, *.test, intranet names) gives its last two labels.
    """
    host = host_of(host_or_url) if "/" in host_or_url else host_or_url.lower().rstrip(".")
    host = host.strip("[]")
    if not host:
        return ""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    ext = _extractor().extract_str(host, include_psl_private_domains=private_suffixes)
    if ext.suffix:
        return f"{ext.domain}.{ext.suffix}" if ext.domain else ext.suffix
    return ".".join(host.split(".")[-2:])
