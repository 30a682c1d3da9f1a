"""Notices as files: one per notice in the chosen format, or all of them as one text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.services.notices import FORMATS
from crawler.services.notices.formats import to_csv, to_json
from crawler.services.notices.render import NoticeRenderer, eml_bytes, mbox_bytes

if TYPE_CHECKING:
    from storage.notices import NoticeInfo

EXTENSIONS = {"csv": "csv", "json": "json", "text": "txt", "eml": "eml"}
assert set(EXTENSIONS) == set(FORMATS)


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
