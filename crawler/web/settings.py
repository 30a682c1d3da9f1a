"""How the web app runs behind its network: read once by `trawl serve`, passed to create_app."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from crawler.errors import TrawlError

TRUSTED_PROXIES_ENV = "TRAWL_TRUSTED_PROXIES"


@dataclass(frozen=True)
class WebSettings:
    """`trusted_proxies`: addresses of reverse proxies whose X-Forwarded-Proto and
    X-Forwarded-For are believed (TLS ended there, the real client address). Empty: the
    headers are ignored, so nobody can claim TLS or another address by sending them."""

    trusted_proxies: tuple[str, ...] = ()

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
        return cls(trusted_proxies=proxies)
