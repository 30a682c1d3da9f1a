"""Pure matching library: bytes -> hashes, hash types, known-hash lists, Hamming indexes.

No Scrapy, no database: `crawler` and `storage` depend on this, never the other way.

The main entry points, importable from here (loaded on first use, so `import matchers`
stays cheap):

    hash_image(data) -> Digests                      matchers.hashing
    parse_known_list(path, ...) -> ParsedList        matchers.lists (ListFormatError)
    Matcher.build(refs).match(digests) -> [Match]    matchers.decision (KnownRef)
    MatcherBuilder(...).build().save(path); Matcher.load(path)   (memory-mapped)
    HammingIndex / ExactIndex / BruteForceIndex      matchers.index
    HASH_TYPES, get_hash_type                        matchers.hashtypes
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from matchers.digests import Digests, DigestStatus

_LAZY = {
    "hash_image": "matchers.hashing",
    "DEFAULT_MAX_PIXELS": "matchers.hashing",
    "parse_known_list": "matchers.lists",
    "parse_known_stream": "matchers.lists",
    "ParsedList": "matchers.listformats.entries",
    "KnownEntry": "matchers.listformats.entries",
    "ListFormatError": "matchers.listformats.errors",
    "Matcher": "matchers.decision",
    "Match": "matchers.match",
    "KnownRef": "matchers.decision",
    "MatcherBuilder": "matchers.decision",
    "HammingIndex": "matchers.index",
    "ExactIndex": "matchers.index",
    "BruteForceIndex": "matchers.index",
    "HASH_TYPES": "matchers.hashtypes",
    "get_hash_type": "matchers.hashtypes",
}

__all__ = ["DigestStatus", "Digests", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'matchers' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
