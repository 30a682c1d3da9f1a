"""The address policy: internal and special-purpose addresses are refused, in every IPv4 and
IPv6 spelling, unless a seed's host or an --allow-address says otherwise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crawler.engine.addresses import (
    REASONS,
    AddressPolicy,
    AddressPolicyError,
    classify,
    normalise_host,
    parse_address,
    parse_allowed_networks,
    split_allow_list,
)

pytestmark = pytest.mark.hostile

NOTHING_ALLOWED = AddressPolicy([], [])

# (address, reason refused with) -- None: an ordinary public address.
TABLE = [
    # public
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("100.63.255.255", None),  # just below CGNAT
    ("100.128.0.0", None),  # just above it
    ("172.15.255.255", None),
    ("172.32.0.0", None),
    ("169.253.255.255", None),
    ("223.255.255.255", None),
    ("2606:4700:4700::1111", None),
    ("2a00:1450:4001:82b::200e", None),
    ("::ffff:8.8.8.8", None),  # IPv4-mapped public: allowed, it is 8.8.8.8
    ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
    ("2002:808:808::1", None),  # 6to4 of 8.8.8.8
    # loopback
    ("127.0.0.1", "loopback"),
    ("127.0.0.3", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("[::1]", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:7f00:1", "loopback"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated)
    ("::ffff:0:127.0.0.1", "loopback"),  # IPv4-translated (SIIT)
    ("64:ff9b::127.0.0.1", "loopback"),  # NAT64
    ("2002:7f00:1::", "loopback"),  # 6to4
    # unspecified
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:0.0.0.0", "unspecified"),
    # RFC 1918
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:192.168.0.1", "private"),
    ("64:ff9b::a00:1", "private"),
    ("2002:c0a8:101::1", "private"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
    ("fec0::1", "private"),  # IPv6 site-local
    ("64:ff9b:1::a00:1", "private"),  # local-use NAT64
    # CGNAT
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("::ffff:100.64.0.1", "cgnat"),
    # link-local
    ("169.254.1.1", "link_local"),
    ("fe80::1", "link_local"),
    ("fe80::1%eth0", "link_local"),
    ("febf::1", "link_local"),
    ("::ffff:169.254.1.1", "link_local"),
    # multicast
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("ff05::1:3", "multicast"),
    # reserved, documentation, benchmarking, broadcast
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("198.51.100.5", "reserved"),
    ("203.0.113.9", "reserved"),
    ("198.18.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("2001:db8::1", "reserved"),
    ("100::1", "reserved"),
    ("4000::1", "reserved"),  # outside 2000::/3
    ("::2:3:4:5", "reserved"),
    # IPv6 ULA
    ("fc00::1", "ipv6_ula"),
    ("fd12:3456:789a::1", "ipv6_ula"),
    # cloud metadata, in every spelling
    ("169.254.169.254", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:a9fe:a9fe", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"),
    ("2002:a9fe:a9fe::", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("168.63.129.16", "metadata"),
    # not addresses
    ("", "invalid"),
    ("example.com", "invalid"),
    ("256.1.1.1", "invalid"),
    ("10.0.0.1/8", "invalid"),
]


@pytest.mark.parametrize(("ip", "reason"), TABLE)
def test_the_table(ip: str, reason: str | None) -> None:
    assert NOTHING_ALLOWED.check("site.example", ip) == reason
    assert reason is None or reason in REASONS


def test_every_reason_is_exercised_and_described() -> None:
    assert {reason for _ip, reason in TABLE if reason} == set(REASONS)


def test_a_seeds_own_host_is_allowed_its_addresses_but_not_metadata() -> None:
    policy = AddressPolicy([], ["127.0.0.1", "Intranet.Example.", "[::1]"])
    assert policy.check("127.0.0.1", "127.0.0.1") is None
    assert policy.check("intranet.example", "10.1.2.3") is None
    assert policy.check("INTRANET.EXAMPLE.", "192.168.0.9") is None
    assert policy.check("[0:0::1]", "::1") is None
    # Another host on a page of that seed is not: a page on 127.0.0.1 cannot make Trawl
    # fetch from 127.0.0.3.
    assert policy.check("127.0.0.3", "127.0.0.3") == "loopback"
    assert policy.check("evil.example", "127.0.0.1") == "loopback"  # rebinding to loopback
    assert policy.check("intranet.example", "169.254.169.254") == "metadata"


def test_allowed_networks() -> None:
    policy = AddressPolicy(["127.0.0.0/8", "10.20.0.0/16", "fd00::/8", "169.254.169.254"], [])
    assert policy.check("any.example", "127.0.0.3") is None
    assert policy.check("any.example", "::ffff:127.0.0.3") is None  # the same address
    assert policy.check("any.example", "10.20.1.1") is None
    assert policy.check("any.example", "10.21.1.1") == "private"
    assert policy.check("any.example", "fd12::1") is None
    assert policy.check("any.example", "fc00::1") == "ipv6_ula"
    assert policy.check("any.example", "169.254.169.254") is None  # explicitly
    assert policy.check("any.example", "169.254.170.2") == "metadata"
    assert policy.check("any.example", "192.168.0.1") == "private"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.300", r"'10.0.0.300' is not an IP address or CIDR block"),
        ("intranet.example", "is not an IP address or CIDR block"),
        ("10.0.0.1/8", r"has bits set after its /8 prefix: did you mean 10.0.0.0/8 .* or "
                       r"10.0.0.1 \(one address\)"),
        ("10.0.0.0/33", "is not an IP address or CIDR block"),
        ("fe80::1%eth0", "names a network interface"),
        ("  ", "is empty"),
    ],
)
def test_bad_allow_address_values_are_sentences(value: str, message: str) -> None:
    with pytest.raises(AddressPolicyError, match=message):
        parse_allowed_networks([value])
    with pytest.raises(ValueError, match=message):  # it is a ValueError for click's sake
        AddressPolicy(["127.0.0.1", value], [])


def test_allow_address_forms() -> None:
    nets = parse_allowed_networks(["127.0.0.1", " 10.0.0.0/8 ", "[::1]", "[fd00::]/8",
                                   "10.0.0.0/8"])
    assert [str(n) for n in nets] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8"]
    assert split_allow_list(" 127.0.0.1, 10.0.0.0/8\n fd00::/8 ,") == [
        "127.0.0.1", "10.0.0.0/8", "fd00::/8"]
    assert split_allow_list("") == []


def test_helpers() -> None:
    assert parse_address("fe80::1%eth0") == parse_address("fe80::1")
    assert parse_address("nope") is None
    assert normalise_host("[0:0:0::1]") == "::1"
    assert normalise_host(" WWW.Example.COM. ") == "www.example.com"
    address = parse_address("::ffff:10.0.0.1")
    assert address is not None
    assert classify(address) == "private"


def test_the_module_stays_free_of_scrapy_and_twisted() -> None:
    source = Path(__file__).resolve().parents[1] / "crawler" / "engine" / "addresses.py"
    tree = ast.parse(source.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "ipaddress", "re", "collections"}
