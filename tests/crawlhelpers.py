"""Helpers for crawl tests: import a site's known list, run `trawl crawl` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from crawler.sitegen.site import SyntheticSite
from storage.db import open_store
from storage.known import KnownHashIn, import_known_list

REPO = Path(__file__).resolve().parents[1]
CRAWL_TIMEOUT = 240
# The synthetic site serves its images from a second loopback host (its "CDN"); a crawl may
# reach an internal address besides its seed's host only when allowed, so tests say so.
SITE_CDN_ALLOWANCE = "127.0.0.2"


def crawl_env(**extra: str) -> dict[str, str]:
    """The environment of a crawl process: this checkout first, no Public Suffix List
    download, and the synthetic site's CDN host allowed (TRAWL_ALLOW_ADDRESSES)."""
    env = dict(os.environ)
    env["TRAWL_ALLOW_ADDRESSES"] = SITE_CDN_ALLOWANCE
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    env.update(extra)
    return env


def import_site_list(db_url: str, site: SyntheticSite) -> None:
    store = open_store(db_url)
    try:
        import_known_list(
            store,
            name="synthetic",
            fmt="csv",
            source_file="sitegen",
            entries=[
                KnownHashIn(hash_type=t, value=v, label=label, source=src, category=cat)
                for t, v, label, src, cat in site.known_rows()
            ],
            actor="test",
        )
    finally:
        store.close()


def crawl_command(db_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl", *args]


def run_crawl_process(
    db_url: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`trawl crawl ARGS --format json` in a fresh process (the reactor runs once per process)."""
    return subprocess.run(
        crawl_command(db_url, *args, "--format", "json"),
        capture_output=True,
        text=True,
        env=env or crawl_env(),
        cwd=cwd or REPO,
        timeout=CRAWL_TIMEOUT,
        check=False,
    )


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.stdout.strip(), f"no summary on stdout; stderr:\n{done.stderr[-3000:]}"
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary
