"""Machine-readable notice exports: one JSON document per notice, one CSV row per URL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from crawler.clock import iso_z
from storage.notices import NoticeInfo, NoticeItemInfo

CSV_COLUMNS = (
    "reference",
    "provider",
    "abuse_email",
    "item_kind",
    "hit_id",
    "media_url",
    "page_urls",
    "server_ip",
    "first_seen",
    "last_seen",
    "match_type",
    "hash_type",
    "list",
    "distance",
    "first_notified_at",
)
PAGE_URL_SEPARATOR = " "  # crawled URLs are canonical, so they never contain a space
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # spreadsheet formula injection


def item_document(item: NoticeItemInfo) -> dict[str, Any]:
    return {
        "hit_id": item.hit_id,
        "item_kind": item.item_kind,
        "media_url": item.media_url,
        "page_urls": list(item.page_urls),
        "server_ip": item.server_ip,
        "first_seen": iso_z(item.first_seen),
        "last_seen": iso_z(item.last_seen),
        "match_type": item.match_type,
        "hash_type": item.hash_type,
        "list": item.list_name,
        "distance": item.distance,
        "first_notified_at": iso_z(item.first_notified_at),
        "attributed_via": item.attributed_via,
    }


def notice_document(notice: NoticeInfo, legal_basis: str) -> dict[str, Any]:
    """The notice as plain data: what JSON export writes and what templates receive."""
    items = [item_document(i) for i in notice.items]
    return {
        "reference": notice.reference,
        "provider": notice.provider,
        "provider_key": notice.provider_key,
        "abuse_email": notice.abuse_email,
        "country": notice.country,
        "kind": notice.kind,
        "created_at": iso_z(notice.created_at),
        "created_by": notice.created_by,
        "sent_at": iso_z(notice.sent_at),
        "legal_basis": legal_basis,
        "new_count": sum(1 for i in notice.items if i.item_kind == "new"),
        "overdue_count": sum(1 for i in notice.items if i.item_kind == "overdue"),
        "items": items,
    }


def to_json(notices: Iterable[NoticeInfo], legal_basis: str) -> str:
    return json.dumps([notice_document(n, legal_basis) for n in notices], indent=2) + "\n"


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def to_csv(notices: Iterable[NoticeInfo]) -> str:
    """One row per URL, every notice in one table (the reference column tells them apart)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for notice in notices:
        for item in notice.items:
            doc = item_document(item)
            doc["page_urls"] = PAGE_URL_SEPARATOR.join(item.page_urls)
            row = {"reference": notice.reference, "provider": notice.provider,
                   "abuse_email": notice.abuse_email, **doc}
            writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()
