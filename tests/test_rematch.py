"""`trawl rematch`: stored digests matched against lists imported later, suppressions honoured."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.sitegen import images as gen
from matchers.hashing import hash_image
from matchers.hashtypes import PDQ_MATCH_THRESHOLD, PDQ_QUALITY_THRESHOLD
from storage.crawls import finish_crawl, start_crawl
from storage.db import Store, open_store
from storage.hits import list_hits
from storage.media import CrawlWriter, MediaRecord
from storage.review import decide

SIZE = (480, 360)
BASE = "http://127.0.0.1:9/img/"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def record(url: str, data: bytes) -> MediaRecord:
    d = hash_image(data)
    return MediaRecord(
        url=url, host="127.0.0.1", content_type="image/jpeg", size=d.size, format=d.format,
        width=d.width, height=d.height, frames=d.frames, md5=d.md5, sha1=d.sha1,
        sha256=d.sha256, phash=d.phash, dhash=d.dhash, pdq=d.pdq, pdq_quality=d.pdq_quality,
        server_ip="127.0.0.1", etag=None, last_modified=None, fetch_status=d.status,
        error=d.error,
    )


def store_media(db_url: str, images: dict[str, bytes]) -> None:
    """What a crawl without any list loaded leaves behind: media rows, no hits."""
    store = open_store(db_url)
    try:
        crawl_id = start_crawl(store, start_urls=[BASE], seed_ids=[])
        writer = CrawlWriter(store, crawl_id)
        for name, data in images.items():
            writer.add(record(BASE + name, data), [BASE + "page.html"], [])
        writer.close()
        finish_crawl(store, crawl_id, outcome="finished", stats={})
    finally:
        store.close()


def known() -> dict[str, bytes]:
    return {f"known-{s}.png": gen.encode(gen.photo(s, SIZE), "png") for s in (21, 22)}


def crawled() -> dict[str, bytes]:
    k21 = gen.photo(21, SIZE)
    k22 = gen.photo(22, SIZE)
    return {
        "copy.png": gen.encode(k21, "png"),  # byte-identical to a known image
        "half.jpg": gen.encode(gen.resize50(k21), "jpeg"),
        "recompressed.jpg": gen.encode(gen.jpeg60(k22), "jpeg"),
        "gray.png": gen.encode(gen.grayscale(k22), "png"),
        "other-1.jpg": gen.photo_jpeg(23, SIZE),
        "other-2.png": gen.encode(gen.chart(24), "png"),
        "broken.jpg": gen.truncated(gen.photo_jpeg(25, SIZE)),
    }


def expected_pairs(
    images: dict[str, bytes], lists: dict[str, bytes], pdq_threshold: int = PDQ_MATCH_THRESHOLD
) -> set[tuple[str, str, str]]:
    """Brute force, independent of the matcher: (image, known file, hash type) that match."""
    pairs = set()
    for name, data in images.items():
        d = hash_image(data)
        for known_name, known_data in lists.items():
            k = hash_image(known_data, fast=False)
            for hash_type in ("md5", "sha256"):
                if getattr(d, hash_type) == getattr(k, hash_type):
                    pairs.add((name, known_name, hash_type))
            if (d.pdq and k.pdq and (d.pdq_quality or 0) >= PDQ_QUALITY_THRESHOLD
                    and (int(d.pdq, 16) ^ int(k.pdq, 16)).bit_count() <= pdq_threshold):
                pairs.add((name, known_name, "pdq"))
    return pairs


def make_list(tmp_path: Path, images: dict[str, bytes]) -> Path:
    """The list maker's way: `trawl hash --format csv` over the known image files."""
    folder = tmp_path / "known"
    folder.mkdir()
    for name, data in images.items():
        (folder / name).write_bytes(data)
    made = run("hash", "--format", "csv", str(folder))
    assert made.exit_code == 0, made.output
    path = tmp_path / "known.csv"
    path.write_text(made.stdout)
    return path


def hit_pairs(store: Store) -> set[tuple[str, str, str]]:
    return {(h.media_url.removeprefix(BASE), str(h.label), h.hash_type) for h in list_hits(store)}


def rematch_json(db_url: str, *extra: str) -> dict[str, int]:
    result = run("--db", db_url, "rematch", "--json", *extra)
    assert result.exit_code == 0, result.output
    summary: dict[str, int] = json.loads(result.stdout)
    return summary


def test_rematch_finds_hits_in_images_crawled_before_the_list(
    db_url: str, tmp_path: Path
) -> None:
    images, lists = crawled(), known()
    store_media(db_url, images)
    nothing = run("--db", db_url, "rematch")
    assert nothing.exit_code == 0
    assert "No known hashes are loaded" in nothing.stdout

    list_file = make_list(tmp_path, lists)
    assert run("--db", db_url, "--as", "ana", "hashes", "import", str(list_file)).exit_code == 0
    want = expected_pairs(images, lists)
    # The scenario is only meaningful if it has exact, edited and unrelated images.
    assert {"copy.png", "half.jpg", "recompressed.jpg"} <= {name for name, _, _ in want}
    assert not {name for name, _, _ in want} & {"other-1.jpg", "other-2.png", "broken.jpg"}

    summary = rematch_json(db_url)
    assert summary["media"] == len(images)
    assert summary["matches"] == len(want)
    assert summary["new_hits"] == len(want)
    store = open_store(db_url)
    try:
        assert hit_pairs(store) == want
        assert {h.status for h in list_hits(store)} == {"pending"}
    finally:
        store.close()

    again = rematch_json(db_url)  # nothing new: the hits are already queued
    assert (again["matches"], again["new_hits"]) == (len(want), 0)


def test_rejected_pairs_are_not_queued_again(sqlite_url: str, tmp_path: Path) -> None:
    images, lists = crawled(), known()
    store_media(sqlite_url, {"half.jpg": images["half.jpg"]})
    run("--db", sqlite_url, "--as", "ana", "hashes", "import", str(make_list(tmp_path, lists)))
    assert rematch_json(sqlite_url)["new_hits"] == 1
    store = open_store(sqlite_url)
    try:
        (hit,) = list_hits(store)
        decide(store, [hit.id], actor="ana", decision="reject", note="not the same picture")
    finally:
        store.close()
    # The same bytes show up under another URL, next to an exact copy of a known image.
    store_media(sqlite_url, {"half-again.jpg": images["half.jpg"], "copy.png": images["copy.png"]})
    summary = rematch_json(sqlite_url)
    copy_pairs = expected_pairs({"copy.png": images["copy.png"]}, lists)
    assert summary["new_hits"] == len(copy_pairs)  # the rejected pair stays suppressed
    store = open_store(sqlite_url)
    try:
        names = {h.media_url.removeprefix(BASE) for h in list_hits(store, status="pending")}
    finally:
        store.close()
    assert names == {"copy.png"}


def test_threshold_override(sqlite_url: str, tmp_path: Path) -> None:
    images, lists = crawled(), known()
    store_media(sqlite_url, images)
    run("--db", sqlite_url, "--as", "ana", "hashes", "import", str(make_list(tmp_path, lists)))
    strict = expected_pairs(images, lists, pdq_threshold=4)
    assert strict < expected_pairs(images, lists)  # the resized copy is more than 4 bits off
    assert rematch_json(sqlite_url, "--threshold", "pdq=4")["new_hits"] == len(strict)


@pytest.mark.parametrize("bad", ["pdq", "pdq=x", "nohash=3", "=3"])
def test_bad_threshold_is_refused(sqlite_url: str, bad: str) -> None:
    result = run("--db", sqlite_url, "rematch", "--threshold", bad)
    assert result.exit_code == 1
    assert "TYPE=BITS" in result.stderr


def test_progress_on_stderr(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crawler.services.rematch

    monkeypatch.setattr(crawler.services.rematch, "PROGRESS_EVERY", 2)
    images, lists = crawled(), known()
    store_media(sqlite_url, images)
    run("--db", sqlite_url, "--as", "ana", "hashes", "import", str(make_list(tmp_path, lists)))
    result = run("--db", sqlite_url, "rematch")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("rematch:")]
    assert [line.split()[1] for line in lines] == ["2", "4", "6"]
    assert "new hits queued for review" in result.stdout
