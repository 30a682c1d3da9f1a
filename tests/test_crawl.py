"""`trawl crawl` end to end: the generated loopback site, real processes, real databases."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.sitegen.layout import EXPECTED_DROPS, EXPECTED_PAGES
from crawler.sitegen.site import SyntheticSite
from storage.crawls import get_crawl, list_crawls
from storage.db import open_store
from storage.hits import list_hits
from storage.media import get_media_by_url
from tests.crawlhelpers import (
    crawl_command,
    crawl_env,
    import_site_list,
    run_crawl_process,
    summary_of,
)


@pytest.fixture
def site() -> Iterator[SyntheticSite]:
    with SyntheticSite() as started:
        yield started


def _crawl_site(db_url: str, site: SyntheticSite, *args: str) -> dict[str, object]:
    done = run_crawl_process(
        db_url, site.start_url, "--max-image-size", str(site.max_image_size), *args
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return summary_of(done)


@pytest.mark.hostile
@pytest.mark.slow
def test_crawl_records_exactly_the_expected_hits_and_stats(
    db_url: str, site: SyntheticSite
) -> None:
    import_site_list(db_url, site)
    summary = _crawl_site(db_url, site)
    stats = summary["stats"]
    assert isinstance(stats, dict)

    store = open_store(db_url)
    try:
        hits = list_hits(store)
        assert {h.media_url for h in hits} == site.expected_hits
        for hit in hits:  # every page that showed the image is recorded
            assert site.expected[hit.media_url].pages <= set(hit.page_urls), hit.media_url
        # The copy turned 90 degrees matched PDQ once turned back; nothing else was turned.
        turned = site.url("/img/k0-turned.jpg", cdn=True)
        assert {(h.media_url, h.hash_type, h.transform) for h in hits if h.transform} == {
            (turned, "pdq", "rotate_270")
        }
        for url, expected in site.expected.items():
            media = get_media_by_url(store, url)
            assert media is not None, f"no media row for {url}"
            assert media.fetch_status == expected.status, url
            assert (media.sha256 is not None) == expected.has_digests, url
        served = get_media_by_url(store, site.url("/img/k0.jpg", cdn=True))
        assert served is not None
        assert served.server_ip == "127.0.0.2"
        crawl = get_crawl(store, int(str(summary["crawl_id"])))
    finally:
        store.close()

    assert summary["outcome"] == "finished"
    assert summary["pages"] == EXPECTED_PAGES
    assert summary["images"] == len(site.expected)
    assert summary["hits"] == len(site.expected_hits)
    # Not hashed: the download over the size cap, the 404 and the refused connection.
    assert summary["hashed"] == len(site.expected) - 3
    assert summary["errors"] == 2  # the 404 and the refused connection
    for key, count in EXPECTED_DROPS.items():
        assert stats.get(key) == count, key
    assert stats["trawl/drop/image_too_large"] == 1
    assert stats["trawl/digest_cache_hits"] == 1  # k0.jpg and k0-copy.jpg: same bytes
    assert stats["retry/count"] >= 1  # /flaky answered 500 once
    by_status: dict[str, int] = {}
    for expected in site.expected.values():
        by_status[expected.status] = by_status.get(expected.status, 0) + 1
    for status, count in by_status.items():
        assert stats[f"trawl/image_status/{status}"] == count, status
    assert (crawl.outcome, crawl.pages, crawl.images, crawl.hits) == (
        "finished", EXPECTED_PAGES, len(site.expected), len(site.expected_hits))

    # Scope, robots.txt and depth: none of these was ever requested.
    for url in site.never_fetched:
        assert site.requested(url) == 0, url
    # Each image URL fetched once although several pages show it; session ids collapsed.
    for url in site.expected:
        if url.startswith((site.main.base_url, site.cdn.base_url)):
            assert site.requested(url) == 1, url
    sessions = [r for r in site.log if r.url.split("?")[0].split(";")[0].endswith("/session")]
    assert len(sessions) == 1


@pytest.mark.slow
def test_recrawl_is_conditional_and_still_matches(sqlite_url: str, site: SyntheticSite) -> None:
    import_site_list(sqlite_url, site)
    _crawl_site(sqlite_url, site)
    before = len(site.log)
    second = _crawl_site(sqlite_url, site)
    stats = second["stats"]
    assert isinstance(stats, dict)
    conditional = [
        url for url, e in site.expected.items() if e.has_digests and "/view/" not in url
    ]
    assert stats["trawl/not_modified"] == len(conditional)
    assert second["hits"] == len(site.expected_hits)  # stored digests matched again
    revalidated = [r for r in site.log[before:] if r.url in conditional]
    assert all("if-none-match" in r.headers or "if-modified-since" in r.headers
               for r in revalidated)


@pytest.mark.hostile
@pytest.mark.slow
def test_trap_detector_and_page_limit_end_endless_sites(
    sqlite_url: str, site: SyntheticSite
) -> None:
    summary = _crawl_site(sqlite_url, site, "--depth", "500",
                          "-s", "TRAWL_TRAP_MAX_QUERY_VARIANTS=6")
    stats = summary["stats"]
    assert isinstance(stats, dict)
    calendar = {r.url for r in site.log if "/calendar?" in r.url}
    assert len(calendar) == 6
    assert stats["trawl/drop/trap"] >= 1
    assert site.requested(site.url("/deep/4")) == 1  # deep enough now

    site.log.clear()
    limited = _crawl_site(sqlite_url, site, "--max-pages", "4")
    pages = [r for r in site.log if "/img/" not in r.url and "/files/" not in r.url
             and not r.url.endswith("/robots.txt") and "/view/" not in r.url]
    assert limited["pages"] <= 4
    assert len({r.url for r in pages}) <= 4
    assert limited["stats"]["trawl/drop/page_limit"] >= 1  # type: ignore[index]


@pytest.mark.hostile
@pytest.mark.slow
def test_start_url_that_redirects_off_scope_is_not_followed(
    sqlite_url: str, site: SyntheticSite
) -> None:
    done = run_crawl_process(sqlite_url, site.url("/go-away"))
    assert done.returncode == 1
    assert "nothing crawled: all 1 start URLs failed" in done.stderr
    assert "off scope" in done.stderr
    for url in site.never_fetched:
        assert site.requested(url) == 0, url


@pytest.mark.slow
def test_unreachable_port_is_a_clear_failure(sqlite_url: str) -> None:
    port = SyntheticSite.closed_port()
    done = run_crawl_process(sqlite_url, f"http://127.0.0.1:{port}/")
    assert done.returncode == 1
    assert "nothing crawled: all 1 start URLs failed" in done.stderr
    assert "connection refused" in done.stderr
    assert summary_of(done)["outcome"] == "failed"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/file", "scheme 'ftp' is not supported"),
        ("gopher://127.0.0.1/", "scheme 'gopher' is not supported"),
        ("127.0.0.1:8000/page", "has no scheme"),
    ],
)
def test_unknown_url_scheme_is_refused_before_crawling(
    sqlite_url: str, url: str, message: str
) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "crawl", url])
    assert result.exit_code == 1
    assert message in result.output
    store = open_store(sqlite_url)
    try:
        assert list_crawls(store) == []  # no crawl row for a crawl that never started
    finally:
        store.close()


@pytest.mark.hostile
@pytest.mark.slow
def test_killed_crawl_keeps_the_hits_it_flushed(sqlite_url: str, site: SyntheticSite,
                                                tmp_path: Path) -> None:
    import_site_list(sqlite_url, site)
    # Endless and slow: the calendar trap with no trap limit and a delay per request.
    command = crawl_command(
        sqlite_url, site.start_url, "--depth", "100000", "--max-image-size",
        str(site.max_image_size), "-s", "TRAWL_TRAP_MAX_QUERY_VARIANTS=1000000",
        "-s", "DOWNLOAD_DELAY=0.3", "-s", "TRAWL_FLUSH_INTERVAL=0.5",
    )
    log = tmp_path / "crawl.err"
    with log.open("wb") as err:
        proc = subprocess.Popen(command, env=crawl_env(), cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        hits: list[object] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(hits) < 3:
            time.sleep(0.5)
            store = open_store(sqlite_url, migrate=False)
            try:
                hits = list(list_hits(store))
            finally:
                store.close()
            assert proc.poll() is None, f"the crawl ended early: {log.read_text()[-3000:]}"
        assert len(hits) >= 3
    finally:
        proc.send_signal(signal.SIGKILL)  # no-op if it already ended (the assert says why)
        proc.wait(10)
    store = open_store(sqlite_url, migrate=False)
    try:
        after = list_hits(store)
        assert len(after) >= len(hits)
        assert {h.media_url for h in after} <= site.expected_hits | {
            site.url("/img/k5-deep.jpg")}
    finally:
        store.close()


@pytest.mark.slow
def test_stored_seed_brings_its_own_depth_and_robots_switch(
    sqlite_url: str, site: SyntheticSite
) -> None:
    from crawler.engine.scope import registered_domain
    from storage.records import SeedSpec
    from storage.seeds import add_seeds

    store = open_store(sqlite_url)
    try:
        (seed,) = add_seeds(store, [SeedSpec(url=site.start_url,
                                             domain=registered_domain(site.start_url),
                                             depth=1, obey_robots=False)])
    finally:
        store.close()
    done = run_crawl_process(sqlite_url, "--seed", str(seed.id),
                             "--max-image-size", str(site.max_image_size))
    assert done.returncode == 0, done.stderr[-3000:]
    assert site.requested(site.url("/private/secret.html")) == 1  # robots.txt not obeyed
    assert site.requested(site.url("/deep/1")) == 1
    assert site.requested(site.url("/deep/2")) == 0  # the seed's depth 1
    store = open_store(sqlite_url)
    try:
        crawl = get_crawl(store, int(summary_of(done)["crawl_id"]))
    finally:
        store.close()
    assert crawl.seed_ids == (seed.id,)
    assert crawl.outcome == "finished"


def _endless_crawl(db_url: str, site: SyntheticSite, *args: str) -> list[str]:
    """A crawl that never ends by itself: the calendar trap unlimited, a delay per request."""
    return crawl_command(
        db_url, site.start_url, "--depth", "100000", "--max-image-size",
        str(site.max_image_size), "-s", "TRAWL_TRAP_MAX_QUERY_VARIANTS=1000000",
        "-s", "DOWNLOAD_DELAY=0.3", "--format", "json", *args,
    )


@pytest.mark.slow
def test_time_budget_ends_the_crawl_with_outcome_timeout(
    sqlite_url: str, site: SyntheticSite
) -> None:
    done = subprocess.run(_endless_crawl(sqlite_url, site, "--time-budget", "3"),
                          capture_output=True, text=True, env=crawl_env(), timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = summary_of(done)
    assert summary["outcome"] == "timeout"
    store = open_store(sqlite_url)
    try:
        assert get_crawl(store, int(summary["crawl_id"])).outcome == "timeout"
    finally:
        store.close()


@pytest.mark.slow
def test_sigterm_stops_gracefully_and_records_the_crawl(
    sqlite_url: str, site: SyntheticSite
) -> None:
    import_site_list(sqlite_url, site)
    proc = subprocess.Popen(_endless_crawl(sqlite_url, site), env=crawl_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and site.requested(site.url("/img/k4.jpg", cdn=True)) == 0:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert "stopped by a signal" in err
    store = open_store(sqlite_url)
    try:
        crawls = list_crawls(store)
        assert [c.outcome for c in crawls] == ["killed"]
        assert len(list_hits(store)) >= 1  # what it found before the signal is kept
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Nothing to crawl: give URLs, or add seeds with `trawl seeds add`."),
        (["--seed", "99"], "No seed with id 99"),
        (["--tag", "nothing"], "No seed has the tag 'nothing'"),
        (["http://127.0.0.1/", "-s", "NOEQUALS"], "Bad --set 'NOEQUALS'"),
    ],
)
def test_crawl_without_anything_to_crawl_says_what_to_do(
    sqlite_url: str, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "crawl", *args])
    assert result.exit_code == 1
    assert message in result.output


HASHPOOL_SCRIPT = r"""
import json, os, signal, sys
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import defer, reactor
from crawler.engine.hashpool import HashPool
from crawler.sitegen.images import encode, textured
from matchers.hashing import hash_image

IMAGES = [encode(textured(i, (256, 192)), "png", marker=b"m%d" % i) for i in range(6)]

@defer.inlineCallbacks
def main():
    pool = HashPool(sys.argv[1], 2)
    pool.start()
    pending = [pool.hash(data) for data in IMAGES]
    if sys.argv[1] == "process":  # kill one worker while it holds jobs: they are retried
        victim = pool._procs[0]
        os.kill(victim.transport.pid, signal.SIGKILL)
    results = yield defer.gatherResults(pending)
    expected = [hash_image(data) for data in IMAGES]
    print(json.dumps({"same": results == expected, "restarts": pool.restarts}))
    pool.close()
    reactor.callLater(0.5, reactor.stop)

reactor.callWhenRunning(main)
reactor.run()
"""


@pytest.mark.hostile
@pytest.mark.parametrize("kind", ["process", "thread", "inline"])
def test_hash_pool_gives_hash_image_results_and_survives_a_worker_crash(kind: str) -> None:
    import json

    done = subprocess.run([sys.executable, "-c", HASHPOOL_SCRIPT, kind], capture_output=True,
                          text=True, env=crawl_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["same"] is True
    assert result["restarts"] == (1 if kind == "process" else 0)


def test_every_image_waiting_for_a_hosts_robots_txt_obeys_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Twenty images on a second host requested at once all wait for its robots.txt; each
    gets its answer (Scrapy's own middleware let all but the first through as if the host
    had no robots.txt)."""
    from crawler.sitegen.images import encode, textured
    from crawler.sitegen.server import LoggedRequest, Reply, RouteServer

    log: list[LoggedRequest] = []
    cdn = RouteServer("127.0.0.2", log)
    site = RouteServer("127.0.0.1", log)
    picture = encode(textured(3, (32, 24)), "png")
    cdn.routes["/robots.txt"] = lambda p, h: Reply(200, b"User-agent: *\nDisallow: /blocked/\n",
                                                   "text/plain")
    cdn.start()
    site.start()
    try:
        for n in range(20):
            cdn.routes[f"/blocked/{n}.png"] = lambda p, h: Reply(200, picture, "image/png")
        images = "".join(f'<img src="{cdn.base_url}/blocked/{n}.png">' for n in range(20))
        site.routes["/"] = lambda p, h: Reply(
            200, f"<!doctype html><html><body>{images}</body></html>".encode(), "text/html")
        site.routes["/robots.txt"] = lambda p, h: Reply(404, b"")
        done = run_crawl_process(sqlite_url, site.base_url + "/", "--depth", "0",
                                 "--allow-address", "127.0.0.2")
    finally:
        site.stop()
        cdn.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    fetched = [r.url for r in log if "/blocked/" in r.url]
    assert fetched == []
    assert any(r.url.endswith("/robots.txt") and "127.0.0.2" in r.url for r in log)
