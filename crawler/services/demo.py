"""`trawl demo`: crawl a generated loopback site with the real CLI and show hits found/missed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import crawler
from crawler.engine.scope import canonicalize_url
from crawler.errors import TrawlError
from crawler.services.lists import import_list_file
from crawler.services.rematch import rematch
from crawler.sitegen.site import CSV_HEADER, SyntheticSite
from storage.crawls import CrawlInfo, list_crawls
from storage.db import Store, open_store
from storage.hits import HitRow, list_hits

DEMO_ACTOR = "trawl-demo"
LATE_LIST_SHARE = 3  # every third known image arrives in a list imported after the crawl
CRAWL_TIMEOUT_GRACE = 60.0  # seconds past the crawl's own budget before it is killed


class DemoError(TrawlError, RuntimeError):
    """The demo could not run (the crawl failed to start or died); the message says why."""


@dataclass(frozen=True)
class ImageOutcome:
    """One image URL: expected to hit or not, and what hit it (hash type, distance, label)."""

    url: str
    expected: bool
    matches: tuple[tuple[str, int, str, str], ...]  # (hash type, distance, label, transform)
    via_rematch: bool = False

    @property
    def found(self) -> bool:
        return bool(self.matches)


@dataclass(frozen=True)
class DemoReport:
    found: list[ImageOutcome]
    missed: list[ImageOutcome]
    unexpected: list[ImageOutcome]
    crawl: CrawlInfo | None
    database: Path
    leaked: list[Path] = field(default_factory=list)  # files holding image bytes: must be []
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missed and not self.unexpected and bool(self.found) and not self.leaked


def files_containing(directory: Path, marker: bytes) -> list[Path]:
    """Files under `directory` whose bytes include `marker` (every served image has it)."""
    return [p for p in sorted(directory.rglob("*")) if p.is_file() and marker in p.read_bytes()]


def _fresh_database(directory: Path) -> Path:
    """demo.db is the demo's own file: remove a previous run's (and its journal files)."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "demo.db"
    for suffix in ("", "-journal", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    return database


def write_lists(site: SyntheticSite, directory: Path) -> tuple[Path, Path]:
    """Split the site's known list in two: one imported before the crawl, one after it (so
    the demo also shows stored digests matched against a new list without re-crawling)."""
    rows = site.known_rows()
    labels = sorted({row[2] for row in rows})
    late = set(labels[LATE_LIST_SHARE - 1::LATE_LIST_SHARE])
    paths = (directory / "known-before-crawl.csv", directory / "known-after-crawl.csv")
    for path, keep in zip(paths, (False, True), strict=True):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            writer.writerows(row for row in rows if (row[2] in late) == keep)
    return paths


def _crawl_environment() -> dict[str, str]:
    """Run `python3 -m crawler.cli.main` from this checkout even when Trawl is not installed."""
    env = dict(os.environ)
    root = str(Path(crawler.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    return env


def run_crawl_subprocess(db_url: str, site: SyntheticSite, time_budget: float) -> None:
    """The real `trawl crawl`, in its own process (Twisted's reactor runs once per process).

    The synthetic site's images live on a second loopback host (its "CDN", site.cdn): the
    crawl may reach it only because the demo allows that one address explicitly, as an
    operator would with --allow-address."""
    command = [
        sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl", site.start_url,
        "--max-image-size", str(site.max_image_size), "--time-budget", str(time_budget),
        "--allow-address", site.cdn.address,
    ]
    try:
        done = subprocess.run(
            command, env=_crawl_environment(), capture_output=True, text=True,
            timeout=time_budget + CRAWL_TIMEOUT_GRACE, check=False,
        )
    except subprocess.TimeoutExpired:
        raise DemoError(
            f"The demo crawl did not stop within {time_budget + CRAWL_TIMEOUT_GRACE:.0f} s; "
            "it was killed. Run `trawl demo` again, or report it with your Python version."
        ) from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise DemoError(
            f"The demo crawl exited with code {done.returncode}. Its last output:\n{tail}"
        )


def compare(
    expected_urls: Sequence[str], hits: Sequence[HitRow], rematched: set[int],
) -> tuple[list[ImageOutcome], list[ImageOutcome], list[ImageOutcome]]:
    """Found, missed and unexpected image URLs; URLs compared in canonical form."""
    by_url: dict[str, list[HitRow]] = {}
    for hit in hits:
        by_url.setdefault(canonicalize_url(hit.media_url), []).append(hit)

    def outcome(url: str, expected: bool) -> ImageOutcome:
        rows = by_url.get(url, [])
        matches = tuple(sorted((m.hash_type, m.distance, m.label or m.list, m.transform or "")
                               for h in rows for m in h.matches))
        return ImageOutcome(url, expected, matches, any(h.id in rematched for h in rows))

    wanted = sorted({canonicalize_url(u) for u in expected_urls})
    results = [outcome(url, True) for url in wanted]
    found = [r for r in results if r.found]
    missed = [r for r in results if not r.found]
    unexpected = [outcome(url, False) for url in sorted(set(by_url) - set(wanted))]
    return found, missed, unexpected


def _describe(outcome: ImageOutcome) -> str:
    matched = ", ".join(f"{t} d={d}" + (f" after {turn}" if turn else "")
                        for t, d, _, turn in outcome.matches) or "-"
    labels = sorted({label for _, _, label, _ in outcome.matches})
    later = "  (after the crawl, by rematch)" if outcome.via_rematch else ""
    return f"{outcome.url}\n      {matched}  [{', '.join(labels)}]{later}"


def print_report(report: DemoReport, echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"Expected hits found ({len(report.found)}):")
    for outcome in report.found:
        echo(f"  FOUND   {_describe(outcome)}")
    echo(f"Expected hits missed ({len(report.missed)}):")
    for outcome in report.missed:
        echo(f"  MISSED  {outcome.url}")
    echo(f"Unexpected hits ({len(report.unexpected)}):")
    for outcome in report.unexpected:
        echo(f"  EXTRA   {_describe(outcome)}")
    crawl = report.crawl
    total = len(report.found) + len(report.missed)
    echo("")
    if crawl is not None:
        echo(f"Crawl {crawl.id}: {crawl.outcome}, {crawl.pages} pages, {crawl.images} images, "
             f"{crawl.hashed} hashed, {crawl.hits} matched, {crawl.errors} errors.")
    verdict = "OK" if report.ok else "FAILED"
    echo(f"Summary: {len(report.found)}/{total} expected hits found, {len(report.missed)} "
         f"missed, {len(report.unexpected)} unexpected: {verdict}.")
    for note in report.notes:
        echo(note)


def run_demo(
    directory: Path, *, echo: Callable[[str], None] = print, time_budget: float = 90.0,
) -> DemoReport:
    """Generate the site, import the first list, crawl, import the second list, rematch,
    and compare the hits with what the site says must be found. Nothing leaves loopback."""
    database = _fresh_database(directory)
    db_url = f"sqlite:///{database.resolve()}"
    started = time.monotonic()
    echo("Generating a synthetic site on 127.0.0.1 and 127.0.0.2 (benign generated images)...")
    try:
        site = SyntheticSite()
    except OSError as exc:
        raise DemoError(
            f"The demo could not start its web servers on 127.0.0.1 and 127.0.0.2 ({exc}). "
            "It needs both loopback addresses, as Linux provides by default."
        ) from None
    with site:
        before, after = write_lists(site, directory)
        store: Store = open_store(db_url)
        try:
            result = import_list_file(store, before, name="known-before-crawl", actor=DEMO_ACTOR)
            echo(f"Imported {before}: {result.added} known hashes.")
            echo(f"Crawling {site.start_url} with `trawl crawl` (images also on "
                 f"{site.cdn.base_url})...")
            run_crawl_subprocess(db_url, site, time_budget)
            first_hits = list_hits(store)
            crawled_hits = {h.id for h in first_hits}
            echo(f"Crawl done: {len(first_hits)} images matched. "
                 "Importing a list that arrived later...")
            result = import_list_file(store, after, name="known-after-crawl", actor=DEMO_ACTOR)
            echo(f"Imported {after}: {result.added} known hashes.")
            summary = rematch(store)
            echo(f"Rematched the {summary.media} stored images' hashes (no re-crawl): "
                 f"{summary.new_hits} more images matched, {summary.new_matches} new matches "
                 "in all.")
            hits = list_hits(store)
            crawls = list_crawls(store, limit=1)
        finally:
            store.close()
        expected = sorted(site.expected_hits)
        leaked = files_containing(directory, site.marker)
    rematched = {h.id for h in hits} - crawled_hits
    found, missed, unexpected = compare(expected, hits, rematched)
    if leaked:
        kept = ", ".join(str(p) for p in leaked)
        notes = [f"IMAGE BYTES FOUND ON DISK in {kept}: this breaks Trawl's first rule."]
    else:
        notes = [f"Checked every file in {directory}: none holds image bytes (each served "
                 "image carried a unique marker); only hashes were kept."]
    report = DemoReport(
        found=found, missed=missed, unexpected=unexpected,
        crawl=crawls[0] if crawls else None, database=database, leaked=leaked,
        notes=[
            *notes,
            f"Finished in {time.monotonic() - started:.1f} s. Look around: "
            f"trawl --db {db_url} hits list",
        ],
    )
    print_report(report, echo)
    return report
