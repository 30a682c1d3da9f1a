"""How the web app runs behind its network: read once by `trawl serve`, passed to create_app."""

from __future__ import annotations

import os
from dataclasses import dataclass

TRUSTED_PROXIES_ENV = "TRAWL_TRUSTED_PROXIES"


@dataclass(frozen=True)
class WebSettings:
    """`trusted_proxies`: addresses of reverse proxies whose X-Forwarded-Proto and
    X-Forwarded-For are believed (TLS ended there, the real client address). Empty: the
    headers are ignored, so nobody can claim TLS or another address by sending them."""

    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def build(cls, trusted_proxies: str | None = None) -> WebSettings:
        text = trusted_proxies if trusted_proxies is not None else os.environ.get(
            TRUSTED_PROXIES_ENV, "")
        return cls(trusted_proxies=tuple(p.strip() for p in text.split(",") if p.strip()))
