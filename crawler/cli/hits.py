"""`trawl hits`: list hits and show all evidence for one (URLs and digests, never the image)."""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING, Any

import click

from crawler.cli.common import emit, format_option, opened_store, pass_config, rows_of
from crawler.clock import iso_z
from storage.policy import HIT_STATES

if TYPE_CHECKING:
    from crawler.config import Config
    from storage.evidence import HitDetail

LIST_COLUMNS = ("id", "status", "hash_type", "distance", "list", "label", "media_url",
                "page_url")
CSV_COLUMNS = ("id", "status", "media_url", "page_url", "hash_type", "distance", "confidence",
               "tier", "transform", "list", "label", "category", "server_ip", "created_at",
               "updated_at", "crawl_id")


@click.group("hits")
def hits() -> None:
    """Hits: crawled images whose digests match a known hash."""


@hits.command("list")
@click.option("--status", type=click.Choice(HIT_STATES), default=None,
              help="Only hits in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@format_option(("table", "json", "csv"))
@pass_config
def list_(config: Config, status: str | None, limit: int | None, fmt: str) -> None:
    """List hits, newest first."""
    from storage.hits import list_hits

    with opened_store(config) as store:
        rows = list_hits(store, status=status, limit=limit, newest_first=True)
    emit(rows, fmt, LIST_COLUMNS if fmt == "table" else CSV_COLUMNS)


def detail_document(detail: HitDetail) -> dict[str, Any]:
    doc: dict[str, Any] = rows_of([detail])[0]
    for key, value in doc.items():
        if key not in ("pages", "votes", "history") and hasattr(value, "isoformat"):
            doc[key] = iso_z(value)
    doc["pages"] = [{"page_url": p.page_url, "first_seen": iso_z(p.first_seen),
                     "last_seen": iso_z(p.last_seen), "times": p.times} for p in detail.pages]
    doc["votes"] = [{"actor": v.actor, "decision": v.decision, "note": v.note,
                     "at": iso_z(v.at)} for v in detail.votes]
    doc["history"] = [{"at": iso_z(h.at), "actor": h.actor, "action": h.action,
                       "from_state": h.from_state, "to_state": h.to_state, "detail": h.detail}
                      for h in detail.history]
    doc["notices"] = list(detail.notices)
    return doc


def _one_line(text: str) -> str:
    """`text` with control characters and line/paragraph separators escaped (\\n, \\u2028),
    so that a note with a newline cannot print as if it were another history line."""
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
    )


def _text(detail: HitDetail) -> str:
    d = detail_document(detail)
    ttr = detail.time_to_removal_seconds
    lines = [
        f"Hit {detail.id}: {detail.status}",
        f"  media URL:     {detail.media_url}",
        f"  host:          {detail.host}   server IP: {detail.server_ip or 'unknown'}",
        f"  provider:      {detail.provider} (via {detail.attributed_via})"
        + (f" <{detail.provider_abuse_email}>" if detail.provider_abuse_email else ""),
        f"  first seen:    {d['first_seen']}   last seen: {d['last_seen']}",
        f"  match:         {detail.match_type} {detail.hash_type} distance {detail.distance} "
        f"(confidence {detail.confidence:.2f}, tier {detail.tier})"
        + (f" after {detail.transform}" if detail.transform else ""),
        f"  known hash:    #{detail.known_hash_id} {detail.known_value}",
        f"  list:          {detail.list}   label: {detail.label or '-'}   "
        f"category: {detail.category or '-'}",
        f"  image:         {detail.format or '?'} {detail.width or '?'}x{detail.height or '?'} "
        f"{detail.size if detail.size is not None else '?'} bytes ({detail.content_type or '?'};"
        f" fetch {detail.fetch_status})",
        "  digests:",
    ]
    for name in ("md5", "sha1", "sha256", "phash", "dhash", "pdq"):
        value = getattr(detail, name)
        if value:
            extra = f" (quality {detail.pdq_quality})" if name == "pdq" else ""
            lines.append(f"    {name:<7} {value}{extra}")
    lines.append(f"  pages ({len(detail.pages)}):")
    lines += [f"    {p['page_url']}  (first {p['first_seen']}, last {p['last_seen']}, "
              f"seen {p['times']}x)" for p in d["pages"]]
    if detail.claimed_by:
        lines.append(f"  claimed by:    {detail.claimed_by} until {d['claimed_until']}")
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
        why = f"  {_one_line(h['detail'])}" if h["detail"] else ""
        lines.append(f"    {h['at']}  {_one_line(h['actor']):<12} {_one_line(h['action']):<13} "
                     f"{change}{why}")
    return "\n".join(lines)


@hits.command("show")
@click.argument("hit_id", type=int)
@format_option(("text", "json"))
@pass_config
def show(config: Config, hit_id: int, fmt: str) -> None:
    """Show all evidence for one hit: URLs, pages, digests, match, host, history."""
    from storage.evidence import get_hit_detail

    with opened_store(config) as store:
        detail = get_hit_detail(store, hit_id)
    if fmt == "json":
        click.echo(json.dumps(detail_document(detail), indent=2, default=str))
    else:
        click.echo(_text(detail))


def register(cli: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    cli.add_command(hits)
