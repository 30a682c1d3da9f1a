"""Crawl scope: registered domains, URL canonicalisation, seed scopes and crawler-trap limits."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url as w3lib_canonicalize_url

from crawler.engine.keyset import KeySet
from crawler.errors import TrawlError
from storage.domains import registered_domain

HTTP_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that carry a session, not a resource (compared case-insensitively).
SESSION_PARAMS = frozenset(
    {
        "phpsessid",
        "jsessionid",
        "sid",
        "sessionid",
        "session_id",
        "sessid",
        "session",
        "cfid",
        "cftoken",
        "zenid",
        "oscsid",
        "s_id",
    }
)
SESSION_PARAM_PREFIXES = ("aspsessionid",)
# ";jsessionid=..." style path parameters (Java servlets, some PHP setups).
_PATH_SESSION_RE = re.compile(r";(?:jsessionid|phpsessid|sessionid|sid)=[^/?#;]*", re.IGNORECASE)

# Trap limits: a site can generate endless URLs; these end the walk where depth alone would not.
TRAP_MAX_QUERY_VARIANTS = 50  # distinct query strings allowed under one host+path
TRAP_MAX_SEGMENT_REPEATS = 3  # /a/b/a/b/a/b... : one path segment repeated this often
TRAP_MAX_PATH_SEGMENTS = 24
MAX_URL_LENGTH = 2048
# A scheme-less address worth suggesting http:// for: a host with a dot (or localhost), an
# optional port and path, no spaces.
_LOOKS_LIKE_HOST = re.compile(
    r"^(localhost|\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)+)(:\d+)?([/?#]\S*)?$", re.IGNORECASE
)


class ScopeError(TrawlError, ValueError):
    """A URL that cannot be crawled at all (bad scheme, no host); the message says which."""


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def is_session_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in SESSION_PARAMS or lowered.startswith(SESSION_PARAM_PREFIXES)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, so /a/./b/../c and /a/c are one page."""
    if "." not in path:
        return path
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/".join(output)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


_CANONICAL: dict[str, str] = {}  # recent URLs as written -> their canonical spelling
CANONICAL_MEMO_SIZE = 4096  # entries; the memo is emptied when full


def canonicalize_url(url: str) -> str:
    """One spelling per resource: lowercase scheme and host, no default port, no fragment,
    dot segments resolved, session ids stripped (query and ;jsessionid path parameters),
    query arguments sorted. Raises ScopeError for a URL without an http(s) scheme or host.

    Remembers the last few thousand URLs (a pure function of its argument): a site's
    menus and footers link the same URLs from every page, ~12 us each to canonicalise
    again (w3lib's part ~7.5 us)."""
    found = _CANONICAL.get(url)
    if found is not None:
        return found
    canonical = _canonicalize(url)
    if len(_CANONICAL) >= CANONICAL_MEMO_SIZE:
        _CANONICAL.clear()
    _CANONICAL[url] = canonical
    return canonical


def _canonicalize(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme:
        bare = url.lstrip("/")
        if _LOOKS_LIKE_HOST.match(bare):
            raise ScopeError(
                f"Cannot crawl {url!r}: the URL has no scheme; write it as http://{bare} "
                "(or https://)."
            )
        raise ScopeError(
            f"Cannot crawl {url!r}: it is not a web address; write one such as "
            "https://example.org/ (http or https, a host name, an optional path)."
        )
    if scheme not in HTTP_SCHEMES and _LOOKS_LIKE_HOST.match(url):  # "localhost:8000"
        raise ScopeError(
            f"Cannot crawl {url!r}: the URL has no scheme; write it as http://{url} "
            "(or https://)."
        )
    if scheme not in HTTP_SCHEMES:
        raise ScopeError(
            f"Cannot crawl {url!r}: the URL scheme {scheme!r} is not supported; "
            "use an http:// or https:// URL."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ScopeError(f"Cannot crawl {url!r}: the URL has no host name.")
    try:
        port = parts.port
    except ValueError as exc:
        raise ScopeError(f"Cannot crawl {url!r}: {exc}.") from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = _remove_dot_segments(_PATH_SESSION_RE.sub("", parts.path)) or "/"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not is_session_param(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    rebuilt = urlunsplit(SplitResult(scheme, netloc, path, query, ""))
    return w3lib_canonicalize_url(rebuilt, keep_fragments=False)


@dataclass(frozen=True, slots=True)
class SeedScope:
    """Where one seed's crawl may go: the seed's host (www. ignored), or with
    include_subdomains any host under the seed's registered domain."""

    host: str
    domain: str
    include_subdomains: bool = False

    @classmethod
    def for_url(cls, url: str, *, include_subdomains: bool = False) -> SeedScope:
        host = _host_of(url)
        return cls(_strip_www(host), registered_domain(host), include_subdomains)

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme.lower() not in HTTP_SCHEMES:
            return False
        host = (parts.hostname or "").lower().rstrip(".")
        if self.include_subdomains:
            return registered_domain(host) == self.domain
        return _strip_www(host) == self.host


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


class TrapDetector:
    """Flags URL patterns that generate pages forever (calendars, repeated path segments).

    Keeps one counter per host+path, so memory grows with distinct paths, not URLs.
    """

    def __init__(
        self,
        *,
        max_query_variants: int = TRAP_MAX_QUERY_VARIANTS,
        max_segment_repeats: int = TRAP_MAX_SEGMENT_REPEATS,
        max_path_segments: int = TRAP_MAX_PATH_SEGMENTS,
        max_url_length: int = MAX_URL_LENGTH,
    ) -> None:
        self.max_query_variants = max_query_variants
        self.max_segment_repeats = max_segment_repeats
        self.max_path_segments = max_path_segments
        self.max_url_length = max_url_length
        self._variants: defaultdict[tuple[str, str], int] = defaultdict(int)

    def check(self, url: str) -> str | None:
        """Return a drop reason ("trap", "url_too_long") or None; call once per new URL."""
        if len(url) > self.max_url_length:
            return "url_too_long"
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) > self.max_path_segments:
            return "trap"
        if segments and max(segments.count(s) for s in set(segments)) > self.max_segment_repeats:
            return "trap"
        if parts.query:
            key = (parts.netloc, parts.path)
            if self._variants[key] >= self.max_query_variants:
                return "trap"
            self._variants[key] += 1
        return None


DEFAULT_DEPTH = 3


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """One seed as the spider walks it: a stored seed row or an ad-hoc URL (seed_id None)."""

    url: str
    depth: int = DEFAULT_DEPTH
    max_pages: int | None = None
    include_subdomains: bool = False
    obey_robots: bool = True
    seed_id: int | None = None


class Frontier:
    """Decides which page URLs a crawl visits: scope, depth, traps and per-seed page limits.

    Pages are admitted once per crawl (across seeds); images never pass through here,
    because images are fetched from any host.
    """

    def __init__(self, seeds: list[SeedPlan], traps: TrapDetector | None = None) -> None:
        self.seeds = seeds
        self.scopes = [
            SeedScope.for_url(s.url, include_subdomains=s.include_subdomains) for s in seeds
        ]
        self.traps = traps or TrapDetector()
        self.pages = [0] * len(seeds)
        self._seen = KeySet()  # hash() of every admitted page URL (~16 bytes each)

    def in_scope(self, seed: int, url: str) -> bool:
        return self.scopes[seed].allows(url)

    def admit(self, seed: int, url: str, depth: int) -> str | None:
        """None if the canonical page URL should be fetched now, else the drop reason:
        off_scope, seen (already admitted), depth, trap, url_too_long or page_limit."""
        if not self.scopes[seed].allows(url):
            return "off_scope"
        key = hash(url)
        if key in self._seen:
            return "seen"
        plan = self.seeds[seed]
        if depth > plan.depth:
            return "depth"
        reason = self.traps.check(url)
        if reason is not None:
            return reason
        if plan.max_pages is not None and self.pages[seed] >= plan.max_pages:
            return "page_limit"
        self._seen.add(key)
        self.pages[seed] += 1
        return None
