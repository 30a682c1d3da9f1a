"""How the web app runs behind its network: read once by `trawl serve`, passed to create_app."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from crawler.errors import TrawlError

TRUSTED_PROXIES_ENV = "TRAWL_TRUSTED_PROXIES"
MAX_UPLOAD_ENV = "TRAWL_WEB_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 256  # a list of ~3M CSV lines; larger lists go through the CLI


@dataclass(frozen=True)
class WebSettings:
    """`trusted_proxies`: addresses of reverse proxies whose X-Forwarded-Proto and
    X-Forwarded-For are believed (TLS ended there, the real client address). Empty: the
    headers are ignored, so nobody can claim TLS or another address by sending them.
    `max_upload_bytes`: the largest request body (a list or provider file upload)."""

    trusted_proxies: tuple[str, ...] = ()
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
        return cls(trusted_proxies=proxies, max_upload_bytes=_max_upload_bytes())


def _max_upload_bytes() -> int:
    text = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = 0
    if megabytes <= 0:
        raise TrawlError(f"{MAX_UPLOAD_ENV}={text!r} is not a positive number of MiB, e.g. "
                         f"{MAX_UPLOAD_ENV}=512.")
    return int(megabytes * 1024 * 1024)
