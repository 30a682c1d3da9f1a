"""What a failed request means, in words: a fetch status, a sentence and a stats reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotSupported,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx_error

from crawler.engine.middlewares.deadline import ImageDeadlineExceeded
from crawler.engine.middlewares.scope import OffScopeRequest
from crawler.engine.resolver import AddressRefused

if TYPE_CHECKING:
    from twisted.python.failure import Failure

# Reasons that say the host or the server is gone, not that the network hiccuped.
GONE_REASONS = frozenset({"dns", "connection_refused"})


# (exception types, fetch_status, reason for stats, sentence for the media row / summary)
_FAILURES: tuple[tuple[tuple[type[BaseException], ...], str, str, str], ...] = (
    ((DownloadConnectionRefusedError, tx_error.ConnectionRefusedError), "error",
     "connection_refused", "connection refused"),
    ((CannotResolveHostError, tx_error.DNSLookupError), "error", "dns",
     "host name not found (DNS)"),
    ((DownloadTimeoutError, tx_error.TimeoutError, tx_error.TCPTimedOutError), "error",
     "timeout", "timed out"),
    ((ResponseDataLossError, tx_error.ConnectionLost, tx_error.ConnectionDone), "error",
     "connection_lost", "connection lost before the response was complete"),
    ((NotSupported,), "error", "unsupported_scheme", "unsupported URL scheme"),
)


def describe_failure(failure: Failure, max_size: int | None) -> tuple[str, str, str]:
    """(fetch_status, sentence, stats reason) for a failed request; never includes a body."""
    exc = failure.value
    if isinstance(exc, HttpError):
        code = exc.response.status
        return f"http_{code}", f"HTTP {code}", f"http_{code}"
    if isinstance(exc, AddressRefused):
        return "refused", str(exc), "address_refused"
    if isinstance(exc, ImageDeadlineExceeded):
        return "timeout", str(exc), "deadline"
    if isinstance(exc, OffScopeRequest):
        return "error", str(exc), "off_scope"
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in str(exc):
            return "error", "forbidden by robots.txt", "robots"
        return "error", "request ignored", "ignored"
    if isinstance(exc, DownloadCancelledError) and max_size:
        return "too_large", f"larger than the {max_size}-byte download size cap", "too_large"
    for types, status, reason, sentence in _FAILURES:
        if isinstance(exc, types):
            return status, sentence, reason
    name = type(exc).__name__
    return "error", f"download failed ({name})", name.lower()


