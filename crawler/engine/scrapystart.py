"""Building Scrapy's engine without the cost of its deprecation shims' caller look-up.

Scrapy names each deprecated alias class it defines (`create_deprecated_class`, e.g. the
TLS context factories its HTTP download handler imports) after its caller's module, found
with `inspect.stack()`. That reads the source lines of every frame on the stack, and for
each frame of the import machinery (`<frozen importlib._bootstrap>`, no file) scans all of
`sys.modules`: with Scrapy, Twisted and SQLAlchemy loaded and the engine built deep in a
Deferred chain, three such classes cost ~0.15-0.3 s of every crawl's start (measured:
bench/RESULTS.md "A whole crawl's start"). While the engine is built, Scrapy's
`scrapy.utils.deprecate` sees an `inspect` whose `stack()` lists the frames without their
source lines: the caller and so the class's `__module__` are the same.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _FramesOnly:
    """The `inspect` module, except that `stack()` skips reading each frame's source."""

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    @staticmethod
    def stack(context: int = 1) -> list[inspect.FrameInfo]:
        frame = sys._getframe(1)
        frames: list[inspect.FrameInfo] = []
        while frame is not None:
            code = frame.f_code
            frames.append(inspect.FrameInfo(frame, code.co_filename, frame.f_lineno,
                                            code.co_name, None, None))
            frame = frame.f_back  # type: ignore[assignment]
        return frames


@contextmanager
def cheap_deprecation_lookups() -> Iterator[None]:
    """Within the block, Scrapy's deprecated classes find their module without reading
    source files; Scrapy's own `inspect` is back afterwards (also on an error). A Scrapy
    whose deprecate module no longer uses `inspect` is left alone."""
    try:
        from scrapy.utils import deprecate
    except ImportError:  # pragma: no cover - Scrapy is a dependency
        yield
        return
    real = getattr(deprecate, "inspect", None)
    if real is not inspect:
        yield
        return
    setattr(deprecate, "inspect", _FramesOnly())  # noqa: B010 - not an exported name
    try:
        yield
    finally:
        setattr(deprecate, "inspect", real)  # noqa: B010
