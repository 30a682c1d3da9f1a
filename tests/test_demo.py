"""`trawl demo` for real, as a user runs it: a process that crawls the generated loopback site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from crawler.services.demo import files_containing
from storage.db import open_store
from storage.hits import list_hits

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(
    r"^Summary: (\d+)/(\d+) expected hits found, (\d+) missed, (\d+) unexpected: (OK|FAILED)\.$",
    re.MULTILINE,
)


def test_demo_finds_every_expected_hit(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    directory = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "demo", "--dir", str(directory)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    match = SUMMARY.search(done.stdout)
    assert match, done.stdout
    found, total, missed, unexpected, verdict = match.groups()
    assert int(total) > 0
    assert (int(found), int(missed), int(unexpected), verdict) == (int(total), 0, 0, "OK")
    assert done.stdout.count("  FOUND   ") == int(total)
    assert "(after the crawl, by rematch)" in done.stdout  # the late list's hits
    assert "none holds image bytes" in done.stdout

    # The demo database holds what the report says, and the lists it imported are on disk.
    assert sorted(p.name for p in directory.glob("*.csv")) == [
        "known-after-crawl.csv", "known-before-crawl.csv"]
    store = open_store(f"sqlite:///{directory / 'demo.db'}", migrate=False)
    try:
        hit_urls = {h.media_url for h in list_hits(store)}
    finally:
        store.close()
    assert len(hit_urls) == int(total)
    # Only hashes are kept: the demo leaves no image file behind. Besides the database and the
    # lists there is the matcher folder (demo.db.index/), which holds the known hashes only.
    assert {p.suffix for p in directory.iterdir()} <= {".db", ".csv", ".db-journal", ".db-wal",
                                                       ".db-shm", ".index"}
    # (the demo's own scan of every file under the folder printed "none holds image bytes")


def test_marker_scan_finds_image_bytes_on_disk(tmp_path: Path) -> None:
    """The demo's on-disk check really looks inside files (here one that would break rule 1)."""
    (tmp_path / "clean.db").write_bytes(b"hashes only")
    (tmp_path / "sub").mkdir()
    leaked = tmp_path / "sub" / "cache.bin"
    leaked.write_bytes(b"\x89PNG...TRAWLMARK-0123-k1...")
    assert files_containing(tmp_path, b"TRAWLMARK-0123") == [leaked]
