"""Which IP addresses a crawl may connect to: the public internet, not the hotline's own network.

Why: a crawled page chooses what Trawl fetches. Without this check an `<img>` pointing at
127.0.0.1, 10.x or 169.254.169.254 (a cloud's credential service), or a redirect there,
turns Trawl into a scanner of the hotline's internal network. The check belongs on the
address actually connected to, after DNS resolution, so that a name which resolves to an
internal address (DNS rebinding included) is refused just the same.

Pure Python on purpose: the Scrapy side (a downloader middleware and the resolver hook)
calls `AddressPolicy.check` and counts refusals as `trawl/address_refused/<reason>`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Every reason check() can return, with the phrase `crawls show` can print for it.
REASONS: dict[str, str] = {
    "metadata": "a cloud metadata or platform service",
    "loopback": "this machine (loopback)",
    "unspecified": "the unspecified address (0.0.0.0/8 or ::), which reaches this machine",
    "private": "a private network (RFC 1918, IPv6 site-local, local-use NAT64)",
    "cgnat": "carrier-grade NAT space (100.64.0.0/10)",
    "link_local": "a link-local address (169.254.0.0/16, fe80::/10)",
    "multicast": "a multicast group",
    "ipv6_ula": "an IPv6 unique local address (fc00::/7)",
    "reserved": "reserved, documentation or benchmarking space, or broadcast",
    "invalid": "not an IP address",
}

# Cloud services at fixed addresses that hand out credentials or configuration to the
# machine asking: never allowed by a seed's host, only by an explicit --allow-address.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (older instances)
        "168.63.129.16",  # Azure WireServer (a public-looking platform address)
        "fd00:ec2::254",  # AWS, over IPv6
    )
)

_V4_RANGES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified"),  # connecting to 0.0.0.0 reaches this machine
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "cgnat"),
        ("169.254.0.0/16", "link_local"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes the broadcast 255.255.255.255
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "reserved"),  # documentation (TEST-NET-1, -2, -3)
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("198.18.0.0/15", "reserved"),  # benchmarking
        ("192.88.99.0/24", "reserved"),  # the retired 6to4 relay anycast
    )
)

_V6_RANGES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link_local"),
        ("fc00::/7", "ipv6_ula"),
        ("fec0::/10", "private"),  # site-local, deprecated but still routed by some
        ("ff00::/8", "multicast"),
        ("64:ff9b:1::/48", "private"),  # local-use NAT64 (RFC 8215)
        ("100::/64", "reserved"),  # discard-only
        ("2001:db8::/32", "reserved"),  # documentation
        ("3fff::/20", "reserved"),  # documentation (RFC 9637)
        ("2001:2::/48", "reserved"),  # benchmarking
        ("2001:10::/28", "reserved"),  # ORCHID
        ("2001:20::/28", "reserved"),  # ORCHIDv2
        ("5f00::/16", "reserved"),  # SRv6 segment identifiers
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# IPv6 forms that carry an IPv4 address a connection ends up at.
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT (RFC 2765)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix
_SPLIT_RE = re.compile(r"[\s,]+")


CHECK_CACHE_SIZE = 4096  # (host, address) answers an AddressPolicy remembers


class AddressPolicyError(ValueError):
    """An --allow-address value that is not an address or CIDR block; the message says
    which and how to write it."""


class AddressPolicy:
    """Refuse connections to internal and special-purpose addresses unless allowed.

    `allowed_networks` are the operator's --allow-address values (addresses or CIDR
    blocks; they allow anything inside them, metadata addresses included). `allowed_hosts`
    are host names (or IP literals) whose own addresses are allowed whatever they are,
    such as a seed's host: a hotline may crawl a site on its own network on purpose. A
    metadata address is never allowed by a host name, only by a network.
    """

    def __init__(self, allowed_networks: Sequence[str] = (),
                 allowed_hosts: Collection[str] = ()) -> None:
        self.allowed_networks = parse_allowed_networks(allowed_networks)
        self.allowed_hosts = frozenset(normalise_host(h) for h in allowed_hosts if h.strip())
        # check() is a function of (host, ip) and this policy, which never changes: a
        # crawl asks it for the same few hosts and addresses twice per request (~20 us
        # of ipaddress parsing and range tests each time).
        self._checked: dict[tuple[str, str], str | None] = {}

    def check(self, host: str, ip: str) -> str | None:
        """None when a connection for `host` to `ip` may go ahead, else the reason it may
        not: a key of REASONS."""
        key = (host, ip)
        try:
            return self._checked[key]
        except KeyError:
            pass
        reason = self._check(host, ip)
        if len(self._checked) >= CHECK_CACHE_SIZE:
            self._checked.clear()
        self._checked[key] = reason
        return reason

    def _check(self, host: str, ip: str) -> str | None:
        address = parse_address(ip)
        if address is None:
            return "invalid"
        reason = classify(address)
        if reason is None:
            return None
        if reason != "metadata" and normalise_host(host) in self.allowed_hosts:
            return None
        if self._allowed(address):
            return None
        return reason

    def _allowed(self, address: IPAddress) -> bool:
        forms = [address]
        inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        if inner is not None:
            forms.append(inner)
        return any(form in network for form in forms for network in self.allowed_networks)

    def __repr__(self) -> str:
        nets = [str(n) for n in self.allowed_networks]
        return f"AddressPolicy({nets!r}, {sorted(self.allowed_hosts)!r})"


def classify(address: IPAddress) -> str | None:
    """Why a crawl must not connect to `address` when nothing allows it (a key of REASONS),
    or None for an ordinary public address. IPv6 forms that carry an IPv4 address
    (IPv4-mapped, -compatible, -translated, NAT64, 6to4, Teredo) are judged by it."""
    address = _unscoped(address)
    if address in METADATA_ADDRESSES:
        return "metadata"
    if isinstance(address, ipaddress.IPv4Address):
        return next((reason for net, reason in _V4_RANGES if address in net), None)
    inner = embedded_ipv4(address)
    if inner is not None:
        return classify(inner)
    found = next((reason for net, reason in _V6_RANGES if address in net), None)
    if found is None and address not in _V6_GLOBAL_UNICAST:
        return "reserved"  # outside 2000::/3 nothing is assigned for public use
    return found


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that carry
    one; None otherwise (:: and ::1 are themselves, not 0.0.0.0 and 0.0.0.1)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client behind the relay
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _NAT64 or address in _V4_TRANSLATED:
        return low32
    if address in _V4_COMPATIBLE and int(address) > 1:
        return low32
    return None


def parse_address(text: str) -> IPAddress | None:
    """An address as a resolver or socket reports it ('10.0.0.1', '::1', '[::1]',
    'fe80::1%eth0'); None if it is not one."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return _unscoped(ipaddress.ip_address(value))
    except ValueError:
        return None


def _unscoped(address: IPAddress) -> IPAddress:
    """fe80::1%eth0 -> fe80::1: the interface does not change what the address is."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(int(address))
    return address


def parse_allowed_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """--allow-address values (each an address or CIDR block) as networks; the first bad
    one raises AddressPolicyError with a sentence."""
    networks: list[IPNetwork] = []
    for raw in values:
        value = raw.strip()
        if value.startswith("[") and "]" in value:  # [fd00::1] or [fd00::]/64
            value = value[1:].replace("]", "", 1)
        if not value:
            raise AddressPolicyError(
                "An --allow-address value is empty: give an address (10.0.0.5) or a CIDR "
                "block (10.0.0.0/8, fd00::/8)."
            )
        if "%" in value:
            raise AddressPolicyError(
                f"--allow-address {raw!r} names a network interface (%...): give the address "
                "or block without it."
            )
        try:
            networks.append(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            try:
                loose = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise AddressPolicyError(
                    f"--allow-address {raw!r} is not an IP address or CIDR block ({exc}): "
                    "write one like 10.0.0.5, 10.0.0.0/8, 2001:db8::1 or fd00::/8."
                ) from None
            raise AddressPolicyError(
                f"--allow-address {raw!r} has bits set after its /{loose.prefixlen} prefix: "
                f"did you mean {loose} (the whole block) or {value.split('/', 1)[0]} (one "
                "address)?"
            ) from None
    return tuple(dict.fromkeys(networks))


def split_allow_list(text: str) -> list[str]:
    """A comma- or space-separated list (the environment variable and setting form of a
    repeated --allow-address) as separate values."""
    return [part for part in _SPLIT_RE.split(text.strip()) if part]


def normalise_host(host: str) -> str:
    """A host as URLs spell it, compared case-insensitively, without a trailing dot; an IP
    literal in its canonical form ('[0:0::1]' -> '::1')."""
    value = host.strip().lower().rstrip(".")
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    address = parse_address(value)
    return str(address) if address is not None else value
