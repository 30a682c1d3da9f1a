"""Rule 1 proven on a real run: no image byte reaches any file, log or database row.

Every generated image carries a unique marker (PNG tEXt, JPEG/GIF comment, WebP XMP). A real
`trawl crawl` process (DEBUG logging, a JOBDIR, TMPDIR pointed at a test directory) crawls
the site; then every file under the working directory, the database directory, TMPDIR and
the JOBDIR, the process's own output, and every row of every table are searched for it.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crawler.sitegen.site import SyntheticSite
from storage.db import open_store
from tests.crawlhelpers import CRAWL_TIMEOUT, crawl_command, crawl_env, import_site_list

pytestmark = [pytest.mark.slow, pytest.mark.hostile]


def marker_forms(marker: bytes) -> list[bytes]:
    """The marker raw, in hex and in base64 at each of the three byte alignments."""
    forms = [marker, marker.hex().encode(), marker.hex().upper().encode()]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + marker)
        forms.append(encoded[4:-4])  # the part that does not depend on neighbouring bytes
    return forms


def _leaks(data: bytes, forms: list[bytes]) -> bool:
    return any(form in data for form in forms)


def _files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                yield path


def _rows_containing(db_url: str, forms: list[bytes]) -> list[str]:
    """Table and column of every value (text or binary) that contains the marker."""
    store = open_store(db_url, migrate=False)
    found: list[str] = []
    try:
        metadata = sa.MetaData()
        metadata.reflect(store.engine)
        with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for column, value in row._mapping.items():
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        if _leaks(raw, forms):
                            found.append(f"{table.name}.{column}")
    finally:
        store.close()
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_no_image_bytes_anywhere_after_a_real_crawl(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    work, tmpdir, jobdir = tmp_path / "work", tmp_path / "tmp", tmp_path / "job"
    for directory in (work, tmpdir):
        directory.mkdir()
    db_url = (f"sqlite:///{work / 'trawl.db'}" if backend == "sqlite"
              else str(request.getfixturevalue("pg_url")))
    with SyntheticSite() as site:
        import_site_list(db_url, site)
        command = crawl_command(
            db_url, site.start_url, "--max-image-size", str(site.max_image_size),
            "--log-level", "DEBUG", "-s", f"JOBDIR={jobdir}", "-s", "TRAWL_STATS_INTERVAL=1",
        )
        with (work / "crawl.out").open("wb") as out, (work / "crawl.err").open("wb") as err:
            done = subprocess.run(command, stdout=out, stderr=err, cwd=work, check=False,
                                  env=crawl_env(TMPDIR=str(tmpdir)), timeout=CRAWL_TIMEOUT)
        assert done.returncode == 0, (work / "crawl.err").read_text()[-3000:]
        # The crawl really handled the marked images (else the scan proves nothing).
        fetched = [url for url in site.expected if site.requested(url)]
        assert len(fetched) >= len(site.expected) - 1  # all but the refused connection
        forms = marker_forms(site.marker)

    assert jobdir.is_dir()  # the JOBDIR was written (request queues, dupefilter)
    scanned = list(_files_under(work, tmpdir, jobdir))
    assert any(p.name == "crawl.err" for p in scanned)
    leaks = [str(p) for p in scanned if _leaks(p.read_bytes(), forms)]
    assert leaks == [], f"image bytes found in {leaks}"
    assert _rows_containing(db_url, forms) == []


def test_marker_forms_find_encoded_copies() -> None:
    marker = b"TRAWLMARK-0123456789abcdef-k0"
    for shift in range(3):
        blob = b"x" * shift + marker + b"tail"
        assert _leaks(base64.b64encode(b"prefix" + blob), marker_forms(marker))
    assert _leaks(b"..." + marker.hex().encode() + b"...", marker_forms(marker))
    assert not _leaks(b"TRAWLMARK-0123 unrelated", marker_forms(marker))
