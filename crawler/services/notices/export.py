"""Notices as files: one per notice in the chosen format, or all of them as one text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.services.notices import FORMATS
from crawler.services.notices.formats import to_csv, to_json
from crawler.services.notices.render import NoticeRenderer, eml_bytes, mbox_bytes

if TYPE_CHECKING:
    from storage.db import Store
    from storage.notices import NoticeInfo

EXTENSIONS = {"csv": "csv", "json": "json", "text": "txt", "eml": "eml"}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "text": "text/plain; charset=utf-8", "eml": "message/rfc822"}
assert set(EXTENSIONS) == set(FORMATS) == set(MEDIA_TYPES)


@dataclass(frozen=True)
class NoticeFile:
    """One notice exported in one format: what a download or a file holds."""

    filename: str
    media_type: str
    content: bytes


def export_notice(store: Store, reference: str, fmt: str, renderer: NoticeRenderer, *,
                  actor: str) -> NoticeFile:
    """Notice `reference` in format `fmt`, as it is now; the export is audited as `actor`.
    Raises storage's UnknownIdError for an unknown reference."""
    from storage.audit import append_audit
    from storage.notices import list_notices
    from storage.review import UnknownIdError

    found = list_notices(store, references=[reference])
    if not found:
        raise UnknownIdError(f"no notice with reference {reference!r}; the Notices page "
                             "and `trawl notices list` show them")
    notice = found[0]
    content = notice_bytes(notice, fmt, renderer)
    with store.session() as session:
        append_audit(session, actor=actor, action="export", entity="notice",
                     entity_id=notice.id, detail={"reference": notice.reference,
                                                  "format": fmt})
    return NoticeFile(f"{notice.reference}.{EXTENSIONS[fmt]}", MEDIA_TYPES[fmt], content)


def notice_bytes(notice: NoticeInfo, fmt: str, renderer: NoticeRenderer) -> bytes:
    """One notice in one format, as its file holds it."""
    if fmt == "csv":
        return to_csv([notice]).encode()
    if fmt == "json":
        return to_json([notice], renderer.legal_basis).encode()
    if fmt == "text":
        return renderer.text(notice).encode()
    return eml_bytes(renderer.email(notice))


def notices_text(notices: Sequence[NoticeInfo], fmt: str, renderer: NoticeRenderer) -> str:
    """Every notice in one text for standard output (eml as an mbox)."""
    if fmt == "csv":
        return to_csv(list(notices))
    if fmt == "json":
        return to_json(list(notices), renderer.legal_basis)
    if fmt == "text":
        return "\n\f\n".join(renderer.text(n) for n in notices)
    return mbox_bytes([renderer.email(n) for n in notices]).decode()


def write_notices(
    notices: Sequence[NoticeInfo], fmt: str, out: Path, renderer: NoticeRenderer
) -> list[Path]:
    """Write <REFERENCE>.<ext> per notice under `out` (created 0700 if absent); returns the
    paths. Notices name abuse URLs: each file is created 0600 and never written through a
    symlink (crawler.files)."""
    from crawler.files import open_private, private_dir

    private_dir(out)
    written: list[Path] = []
    for notice in notices:
        path = out / f"{notice.reference}.{EXTENSIONS[fmt]}"
        with open_private(path, "wb") as handle:
            handle.write(notice_bytes(notice, fmt, renderer))
        written.append(path)
    return written
