"""Importing Scrapy and building its engine without two costs a crawl's start need not pay.

Scrapy names each deprecated alias class it defines (`create_deprecated_class`, e.g. the
TLS context factories its HTTP download handler imports) after its caller's module, found
with `inspect.stack()`. That reads the source lines of every frame on the stack, and for
each frame of the import machinery (`<frozen importlib._bootstrap>`, no file) scans all of
`sys.modules`: with Scrapy, Twisted and SQLAlchemy loaded and the engine built deep in a
Deferred chain, three such classes cost ~0.15-0.3 s of every crawl's start (measured:
bench/RESULTS.md "A whole crawl's start"). While the engine is built, Scrapy's
`scrapy.utils.deprecate` sees an `inspect` whose `stack()` lists the frames without their
source lines: the caller and so the class's `__module__` are the same.

Scrapy's text responses import `charset_normalizer` for one function, `from_bytes`, called
only for a body whose encoding neither its headers, its markup nor UTF-8 decoding tell;
importing the package imports every multi-byte codec of the standard library to sort its
encoding list (~25-35 ms of every crawl's start, bench/RESULTS.md "Matcher start-up").
While Scrapy is imported, `charset_normalizer` is a stand-in whose `from_bytes` imports the
real package on its first call.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

CHARSET_DETECTION = "charset_normalizer"


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


class _DeferredCharsetDetection(ModuleType):
    """Stands in for charset_normalizer while Scrapy is imported: `from_bytes` (all Scrapy
    takes from it) loads the real package when called, any other name at once."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system probing (__path__ ...): not there
            raise AttributeError(name)
        return getattr(_charset_detection(), name)

    @staticmethod
    def from_bytes(*args: Any, **kwargs: Any) -> Any:
        return _charset_detection().from_bytes(*args, **kwargs)


def _charset_detection() -> ModuleType:
    """The real charset_normalizer (imported now if the stand-in is still registered)."""
    if isinstance(sys.modules.get(CHARSET_DETECTION), _DeferredCharsetDetection):
        del sys.modules[CHARSET_DETECTION]
    return importlib.import_module(CHARSET_DETECTION)


@contextmanager
def charset_detection_on_first_use() -> Iterator[None]:
    """Within the block, an import of charset_normalizer (Scrapy's, see the module's
    docstring) gets the stand-in; afterwards imports get the real package again. Nothing
    changes if the package is imported already (another import came first)."""
    if CHARSET_DETECTION in sys.modules:
        yield
        return
    stand_in = _DeferredCharsetDetection(CHARSET_DETECTION)
    sys.modules[CHARSET_DETECTION] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(CHARSET_DETECTION) is stand_in:
            del sys.modules[CHARSET_DETECTION]
