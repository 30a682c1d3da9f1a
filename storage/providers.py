"""Hosting providers: import the operator's table, and attribute a media URL to its host."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Executable, and_, bindparam, delete, func, or_, select

from storage.audit import append_audit
from storage.clock import utcnow
from storage.domains import host_of, registered_domain
from storage.errors import StorageError
from storage.models import Provider, ProviderDomain, ProviderRange

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Store

PROVIDER_COLUMNS = ("name", "abuse_email", "country", "ranges", "domains")
REQUIRED_COLUMNS = frozenset({"name"})
MAX_REPORTED_ERRORS = 20  # a broken file lists this many problems, then "and N more"
UNATTRIBUTED_PREFIX = "unattributed:"
SLUG_MAX_LENGTH = 40  # keeps TRAWL-YYYYMMDD-<slug>-<n> inside the 64-character reference column
IP_KEY_DIGITS = 39  # 2**128 has 39 decimal digits; keys are zero-padded so they sort as text

_LIST_SPLIT_RE = re.compile(r"[\s;,]+")
_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# Characters a provider name or address must not hold: they would break a notice's e-mail
# headers or a printed table into extra lines, or reorder what a reader sees. Control
# characters (C0, DEL, C1 such as NEL), line and paragraph separators (U+2028, U+2029), and
# the bidirectional formatting controls.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")

AttributionSource = Literal["ip", "domain", "unattributed"]


class ProviderFileError(StorageError, ValueError):
    """A provider table that cannot be imported; `.errors` holds (line, sentence) pairs."""

    def __init__(self, path: str, errors: Sequence[tuple[int, str]]) -> None:
        self.path = path
        self.errors = list(errors)
        self.line = self.errors[0][0] if self.errors else 0
        shown = [f"  line {line}: {msg}" for line, msg in self.errors[:MAX_REPORTED_ERRORS]]
        more = len(self.errors) - MAX_REPORTED_ERRORS
        if more > 0:
            shown.append(f"  ... and {more} more")
        super().__init__(
            f"{path}: {len(self.errors)} problem(s); nothing was imported. Fix these and "
            "import the file again:\n" + "\n".join(shown)
        )


@dataclass(frozen=True)
class ProviderSpec:
    """One parsed row of a provider table (line is the file line it came from)."""

    name: str
    abuse_email: str | None
    country: str | None
    ranges: tuple[str, ...]
    domains: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class ProviderInfo:
    id: int
    name: str
    slug: str
    abuse_email: str | None
    country: str | None
    ranges: tuple[str, ...]
    domains: tuple[str, ...]
    imported_at: datetime


@dataclass(frozen=True)
class ProviderImportResult:
    added: int
    updated: int
    ranges: int
    domains: int
    providers: tuple[str, ...]


@dataclass(frozen=True)
class Attribution:
    """Who hosts a media URL: a provider (via IP range or domain suffix) or, failing both,
    its registered domain so that unattributed hits are grouped rather than forgotten."""

    key: str  # provider name, or "unattributed:<registered domain>"
    name: str  # for display: provider name or "unattributed (<domain>)"
    provider_id: int | None
    abuse_email: str | None
    country: str | None
    via: AttributionSource
    matched: str | None  # the CIDR or domain suffix that matched

    @property
    def slug(self) -> str:
        return slugify(self.key.replace(":", "-"))


def slugify(name: str) -> str:
    """Lowercase ASCII letters and digits joined by single hyphens (used in notice references)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (slug[:SLUG_MAX_LENGTH].rstrip("-")) or "provider"


def ip_key(value: int) -> str:
    return f"{value:0{IP_KEY_DIGITS}d}"


# --- parsing ------------------------------------------------------------------------


def _normalise_domain(text: str) -> str:
    domain = text.strip().lower().lstrip("*").strip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"domain suffix {text!r} is not a valid host name") from exc
    labels = domain.split(".")
    if not domain or len(domain) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(
            f"domain suffix {text!r} is not a valid host name (letters, digits, hyphens and "
            "dots, e.g. cdn.example.com)"
        )
    return domain


def _unsafe_character(text: str) -> str | None:
    """The first character of `text` that has no place in a one-line value, described as
    "U+2028 LINE SEPARATOR" (None when there is none)."""
    for char in text:
        if unicodedata.category(char) in _UNSAFE_CATEGORIES or char in _BIDI_CONTROLS:
            name = unicodedata.name(char, "(a control character)")
            return f"U+{ord(char):04X} {name}"
    return None


def _check_name(name: str) -> str | None:
    if not name:
        return "the name column is empty; every provider needs a name"
    if (bad := _unsafe_character(name)) is not None:
        return (f"provider name {name[:60]!r} contains {bad}; a name must be one line of "
                "text, without control characters or line and paragraph separators")
    if len(name) > 255:
        return f"provider name {name[:60]!r}... is longer than 255 characters"
    return None


def _check_email(email: str | None) -> str | None:
    if email is None:
        return None
    if (bad := _unsafe_character(email)) is not None:
        return f"abuse_email {email[:60]!r} contains {bad}, which no address has"
    if not _EMAIL_RE.match(email):
        return f"abuse_email {email!r} is not an e-mail address like abuse@example.net"
    return None


def _network(text: str) -> str:
    """A CIDR range as stored, or ValueError with a hint for a host address with a prefix."""
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        hint = ""
        try:
            hint = f" (did you mean {ipaddress.ip_network(text, strict=False)}?)"
        except ValueError:
            pass
        raise ValueError(f"range {text!r} is not a CIDR network: {exc}{hint}") from None


def _split_parsed(text: str | None, parse: Callable[[str], str],
                  problems: list[str]) -> tuple[str, ...]:
    """The items of a space/comma/semicolon-separated cell, each parsed; problems noted."""
    out: list[str] = []
    for item in _LIST_SPLIT_RE.split((text or "").strip()):
        if not item:
            continue
        try:
            out.append(parse(item))
        except ValueError as exc:
            problems.append(str(exc))
    return tuple(dict.fromkeys(out))


def _parse_row(row: dict[str, str], line: int) -> tuple[ProviderSpec | None, list[str]]:
    name = (row.get("name") or "").strip()
    email = (row.get("abuse_email") or "").strip() or None
    country = (row.get("country") or "").strip().upper() or None
    problems = [p for p in (_check_name(name), _check_email(email)) if p]
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        problems.append(f"country {country!r} is not a two-letter ISO 3166 code such as NL")
    ranges = _split_parsed(row.get("ranges"), _network, problems)
    domains = _split_parsed(row.get("domains"), _normalise_domain, problems)
    if problems:
        return None, problems
    return ProviderSpec(name=name, abuse_email=email, country=country, ranges=ranges,
                        domains=domains, line=line), []


def _read_text(path: Path) -> str:
    label = str(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ProviderFileError(label, [(line, "the file is not UTF-8 text")]) from exc
    except OSError as exc:
        raise ProviderFileError(label, [(0, f"cannot read the file: {exc.strerror}")]) from exc


def _header_problem(header: list[str]) -> str | None:
    unknown = [c for c in header if c not in PROVIDER_COLUMNS]
    missing = sorted(REQUIRED_COLUMNS - set(header))
    if not unknown and not missing:
        return None
    return (f"the header must name the columns {','.join(PROVIDER_COLUMNS)}"
            + (f"; unknown column(s): {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else ""))


class _Repeats:
    """Names, ranges and domains seen so far in a provider file, with their lines."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}
        self.ranges: dict[str, int] = {}
        self.domains: dict[str, int] = {}

    def check(self, spec: ProviderSpec, line: int) -> list[str]:
        problems = []
        key = spec.name.lower()
        if key in self.names:
            problems.append(f"provider {spec.name!r} already appears on line {self.names[key]}")
        self.names.setdefault(key, line)
        for kind, seen, values in (("range", self.ranges, spec.ranges),
                                   ("domain", self.domains, spec.domains)):
            for value in values:
                if value in seen:
                    problems.append(f"{kind} {value} already belongs to the provider on line "
                                    f"{seen[value]}")
                seen.setdefault(value, line)
        return problems


def _is_blank(cells: list[str]) -> bool:
    """An empty line or a # comment."""
    return not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#")


def parse_provider_file(path: Path) -> list[ProviderSpec]:
    """Parse a provider CSV (header name,abuse_email,country,ranges,domains; ranges and
    domains are space-, comma- or semicolon-separated). Every problem is collected with its
    line number and raised together, so one run shows all that needs fixing."""
    text = _read_text(path)
    # io.StringIO splits lines at CR and LF only, as csv expects; str.splitlines would also
    # split at U+2028, U+0085 and the like, and then the reported line numbers go wrong.
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[tuple[int, str]] = []
    header: list[str] | None = None
    specs: list[ProviderSpec] = []
    repeats = _Repeats()
    try:
        for cells in reader:
            line = reader.line_num
            if _is_blank(cells):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                if (problem := _header_problem(header)) is not None:
                    errors.append((line, problem))
                    break
                continue
            if len(cells) != len(header):
                errors.append((line, f"expected {len(header)} columns, found {len(cells)}"))
                continue
            spec, problems = _parse_row(dict(zip(header, cells, strict=True)), line)
            if spec is not None:
                problems += repeats.check(spec, line)
                specs.append(spec)
            errors.extend((line, p) for p in problems)
    except csv.Error as exc:
        errors.append((reader.line_num, f"malformed CSV: {exc}"))
    if not errors and not specs:
        errors.append((1, "the file is empty; expected a header line "
                          f"{','.join(PROVIDER_COLUMNS)} and one provider per line")
                      if header is None else
                      (reader.line_num, "the file has a header but no providers"))
    if errors:
        raise ProviderFileError(str(path), errors)
    return specs


# --- import and listing ----------------------------------------------------------------


def import_providers(
    store: Store,
    specs: Sequence[ProviderSpec],
    *,
    actor: str,
    source_file: str | None = None,
) -> ProviderImportResult:
    """Upsert providers by name, replacing each one's ranges and domains, in one transaction.

    Providers absent from the file are kept: notices already sent refer to them."""
    label = source_file or "<providers>"
    added = updated = n_ranges = n_domains = 0
    now = utcnow()
    with store.session() as session:
        names = {s.name for s in specs}
        all_domains = {d: s for s in specs for d in s.domains}
        conflicts = session.execute(
            select(ProviderDomain.suffix, Provider.name)
            .join(Provider, Provider.id == ProviderDomain.provider_id)
            .where(ProviderDomain.suffix.in_(list(all_domains)))
        ).all() if all_domains else []
        clashes = [
            (all_domains[suffix].line, f"domain {suffix} already belongs to provider {owner!r}; "
                                       "remove it there first (or import both together)")
            for suffix, owner in conflicts
            if owner not in names
        ]
        if clashes:
            raise ProviderFileError(label, sorted(clashes))
        existing = {
            p.name: p for p in session.scalars(select(Provider).where(Provider.name.in_(names)))
        }
        for spec in specs:
            provider = existing.get(spec.name)
            if provider is None:
                provider = Provider(name=spec.name, imported_at=now)
                session.add(provider)
                added += 1
            else:
                updated += 1
                session.execute(delete(ProviderRange).where(
                    ProviderRange.provider_id == provider.id))
                session.execute(delete(ProviderDomain).where(
                    ProviderDomain.provider_id == provider.id))
            provider.abuse_email = spec.abuse_email
            provider.country = spec.country
            provider.imported_at = now
        session.flush()  # ids for new providers; old domains gone before new ones arrive
        for spec in specs:
            provider = existing.get(spec.name) or session.scalars(
                select(Provider).where(Provider.name == spec.name)).one()
            for cidr in spec.ranges:
                net = ipaddress.ip_network(cidr)
                session.add(ProviderRange(
                    provider_id=provider.id, cidr=cidr, version=net.version,
                    prefixlen=net.prefixlen, first=ip_key(int(net.network_address)),
                    last=ip_key(int(net.broadcast_address)),
                ))
                n_ranges += 1
            for domain in spec.domains:
                session.add(ProviderDomain(provider_id=provider.id, suffix=domain))
                n_domains += 1
        append_audit(
            session, actor=actor, action="import", entity="provider",
            detail=json.dumps({"file": source_file, "added": added, "updated": updated,
                               "ranges": n_ranges, "domains": n_domains}),
        )
    return ProviderImportResult(added, updated, n_ranges, n_domains,
                                tuple(s.name for s in specs))


def import_provider_file(store: Store, path: Path, *, actor: str) -> ProviderImportResult:
    """Parse and import a provider table; on any problem nothing is imported."""
    return import_providers(store, parse_provider_file(path), actor=actor, source_file=str(path))


def list_providers(store: Store) -> list[ProviderInfo]:
    with store.read_session() as session:
        ranges: dict[int, list[str]] = {}
        for pid, cidr in session.execute(
            select(ProviderRange.provider_id, ProviderRange.cidr).order_by(ProviderRange.id)
        ):
            ranges.setdefault(pid, []).append(cidr)
        domains: dict[int, list[str]] = {}
        for pid, suffix in session.execute(
            select(ProviderDomain.provider_id, ProviderDomain.suffix).order_by(ProviderDomain.id)
        ):
            domains.setdefault(pid, []).append(suffix)
        return [
            ProviderInfo(
                id=p.id, name=p.name, slug=slugify(p.name), abuse_email=p.abuse_email,
                country=p.country, ranges=tuple(ranges.get(p.id, ())),
                domains=tuple(domains.get(p.id, ())), imported_at=p.imported_at,
            )
            for p in session.scalars(select(Provider).order_by(func.lower(Provider.name)))
        ]


# --- attribution ----------------------------------------------------------------------


# Attribution runs for every page of hits, so its statements are built once (bound
# parameters, column rows rather than ORM objects): building an OR of range tests per
# request, and loading Provider objects, cost more than the queries themselves.
RANGE_CHUNK = 100
_PROVIDER_COLUMNS = (Provider.id, Provider.name, Provider.abuse_email, Provider.country)


@lru_cache(maxsize=RANGE_CHUNK)
def _ranges_holding(count: int) -> Executable:
    """Ranges holding any of `count` (version, key) pairs, bound as v0, k0, v1, k1, ..."""
    return (
        select(*_PROVIDER_COLUMNS, ProviderRange.cidr, ProviderRange.version,
               ProviderRange.first, ProviderRange.last, ProviderRange.prefixlen,
               ProviderRange.id.label("range_id"))
        .join(ProviderRange, ProviderRange.provider_id == Provider.id)
        .where(or_(*(and_(ProviderRange.version == bindparam(f"v{n}"),
                          ProviderRange.first <= bindparam(f"k{n}"),
                          ProviderRange.last >= bindparam(f"k{n}")) for n in range(count))))
    )


_DOMAINS_LISTED = (
    select(*_PROVIDER_COLUMNS, ProviderDomain.suffix)
    .join(ProviderDomain, ProviderDomain.provider_id == Provider.id)
    .where(ProviderDomain.suffix.in_(bindparam("suffixes", expanding=True)))
)


class Attributor:
    """Attributes hosts within one session, memoising by (ip, host) across a batch of hits.

    `prefetch` looks up a whole page of hits in two queries (ranges, domains); a lookup of
    one (ip, host) goes through the same functions, so there is one rule: the longest
    matching prefix (then the oldest range), else the longest matching domain suffix."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[str | None, str], Attribution] = {}

    def __call__(self, server_ip: str | None, host: str) -> Attribution:
        key = (server_ip, host)
        found = self._cache.get(key)
        if found is None:
            self.prefetch([key])
            found = self._cache[key]
        return found

    def prefetch(self, pairs: Iterable[tuple[str | None, str]]) -> None:
        """Attribute every (server ip, host) pair not seen yet, in two queries."""
        wanted = [p for p in dict.fromkeys(pairs) if p not in self._cache]
        if not wanted:
            return
        addresses = {p: _address_key(p[0]) for p in wanted}
        by_ip = self._by_ips({k for k in addresses.values() if k is not None})
        via_ip: dict[tuple[str | None, str], Attribution] = {}
        for pair, address in addresses.items():
            found = by_ip.get(address) if address is not None else None
            if found is not None:
                via_ip[pair] = found
        by_domain = self._by_domains({host for p in wanted if p not in via_ip
                                      for host in [p[1]] if host})
        for pair in wanted:
            self._cache[pair] = (via_ip.get(pair) or by_domain.get(pair[1])
                                 or _unattributed(pair[1]))

    def _by_ips(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Attribution]:
        """(ip version, key) -> the provider of the longest range holding it."""
        out: dict[tuple[int, str], Attribution] = {}
        if not keys:
            return out
        best: dict[tuple[int, str], tuple[int, int, Any, str]] = {}
        wanted = sorted(keys)
        for start in range(0, len(wanted), RANGE_CHUNK):
            chunk = wanted[start:start + RANGE_CHUNK]
            params = {name: value for n, (version, k) in enumerate(chunk)
                      for name, value in ((f"v{n}", version), (f"k{n}", k))}
            for row in self.session.execute(_ranges_holding(len(chunk)), params):
                for key in chunk:
                    if key[0] == row.version and row.first <= key[1] <= row.last:
                        held = best.get(key)
                        if held is None or (-row.prefixlen, row.range_id) < (-held[0], held[1]):
                            best[key] = (row.prefixlen, row.range_id, row, row.cidr)
        return {key: _of_provider(p, "ip", cidr) for key, (_, _, p, cidr) in best.items()}

    def _by_domains(self, hosts: set[str]) -> dict[str, Attribution]:
        """host -> the provider of its longest listed domain suffix."""
        suffixes = {host: _suffixes(host) for host in hosts}
        every = sorted({x for xs in suffixes.values() for x in xs})
        if not every:
            return {}
        found: dict[str, tuple[Any, str]] = {}
        for start in range(0, len(every), 500):
            for row in self.session.execute(_DOMAINS_LISTED,
                                            {"suffixes": every[start:start + 500]}):
                found[row.suffix] = (row, row.suffix)
        out: dict[str, Attribution] = {}
        for host, candidates in suffixes.items():
            match = next((found[x] for x in candidates if x in found), None)  # longest first
            if match is not None:
                out[host] = _of_provider(match[0], "domain", match[1])
        return out


def _address_key(server_ip: str | None) -> tuple[int, str] | None:
    """(ip version, range key) of a server address, or None when there is none."""
    if not server_ip:
        return None
    try:
        addr = ipaddress.ip_address(server_ip.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.version, ip_key(int(addr))


def _suffixes(host: str) -> list[str]:
    """a.b.example.org -> [a.b.example.org, b.example.org, example.org, org]: longest first."""
    labels = host.split(".") if host else []
    return [".".join(labels[i:]) for i in range(len(labels))]


def _of_provider(provider: Any, via: AttributionSource, matched: str) -> Attribution:
    """`provider`: a row with the columns of _PROVIDER_COLUMNS (or a Provider)."""
    return Attribution(
        key=provider.name, name=provider.name, provider_id=provider.id,
        abuse_email=provider.abuse_email, country=provider.country, via=via, matched=matched,
    )


def _unattributed(host: str) -> Attribution:
    domain = registered_domain(host, private_suffixes=False) if host else "unknown"
    return Attribution(
        key=f"{UNATTRIBUTED_PREFIX}{domain}", name=f"unattributed ({domain})", provider_id=None,
        abuse_email=None, country=None, via="unattributed", matched=domain,
    )


def attribute(session: Session, server_ip: str | None, media_url: str) -> Attribution:
    """Longest-prefix IP match, then longest domain-suffix match on the media host, then the
    registered domain as an "unattributed" group."""
    return Attributor(session)(server_ip, host_of(media_url))
