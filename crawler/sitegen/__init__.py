"""Generated benign images and synthetic sites on loopback for tests, `trawl demo` and benchmarks.

`crawler.sitegen.images` is the one generator of benign images (kinds, edits, encoders and
hostile files); `SyntheticSite` (crawler.sitegen.site) is the test site with known images and
hostile cases; `BenchSite` (crawler.sitegen.bench) the large benchmark site. Imported lazily,
so serving the bench site does not load the hashing code.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SyntheticSite": "crawler.sitegen.site",
    "ExpectedImage": "crawler.sitegen.site",
    "KnownImage": "crawler.sitegen.site",
    "DEFAULT_MAX_IMAGE_SIZE": "crawler.sitegen.site",
    "EXPECTED_PAGES": "crawler.sitegen.layout",
    "EXPECTED_DROPS": "crawler.sitegen.layout",
    "BenchSite": "crawler.sitegen.bench",
    "RouteServer": "crawler.sitegen.server",
    "Reply": "crawler.sitegen.server",
    "LoggedRequest": "crawler.sitegen.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'crawler.sitegen' has no attribute {name!r}")
