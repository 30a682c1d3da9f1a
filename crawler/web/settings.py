"""How the web app runs behind its network: read once by `trawl serve`, passed to create_app."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from crawler.errors import TrawlError
from storage.policy import DEFAULT_CLAIM_MINUTES, DEFAULT_CONFIRMATIONS_REQUIRED

TRUSTED_PROXIES_ENV = "TRAWL_TRUSTED_PROXIES"
CONFIRMATIONS_ENV = "TRAWL_CONFIRMATIONS_REQUIRED"  # the same variables as `trawl review`
CLAIM_MINUTES_ENV = "TRAWL_CLAIM_MINUTES"
MAX_UPLOAD_ENV = "TRAWL_WEB_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 256  # a list of ~3M CSV lines; larger lists go through the CLI


@dataclass(frozen=True)
class WebSettings:
    """`trusted_proxies`: addresses of reverse proxies whose X-Forwarded-Proto and
    X-Forwarded-For are believed (TLS ended there, the real client address). Empty: the
    headers are ignored, so nobody can claim TLS or another address by sending them.
    `max_upload_bytes`: the largest request body (a list or provider file upload)."""

    trusted_proxies: tuple[str, ...] = ()
    # Review: distinct analysts needed to confirm an image, and how long a claim holds.
    confirmations_required: int = DEFAULT_CONFIRMATIONS_REQUIRED
    claim_minutes: float = DEFAULT_CLAIM_MINUTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024

    @classmethod
    def build(cls, trusted_proxies: str | None = None) -> WebSettings:
        """From the --trust-proxy value (or the environment); TrawlError names a bad entry."""
        text = trusted_proxies if trusted_proxies is not None else os.environ.get(
            TRUSTED_PROXIES_ENV, "")
        proxies = tuple(p.strip() for p in text.split(",") if p.strip())
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise TrawlError(
                    f"The trusted proxy {proxy!r} is not an IP address or network: give the "
                    "proxy's address, e.g. --trust-proxy 127.0.0.1."
                ) from None
        return cls(trusted_proxies=proxies,
                   confirmations_required=int(_number(CONFIRMATIONS_ENV,
                                                      DEFAULT_CONFIRMATIONS_REQUIRED)),
                   claim_minutes=_number(CLAIM_MINUTES_ENV, DEFAULT_CLAIM_MINUTES),
                   max_upload_bytes=int(_number(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB)
                                        * 1024 * 1024))


def _number(name: str, default: float) -> float:
    """A positive number from the environment (TrawlError naming the variable if not);
    TRAWL_WEB_MAX_UPLOAD_MB is in MiB."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0 or (name == CONFIRMATIONS_ENV and not value.is_integer()):
        raise TrawlError(f"{name}={text!r} is not a positive "
                         f"{'whole ' if name == CONFIRMATIONS_ENV else ''}number.")
    return value

