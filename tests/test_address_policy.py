"""A crawled page cannot make Trawl connect to internal addresses: not by an <img>, not by a
redirect, not by the robots.txt it implies, not by a host name, not in a re-check; the
operator's --allow-address (or TRAWL_ALLOW_ADDRESSES) lets it, and refusals are counted."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.engine.addresses import AddressPolicy
from crawler.engine.resolver import PolicyResolver, ResolvedToRefusedAddress, use_policy
from crawler.services.addresses import AddressAllowanceError, address_settings, allowed_addresses
from crawler.sitegen import images as gen
from crawler.sitegen.server import LoggedRequest, Reply, RouteServer
from storage.db import open_store
from storage.media import get_media_by_url
from tests.crawlhelpers import crawl_env, run_crawl_process, summary_of

pytestmark = pytest.mark.hostile

PNG = gen.encode(gen.photo(5, size=(96, 72)), "png")


@dataclass
class Hosts:
    """A public-looking page on 127.0.0.1 that points at an 'internal' server on 127.0.0.3."""

    page: RouteServer
    internal: RouteServer
    internal_log: list[LoggedRequest]

    @property
    def start_url(self) -> str:
        return self.page.base_url + "/"

    def internal_paths(self) -> list[str]:
        return [r.url.removeprefix(self.internal.base_url) for r in self.internal_log]


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    internal_log: list[LoggedRequest] = []
    internal = RouteServer("127.0.0.3", internal_log)
    internal.routes.update({
        "/admin/internal-image.png": lambda _p, _h: Reply(200, PNG, "image/png"),
        "/redirected.png": lambda _p, _h: Reply(200, PNG, "image/png"),
        "/robots.txt": lambda _p, _h: Reply(200, b"User-agent: *\nAllow: /\n", "text/plain"),
    })
    page = RouteServer("127.0.0.1", [])
    inner = internal.base_url
    html = (
        f'<html><body><img src="{inner}/admin/internal-image.png">'
        '<img src="/hop.png">'
        f'<img src="http://localhost:{internal.port}/by-name.png">'
        f'<a href="{inner}/page">internal page</a></body></html>'
    ).encode()
    page.routes.update({
        "/": lambda _p, _h: Reply(200, html),
        "/hop.png": lambda _p, _h: Reply(302, b"", "text/plain",
                                         {"Location": f"{inner}/redirected.png"}),
        "/robots.txt": lambda _p, _h: Reply(200, b"User-agent: *\nAllow: /\n", "text/plain"),
    })
    for server in (internal, page):
        server.start()
    try:
        yield Hosts(page, internal, internal_log)
    finally:
        page.stop()
        internal.stop()


def _crawl(db_url: str, hosts: Hosts, *args: str, **env: str) -> dict[str, object]:
    done = run_crawl_process(db_url, hosts.start_url, "--no-progress", *args,
                             env=crawl_env(**env))
    assert done.returncode == 0, done.stderr[-3000:]
    return summary_of(done)


def test_a_page_cannot_make_trawl_fetch_from_another_internal_host(
    sqlite_url: str, hosts: Hosts
) -> None:
    summary = _crawl(sqlite_url, hosts)
    assert hosts.internal_log == []  # not the image, not the redirect target, not robots.txt
    stats = summary["stats"]
    assert isinstance(stats, dict)
    # the <img> at 127.0.0.3, the 302 to it, and localhost (a name resolving to 127.0.0.1)
    assert stats["trawl/address_refused/loopback"] == 3
    assert stats["trawl/pages"] == 1  # the seed's own host is allowed
    assert "trawl/errors" not in stats  # a refusal is a decision, not a network error
    store = open_store(sqlite_url)
    try:
        inner = hosts.internal.base_url
        for url in (f"{inner}/admin/internal-image.png", f"{hosts.page.base_url}/hop.png",
                    f"http://localhost:{hosts.internal.port}/by-name.png"):
            media = get_media_by_url(store, url)
            assert media is not None, url
            assert media.fetch_status == "refused", url
            assert media.server_ip is None
            assert media.sha256 is None
            assert "--allow-address" in (media.error or "")
    finally:
        store.close()
    shown = CliRunner().invoke(cli, ["--db", sqlite_url, "crawls", "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "Refused addresses" in shown.output
    assert "loopback  3" in shown.output


def test_the_allowance_lets_it(sqlite_url: str, hosts: Hosts) -> None:
    summary = _crawl(sqlite_url, hosts, "--allow-address", "127.0.0.3")
    paths = hosts.internal_paths()
    assert "/robots.txt" in paths
    assert "/admin/internal-image.png" in paths
    assert "/redirected.png" in paths
    stats = summary["stats"]
    assert isinstance(stats, dict)
    assert stats["trawl/address_refused/loopback"] == 1  # localhost is 127.0.0.1, not allowed
    assert stats["trawl/hashed"] == 2


def test_the_environment_variable_adds_to_the_allowance(sqlite_url: str, hosts: Hosts) -> None:
    summary = _crawl(sqlite_url, hosts, "--allow-address", "127.0.0.3",
                     TRAWL_ALLOW_ADDRESSES="127.0.0.1/32")
    stats = summary["stats"]
    assert isinstance(stats, dict)
    assert "trawl/address_refused" not in stats
    assert "/admin/internal-image.png" in hosts.internal_paths()


def test_a_bad_allowance_is_a_sentence_before_anything_runs(sqlite_url: str) -> None:
    done = CliRunner().invoke(cli, ["--db", sqlite_url, "crawl", "http://127.0.0.1:9/",
                                    "--allow-address", "10.0.0.1/8"])
    assert done.exit_code == 1
    assert "did you mean 10.0.0.0/8" in done.output
    as_setting = CliRunner().invoke(cli, ["--db", sqlite_url, "crawl", "http://127.0.0.1:9/",
                                          "-s", "TRAWL_ALLOW_ADDRESSES=intranet"])
    assert as_setting.exit_code == 1
    assert "'intranet' is not an IP address or CIDR block" in as_setting.output
    with pytest.raises(AddressAllowanceError, match="TRAWL_ALLOW_ADDRESSES"):
        allowed_addresses([], environ={"TRAWL_ALLOW_ADDRESSES": "nonsense"})


def test_allowances_merge_flag_and_environment() -> None:
    got = address_settings(["10.0.0.0/8", "fd00::/8,192.168.1.7"],
                           environ={"TRAWL_ALLOW_ADDRESSES": "127.0.0.1 10.0.0.0/8"})
    assert got == {"TRAWL_ALLOW_ADDRESSES": ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8",
                                             "192.168.1.7/32"]}


def test_the_resolver_checks_every_answer_it_gives() -> None:
    """The address connected to is the one the resolver hands out: an internal answer for
    a name (DNS rebinding included: each answer is checked, cached or fresh) is refused."""
    use_policy(AddressPolicy([], ["seed.example"]))
    try:
        with pytest.raises(ResolvedToRefusedAddress, match="metadata"):
            PolicyResolver._checked("169.254.169.254", "rebind.example")
        with pytest.raises(ResolvedToRefusedAddress, match="private network"):
            PolicyResolver._checked("10.1.2.3", "rebind.example")
        assert PolicyResolver._checked("10.1.2.3", "seed.example") == "10.1.2.3"
        assert PolicyResolver._checked("93.184.216.34", "rebind.example") == "93.184.216.34"
    finally:
        use_policy(AddressPolicy())


def test_a_recheck_of_an_internal_url_is_refused_unless_allowed(
    sqlite_url: str, hosts: Hosts, tmp_path: Path
) -> None:
    """Refused is inconclusive, never 'removed': the content may well still be there."""
    from storage.notices import mark_sent, prepare_notices
    from storage.review import decide
    from tests.takedown_helpers import T0, HitSpec, add_hits

    url = f"{hosts.internal.base_url}/admin/internal-image.png"
    store = open_store(sqlite_url)
    try:
        ids = add_hits(store, [HitSpec(url, sha256=hashlib.sha256(PNG).hexdigest())])
        decide(store, ids, actor="alice", decision="confirm", now=T0)
        mark_sent(store, [n.reference for n in prepare_notices(store, actor="tina", now=T0)],
                  actor="tina", now=T0)
    finally:
        store.close()

    def recheck(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "crawler.cli.main", "--db", sqlite_url, "recheck",
             "--format", "json", *args], env=crawl_env(TRAWL_NOW="2024-05-02T12:00:00Z"),
            capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    refused = recheck()
    assert hosts.internal_log == []
    assert refused["removed"] == []
    ((hit_id, why),) = refused["inconclusive"]
    assert hit_id == ids[0]
    assert "refused to connect to 127.0.0.3" in why
    allowed = recheck("--allow-address", "127.0.0.3")
    assert allowed["live"] == ids
    assert [r.url for r in hosts.internal_log] == [url]


def test_the_scheduler_hands_its_allowance_to_every_crawl(tmp_path: Path) -> None:
    from crawler.services.scheduler.processes import spawn_crawl

    show = [sys.executable, "-c", "import os; print(os.environ['TRAWL_ALLOW_ADDRESSES'])"]
    log = tmp_path / "logs" / "crawl-1.log"
    spawn_crawl(show, [], db_url="sqlite://", log_path=log,
                allow_addresses=["10.0.0.0/8", "127.0.0.3/32"]).wait(timeout=30)
    assert log.read_text().splitlines()[-1] == "10.0.0.0/8,127.0.0.3/32"
