"""The crawl's fast paths keep their meaning: matching in the hash workers, writes off the
reactor thread, start-up without what a crawl never runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.crawlhelpers import crawl_env

POOL_SCRIPT = r"""
import json, sys
from pathlib import Path
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import defer, reactor
from crawler.engine.hashpool import HashPool
from crawler.engine.hashworker import match_to_dict
from crawler.sitegen.images import encode, textured
from matchers.decision import Matcher, KnownRef
from matchers.hashing import hash_image

IMAGES = [encode(textured(i, (256, 192)), "png", marker=b"m%d" % i) for i in range(4)]
digests = [hash_image(data) for data in IMAGES]
refs = [KnownRef(1, "list", "pdq", digests[0].pdq, "known-0"),
        KnownRef(2, "list", "sha256", digests[1].sha256, "known-1")]
path = Path(sys.argv[2])
Matcher.build(refs).save(path)
matcher = Matcher.load(path)
if sys.argv[3] == "memory":
    matcher = Matcher.build(refs)  # no file: process workers cannot match with it

@defer.inlineCallbacks
def main():
    pool = HashPool(sys.argv[1], 2, matcher=matcher, cache_bytes=14_000)
    pool.start()
    data = IMAGES + [IMAGES[0]]  # the last one: same bytes again
    results = yield defer.gatherResults([pool.analyse(d) for d in data])
    expected = [[match_to_dict(m) for m in matcher.match(d)] for d in digests + digests[:1]]
    print(json.dumps({
        "digests": [r.digests == d for r, d in zip(results, digests + digests[:1])],
        "matches": [None if r.matches is None else [match_to_dict(m) for m in r.matches]
                    for r in results],
        "expected": expected,
        "cached": [r.cached for r in results],
    }))
    pool.close()
    reactor.callLater(0.5, reactor.stop)

reactor.callWhenRunning(main)
reactor.run()
"""


@pytest.mark.parametrize("kind", ["process", "thread", "inline"])
def test_the_pool_matches_where_it_hashes_as_the_matcher_would(kind: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", POOL_SCRIPT, kind, str(tmp_path / "m.matcher"), "file"],
        capture_output=True, text=True, env=crawl_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(result["digests"])
    assert result["matches"] == result["expected"]
    assert [bool(m) for m in result["matches"]] == [True, True, False, False, True]
    assert result["cached"] == [False, False, False, False, True]  # identical bytes: once


def test_process_workers_leave_a_matcher_without_file_to_the_caller(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", POOL_SCRIPT, "process", str(tmp_path / "m.matcher"), "memory"],
        capture_output=True, text=True, env=crawl_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(result["digests"])
    assert result["matches"] == [None] * 5  # MatchPipeline matches these in the reactor


def test_a_hit_is_committed_at_once_and_the_rest_at_the_interval(tmp_path: Path) -> None:
    from crawler.engine.items import ImageItem
    from crawler.engine.pipelines.store import WriteThread
    from matchers.decision import KnownRef, Matcher
    from matchers.digests import Digests
    from storage.crawls import start_crawl
    from storage.db import open_store
    from storage.hits import list_hits
    from storage.known import KnownHashIn, import_known_list
    from storage.media import get_media_by_url

    url = f"sqlite:///{tmp_path / 't.db'}"
    store = open_store(url)
    sha = "ab" * 32
    import_known_list(store, name="l", fmt="csv", source_file="x", actor="test",
                      entries=[KnownHashIn("sha256", sha, "known", None, None)])
    crawl_id = start_crawl(store, start_urls=["http://127.0.0.1/"], seed_ids=[])
    known_id = 1
    matcher = Matcher.build([KnownRef(known_id, "l", "sha256", sha, "known")])
    plain = Digests(md5="0" * 32, sha1="0" * 40, sha256="cd" * 32, size=10)
    hit = Digests(md5="1" * 32, sha1="1" * 40, sha256=sha, size=10)
    writes = WriteThread(store, crawl_id, flush_interval=60.0, batch_size=500)
    reader = open_store(url)
    try:
        writes.hand_over([(ImageItem("http://127.0.0.1/a.jpg", "http://127.0.0.1/",
                                     digests=plain), ["http://127.0.0.1/"])])
        time.sleep(0.5)
        assert get_media_by_url(reader, "http://127.0.0.1/a.jpg") is None  # batched
        writes.hand_over([(ImageItem("http://127.0.0.1/b.jpg", "http://127.0.0.1/",
                                     digests=hit, matches=matcher.match(hit)),
                           ["http://127.0.0.1/"])])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list_hits(reader):
            time.sleep(0.05)
        assert [h.media_url for h in list_hits(reader)] == ["http://127.0.0.1/b.jpg"]
        assert get_media_by_url(reader, "http://127.0.0.1/a.jpg") is not None  # same commit
        writes.close()
        recorded, errors = writes.counts()
        assert (recorded.new_hits, errors) == (1, 0)
    finally:
        reader.close()
        store.close()


STARTUP_SCRIPT = r"""
import json, sys
from crawler.engine.process import trawl_settings
from scrapy.crawler import CrawlerProcess
process = CrawlerProcess(trawl_settings())
crawler = process.create_crawler("seed")
crawler._apply_settings()
from scrapy.extension import ExtensionManager
names = [type(e).__module__ + "." + type(e).__name__
         for e in ExtensionManager.from_crawler(crawler).middlewares]
from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
downloader = [type(m).__module__ + "." + type(m).__name__
              for m in DownloaderMiddlewareManager.from_crawler(crawler).middlewares]
print(json.dumps({"extensions": names, "downloader": downloader,
                  "modules": [m for m in ("aiohttp", "scrapy.extensions.remote_control",
                                          "scrapy.extensions.telnet", "alembic",
                                          "scrapy.downloadermiddlewares.cookies", "tldextract")
                              if m in sys.modules]}))
"""


def test_crawl_settings_never_load_what_a_crawl_never_runs() -> None:
    done = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True,
                          text=True, env=crawl_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "crawler.engine.extensions.crawlstats.CrawlStatsExtension" in result["extensions"]
    for never in ("TelnetConsole", "MemoryDebugger", "FeedExporter", "RemoteControl"):
        assert not any(name.endswith("." + never) for name in result["extensions"]), never
    assert "crawler.engine.middlewares.robots.SharedWaitRobotsTxtMiddleware" in result["downloader"]
    assert "scrapy.downloadermiddlewares.retry.RetryMiddleware" in result["downloader"]
    for never in ("OffsiteMiddleware", "CookiesMiddleware", "HttpCacheMiddleware"):
        assert not any(name.endswith("." + never) for name in result["downloader"]), never
    assert result["modules"] == []


def test_revision_applied_without_alembic_agrees_with_alembic() -> None:
    from storage.db import _script_directory, revision_applied
    from storage.migrations import HEAD_REVISION

    known = {s.revision for s in _script_directory().walk_revisions()}
    for revision in [*sorted(known), "nope"]:
        applied = {s.revision for s in _script_directory().iterate_revisions(HEAD_REVISION,
                                                                              "base")}
        assert revision_applied(HEAD_REVISION, revision) == (revision in applied)


DEPRECATION_SCRIPT = r"""
import inspect, json, sys
from scrapy.utils import deprecate
from crawler.engine.scrapystart import cheap_deprecation_lookups
with cheap_deprecation_lookups():
    swapped = deprecate.inspect is not inspect
    from scrapy.core.downloader import contextfactory, tls
print(json.dumps({"swapped": swapped, "restored": deprecate.inspect is inspect,
                  "modules": [contextfactory.ScrapyClientContextFactory.__module__,
                              contextfactory.AcceptableProtocolsContextFactory.__module__,
                              tls.ScrapyClientTLSOptions.__module__]}))
"""


def test_scrapy_deprecated_classes_keep_their_module_without_reading_sources() -> None:
    done = subprocess.run([sys.executable, "-c", DEPRECATION_SCRIPT], capture_output=True,
                          text=True, env=crawl_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["swapped"]
    assert result["restored"]
    assert result["modules"] == ["scrapy.core.downloader.contextfactory"] * 2 + [
        "scrapy.core.downloader.tls"]


def test_a_worker_whose_crawl_is_gone_before_it_is_ready_exits_quietly() -> None:
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the crawl ended (and closed its pipes) before the worker was ready
    try:
        done = subprocess.run([sys.executable, "-m", "crawler.engine.hashworker"],
                              stdin=subprocess.DEVNULL, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env=crawl_env(),
                              timeout=120, check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr


CHARSET_SCRIPT = r"""
import json, sys
from crawler.engine.scrapystart import charset_detection_on_first_use
with charset_detection_on_first_use():
    from crawler.engine.process import run_spider
loaded_at_import = "charset_normalizer" in sys.modules
from scrapy.http import TextResponse
body = "Déjà vu: ça coûte très cher, à peine trois œufs".encode("cp1252")
guessed = TextResponse("http://127.0.0.1/", body=body)
import charset_normalizer
real = charset_normalizer.from_bytes(body).best().encoding
print(json.dumps({"loaded_at_import": loaded_at_import, "encoding": guessed.encoding,
                  "real": real, "same_text": guessed.text == body.decode(real),
                  "module_is_real": type(charset_normalizer).__name__ == "module"}))
"""


def test_scrapy_imports_charset_detection_only_when_a_body_needs_it() -> None:
    done = subprocess.run([sys.executable, "-c", CHARSET_SCRIPT], capture_output=True,
                          text=True, env=crawl_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["loaded_at_import"]
    # A body with no declared encoding that is not UTF-8: Scrapy asks the real detector.
    assert result["encoding"] == result["real"]
    assert result["same_text"]
    assert result["module_is_real"]
