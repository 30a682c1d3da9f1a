"""Refuse requests to internal addresses, checked on the address a request connects to."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.error import DNSLookupError

from crawler.engine.addresses import AddressPolicy, parse_address
from crawler.engine.resolver import (
    AddressRefused,
    PolicyResolver,
    ResolvedToRefusedAddress,
    refusal_for,
    use_policy,
)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

STATS_PREFIX = "trawl/address_refused"
LITERAL_CACHE_SIZE = 4096  # hosts remembered as IP literal or name


class AddressPolicyMiddleware:
    """Every request of a crawl or re-check (pages, images, redirects, robots.txt) passes
    the address policy (crawler.engine.addresses) before it connects.

    An IP-literal URL is checked as it stands. A host name is resolved here through the
    reactor's resolver, crawler.engine.resolver.PolicyResolver, which checks every address
    it hands out, this look-up's and the connection's own (so a name that changes its
    answer in between, DNS rebinding, is refused at the connection just the same). A
    response whose peer address the policy refuses is dropped too (a proxy or another
    download handler must not get round it). A seed's own host is allowed for that seed's
    requests (a hotline may crawl a site on its own network on purpose); anything else
    internal needs TRAWL_ALLOW_ADDRESSES (--allow-address). In a `trawl worker` a seed is
    (crawl id, index) and each crawl also brings the addresses it was queued with (the
    spider's `plans.allowed_addresses(seed)`), added to the worker's own for that crawl's
    requests. Refusals are never retried and are counted as trawl/address_refused/<reason>.
    """

    def __init__(self, crawler: Crawler, stats: StatsCollector, networks: list[str]) -> None:
        self.crawler = crawler
        self.stats = stats
        self.networks = networks
        self.policy = AddressPolicy(networks)
        self._seed_policies: dict[object, AddressPolicy] = {}
        self._worker_hosts: set[str] = set()
        self._worker_networks: dict[str, None] = {}  # the crawls' allowances, in order
        self._literal: dict[str, bool] = {}  # host -> is an IP literal (bounded)
        use_policy(self.policy)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressPolicyMiddleware:
        s = crawler.settings
        resolver = load_object(s.get("TWISTED_DNS_RESOLVER"))
        if not (isinstance(resolver, type) and issubclass(resolver, PolicyResolver)):
            raise RuntimeError(
                "TWISTED_DNS_RESOLVER must be crawler.engine.resolver.PolicyResolver (or a "
                "subclass): without it host names are not checked against the address policy."
            )
        assert crawler.stats is not None
        middleware = cls(crawler, crawler.stats, s.getlist("TRAWL_ALLOW_ADDRESSES"))
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self) -> None:
        """The seeds' hosts are known once the spider exists; the resolver, which cannot
        tell which seed a connection is for, allows every seed host of the crawl."""
        self.policy = AddressPolicy(self.networks, self._seed_hosts())
        self._seed_policies.clear()
        use_policy(self.policy)
        from twisted.internet import reactor

        if not isinstance(getattr(reactor, "resolver", None), PolicyResolver):
            # Started by something other than a CrawlerProcess (which installs the
            # TWISTED_DNS_RESOLVER): install it, or connections would go unchecked.
            PolicyResolver.from_crawler(self.crawler, reactor).install_on_reactor()

    def _seed_hosts(self, seed: object = None) -> list[str]:
        """The hosts of the crawl's seeds, or of one seed. `plans` is the seed spider's list
        (seed: its index) or, in a `trawl worker`, a mapping over every crawl it serves
        (seed: (crawl id, index)), which cannot be listed whole."""
        plans = getattr(self.crawler.spider, "plans", None)
        if seed is None:
            chosen = list(plans) if isinstance(plans, (list, tuple)) else []
        else:
            try:
                chosen = [plans[seed]]  # type: ignore[index]
            except (LookupError, TypeError):
                chosen = []
        return [host for p in chosen if (host := urlsplit(p.url).hostname)]

    def _policy_for(self, request: Request) -> AddressPolicy:
        """A seed's request gets that seed's host allowed; others (robots.txt, re-checks)
        the crawl's policy."""
        seed = request.meta.get("trawl_seed")
        if not isinstance(seed, int | tuple):
            return self.policy
        policy = self._seed_policies.get(seed)
        if policy is None:
            hosts = self._seed_hosts(seed)
            crawl_networks = self._crawl_networks(seed) if isinstance(seed, tuple) else []
            policy = AddressPolicy([*self.networks, *crawl_networks], hosts)
            self._seed_policies[seed] = policy
            new_hosts = set(hosts) - self._worker_hosts
            new_networks = [n for n in crawl_networks if n not in self._worker_networks]
            if isinstance(seed, tuple) and (new_hosts or new_networks):
                # A worker learns its crawls' seeds and allowances as their requests
                # arrive: the resolver and the requests of no seed (robots.txt), which
                # cannot tell which crawl a connection is for, allow them all.
                self._worker_hosts.update(new_hosts)
                self._worker_networks.update(dict.fromkeys(new_networks))
                self.policy = AddressPolicy([*self.networks, *self._worker_networks],
                                            sorted(self._worker_hosts))
                use_policy(self.policy)
        return policy

    def _crawl_networks(self, seed: object) -> list[str]:
        """The addresses a worker's crawl was queued with (none in a one-process crawl)."""
        allowed = getattr(getattr(self.crawler.spider, "plans", None), "allowed_addresses",
                          None)
        if not callable(allowed):
            return []
        try:
            return [str(n) for n in allowed(seed)]
        except (LookupError, TypeError):
            return []

    def _refuse(self, refusal: AddressRefused) -> AddressRefused:
        self.stats.inc_value(STATS_PREFIX)
        self.stats.inc_value(f"{STATS_PREFIX}/{refusal.reason}")
        logger.info("Not fetching from %s: %s", refusal.host, refusal)
        return refusal

    async def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        policy = self._policy_for(request)
        literal = self._literal.get(host)
        if literal is None:  # ipaddress parses a host once, not on every request
            literal = parse_address(host) is not None
            if len(self._literal) >= LITERAL_CACHE_SIZE:
                self._literal.clear()
            self._literal[host] = literal
        if literal:
            address = host
        else:
            from twisted.internet import reactor

            resolve: Any = reactor.resolve  # type: ignore[attr-defined]
            try:
                address = await maybe_deferred_to_future(resolve(host))
            except ResolvedToRefusedAddress as exc:
                address = exc.refusal.address
            except DNSLookupError:
                return  # the download fails the same way and says so
        refusal = refusal_for(host, address, policy)
        if refusal is not None:
            raise self._refuse(refusal)

    def process_response(self, request: Request, response: Response) -> Any:
        peer = response.ip_address
        if peer is None:
            return response
        host = urlsplit(request.url).hostname or ""
        refusal = refusal_for(host, str(peer), self._policy_for(request))
        if refusal is not None:
            raise self._refuse(refusal)
        return response
