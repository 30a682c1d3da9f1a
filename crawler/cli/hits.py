"""`trawl hits`: the images that matched, one row each, and all evidence for one of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from crawler.cli.common import emit, format_option, one_line, opened_store, pass_config, plain
from matchers.hashtypes import HASH_TYPES
from storage.policy import DEFAULT_TIER, HIT_STATES, TIER_CHOICES

if TYPE_CHECKING:
    from crawler.config import Config
    from storage.evidence import HitDetail
    from storage.records import HitRow

LIST_COLUMNS = ("id", "status", "tier", "best_match", "transform", "matches", "label",
                "media_url", "page_url")
CSV_COLUMNS = ("id", "status", "tier", "confidence", "media_url", "page_url", "hash_type",
               "distance", "transform", "list", "label", "category", "match_count",
               "page_count", "server_ip", "created_at", "updated_at", "crawl_id")

tier_option = click.option(
    "--tier", type=click.Choice(TIER_CHOICES), default=DEFAULT_TIER, show_default=True,
    help="Which images: the high tier (the review queue), the low tier (flat graphics, "
    "icons and tiny images only pHash/dHash support), or all.")


def best_match(row: HitRow) -> str:
    """"pdq d=3 (list)" for the image's best match."""
    return f"{row.hash_type} d={row.distance} ({row.list})" if row.hash_type else "-"


def hit_document(row: HitRow) -> dict[str, Any]:
    """One image as JSON: the best match's fields at the top level (simple scripts keep
    working), every match in `matches`."""
    doc: dict[str, Any] = plain({
        "id": row.id, "media_url": row.media_url, "page_url": row.page_url,
        "status": row.status, "tier": row.tier, "confidence": row.confidence,
        "hash_type": row.hash_type, "distance": row.distance, "transform": row.transform,
        "list": row.list, "label": row.label, "category": row.category,
        "page_urls": list(row.page_urls), "page_count": row.page_count,
        "server_ip": row.server_ip, "host": row.host, "sha256": row.sha256,
        "created_at": row.created_at, "updated_at": row.updated_at, "crawl_id": row.crawl_id,
        "claimed_by": row.claimed_by, "claimed_until": row.claimed_until,
        "confirmations": row.confirmations,
    })
    doc["matches"] = [plain(asdict(m)) for m in row.matches]
    return doc


def show_hits(rows: list[HitRow], fmt: str) -> None:
    """Hits as a table (one line per image), JSON (one object per image) or CSV."""
    if fmt == "json":
        click.echo(json.dumps([hit_document(r) for r in rows], indent=2))
        return
    if fmt == "table":
        emit([{"id": r.id, "status": r.status, "tier": r.tier, "best_match": best_match(r),
               "transform": r.transform, "matches": r.match_count, "label": r.label,
               "media_url": r.media_url, "page_url": r.page_url} for r in rows],
             fmt, LIST_COLUMNS)
        return
    emit([{**hit_document(r), "match_count": r.match_count} for r in rows], fmt, CSV_COLUMNS)


@click.group("hits")
def hits() -> None:
    """Hits: crawled images that match known hashes, one per image URL."""


@hits.command("list")
@click.option("--status", type=click.Choice(HIT_STATES), default=None,
              help="Only images in this state.")
@tier_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@format_option(("table", "json", "csv"))
@pass_config
def list_(config: Config, status: str | None, tier: str, limit: int | None, fmt: str) -> None:
    """List images that matched, newest first, with their best match."""
    from storage.hits import list_hits

    with opened_store(config) as store:
        rows = list_hits(store, status=status, tier=tier, limit=limit, newest_first=True)
    show_hits(rows, fmt)


BEST_MATCH_FIELDS = ("hash_type", "match_type", "distance", "transform", "list", "label",
                     "category")


def detail_document(detail: HitDetail) -> dict[str, Any]:
    """All evidence as JSON; the best match's fields also at the top level, as listings have
    them."""
    doc: dict[str, Any] = plain(asdict(detail))
    best = doc["matches"][0] if doc["matches"] else {}
    doc.update({name: best.get(name) for name in BEST_MATCH_FIELDS})
    doc["notices"] = list(detail.notices)
    return doc


def _text(detail: HitDetail) -> str:
    d = detail_document(detail)
    ttr = detail.time_to_removal_seconds
    lines = [
        f"Hit {detail.id}: {detail.status} (tier {detail.tier}, confidence "
        f"{detail.confidence:.2f})",
        f"  media URL:     {one_line(detail.media_url)}",
        f"  host:          {one_line(detail.host)}   server IP: {detail.server_ip or 'unknown'}",
        f"  provider:      {one_line(detail.provider)} (via {detail.attributed_via})"
        + (f" <{one_line(detail.provider_abuse_email)}>" if detail.provider_abuse_email
           else ""),
        f"  first seen:    {d['first_seen']}   last seen: {d['last_seen']}",
        f"  image:         {detail.format or '?'} {detail.width or '?'}x{detail.height or '?'} "
        f"{detail.size if detail.size is not None else '?'} bytes "
        f"({one_line(detail.content_type or '?')}; fetch {detail.fetch_status})",
        f"  matches ({len(detail.matches)}, best first):",
    ]
    for m in detail.matches:
        after = f" after {m.transform}" if m.transform else ""
        lines.append(
            f"    {m.match_type} {m.hash_type} distance {m.distance}/{m.threshold}{after}, "
            f"tier {m.tier}, confidence {m.confidence:.2f}: known hash #{m.known_hash_id} of "
            f"list {one_line(m.list)}, label {one_line(m.label or '-')}"
            + (f" ({one_line(m.known_variant)})" if m.known_variant else "")
            + f", category {one_line(m.category or '-')}")
    lines.append("  digests:")
    for name in HASH_TYPES:
        value = getattr(detail, name)
        if value:
            extra = f" (quality {detail.pdq_quality})" if name == "pdq" else ""
            lines.append(f"    {name:<7} {value}{extra}")
    lines.append(f"  pages ({len(detail.pages)}):")
    lines += [f"    {one_line(p['page_url'])}  (first {p['first_seen']}, last "
              f"{p['last_seen']}, seen {p['times']}x)" for p in d["pages"]]
    if detail.claimed_by:
        lines.append(f"  claimed by:    {one_line(detail.claimed_by)} until {d['claimed_until']}")
    for label, key in (("notified", "notified_at"), ("last checked", "last_checked_at"),
                       ("re-notice due", "renotice_due_at"), ("removed", "removed_at")):
        if d[key]:
            lines.append(f"  {label + ':':<14} {d[key]}")
    if ttr is not None:
        lines.append(f"  time to removal: {ttr / 3600:.1f} h")
    if detail.notices:
        lines.append(f"  notices:       {', '.join(detail.notices)}")
    lines.append("  history:")
    for h in d["history"]:
        change = (f"{h['from_state']} -> {h['to_state']}"
                  if h["from_state"] != h["to_state"] else (h["to_state"] or ""))
        why = f"  {one_line(h['detail'])}" if h["detail"] else ""
        lines.append(f"    {h['at']}  {one_line(h['actor']):<12} {one_line(h['action']):<13} "
                     f"{change}{why}")
    return "\n".join(lines)


@hits.command("show")
@click.argument("hit_id", type=int)
@format_option(("text", "json"))
@pass_config
def show(config: Config, hit_id: int, fmt: str) -> None:
    """Show all evidence for one image: URLs, pages, digests, every match, host, history."""
    from storage.evidence import get_hit_detail

    with opened_store(config) as store:
        detail = get_hit_detail(store, hit_id)
    if fmt == "json":
        click.echo(json.dumps(detail_document(detail), indent=2, default=str))
    else:
        click.echo(_text(detail))


def register(cli: click.Group) -> None:
    cli.add_command(hits)
