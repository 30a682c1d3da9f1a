"""Which internal addresses an operator lets crawls and re-checks reach: one rule for every command.

`trawl crawl`, `trawl recheck` and the scheduler take --allow-address (repeatable); the
environment variable TRAWL_ALLOW_ADDRESSES adds to it (comma- or space-separated). The
result is the Scrapy setting TRAWL_ALLOW_ADDRESSES the address middleware reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from crawler.engine.addresses import AddressPolicyError, parse_allowed_networks, split_allow_list
from crawler.errors import TrawlError

ALLOW_ENV = "TRAWL_ALLOW_ADDRESSES"
SETTING = "TRAWL_ALLOW_ADDRESSES"


class AddressAllowanceError(TrawlError, ValueError):
    """An --allow-address (or TRAWL_ALLOW_ADDRESSES) value that is not an address or block."""


def allowed_addresses(
    values: Iterable[str] = (), *, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """The networks given on the command line and in TRAWL_ALLOW_ADDRESSES, checked and
    without repeats, as CIDR strings. Raises AddressAllowanceError naming a bad value."""
    merged = split_allow_list(environ.get(ALLOW_ENV, ""))
    for value in values:
        merged += split_allow_list(value) or [value]
    try:
        return [str(net) for net in parse_allowed_networks(merged)]
    except AddressPolicyError as exc:
        source = f" (in {ALLOW_ENV})" if environ.get(ALLOW_ENV) else ""
        raise AddressAllowanceError(f"{exc}{source}") from None


def address_settings(
    values: Iterable[str] = (), *, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The crawl settings for these allowances (always present, so a crawl's setting is
    exactly what the operator said)."""
    return {SETTING: allowed_addresses(values, environ=environ)}
