"""Scrapy's DNS resolver with the address policy applied to every answer it gives.

Why in the resolver: the address a name resolves to is the address Twisted then connects
to, so checking it here (not in a separate look-up beforehand) means a name that answers
with a public address once and an internal one the next time (DNS rebinding) is refused
all the same. IP literals never reach a resolver; the address middleware checks those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from crawler.engine.addresses import REASONS, AddressPolicy, normalise_host, parse_address

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred


class AddressRefused(IgnoreRequest):
    """A request to an address the policy refuses (never retried: the answer would not
    change). `reason` is a key of crawler.engine.addresses.REASONS."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        where = host if host == address else f"{host} ({address})"
        super().__init__(
            f"refused to connect to {where}: {REASONS.get(reason, reason)}; allow it with "
            "--allow-address if this crawl must reach it"
        )


class ResolvedToRefusedAddress(DNSLookupError):
    """What the resolver raises for a name whose address the policy refuses: to Twisted
    and Scrapy an unusable look-up (the address middleware turns it into AddressRefused)."""

    def __init__(self, refusal: AddressRefused) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


# The crawl's policy. One crawl runs per process (Twisted's reactor starts once) and the
# resolver is the reactor's, installed before the crawl's components exist, so the address
# middleware hands its policy over here. Until it does, nothing internal is allowed: the
# resolver fails closed.
_active: dict[str, AddressPolicy] = {"policy": AddressPolicy()}


def use_policy(policy: AddressPolicy) -> None:
    """Make `policy` the one every name resolution of this process is checked against."""
    _active["policy"] = policy


def refusal_for(
    host: str, address: str, policy: AddressPolicy | None = None
) -> AddressRefused | None:
    """The refusal of a connection for `host` to `address` under `policy` (default: the
    active one), or None when it may go ahead."""
    reason = (policy or _active["policy"]).check(host, address)
    if reason is None:
        return None
    return AddressRefused(normalise_host(host), str(parse_address(address) or address), reason)


class PolicyResolver(CachingThreadedResolver):
    """CachingThreadedResolver whose every answer, cached or fresh, passes check_address."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        deferred = super().getHostByName(name, timeout)
        deferred.addCallback(self._checked, name)
        return deferred

    @staticmethod
    def _checked(address: str, name: str) -> str:
        refusal = refusal_for(name, address)
        if refusal is not None:
            raise ResolvedToRefusedAddress(refusal)
        return address
