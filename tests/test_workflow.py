"""The whole takedown workflow through the real CLI, on a generated site served on loopback:
crawl -> hits -> two analysts -> confirmed -> providers -> notices in every format -> sent ->
the site removes one image and changes another -> recheck -> removed / live -> re-notice due.
The audit table only ever grows, and no CLI path alters a row of it."""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.sitegen import images as gen
from crawler.sitegen.server import Reply, RouteServer
from matchers.hashing import hash_image
from tests.takedown_helpers import audit_rows, make_store

REPO = Path(__file__).resolve().parents[1]
SECOND_HOST = "127.0.0.2"


def png(img: Any) -> bytes:
    return gen.encode(img, "png")


class Site:
    """Two loopback hosts: pages and images A, B on 127.0.0.1; C and D on 127.0.0.2."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.one = RouteServer("127.0.0.1", self.log)
        self.two = RouteServer(SECOND_HOST, self.log)
        self.a = gen.photo_jpeg(11, size=(320, 240))
        self.b = gen.photo_jpeg(12, size=(320, 240))
        self.c_image = gen.photo(13, size=(320, 240))
        self.c = png(self.c_image)
        self.d = png(gen.line_art(14, size=(200, 150)))
        self.benign = gen.photo_jpeg(15, size=(160, 120))
        one, two = self.one.base_url, self.two.base_url
        self.urls = {"a": f"{one}/img/a.jpg", "b": f"{one}/img/b.jpg", "c": f"{two}/c.png",
                     "d": f"{two}/d.png"}
        self.page(self.one, "/", '<a href="/p1.html">one</a> <a href="/p2.html">two</a>')
        self.page(self.one, "/p1.html", f'<img src="/img/a.jpg"><img src="/img/b.jpg">'
                                        f'<img src="{self.urls["c"]}">')
        self.page(self.one, "/p2.html", f'<img src="/img/a.jpg"><img src="{self.urls["d"]}">'
                                        '<img src="/img/benign.jpg">')
        self.image(self.one, "/img/a.jpg", self.a, "image/jpeg")
        self.image(self.one, "/img/b.jpg", self.b, "image/jpeg")
        self.image(self.one, "/img/benign.jpg", self.benign, "image/jpeg")
        self.image(self.two, "/c.png", self.c, "image/png")
        self.image(self.two, "/d.png", self.d, "image/png")

    @staticmethod
    def page(server: RouteServer, path: str, body: str) -> None:
        html = f"<html><body>{body}</body></html>".encode()
        server.routes[path] = lambda _p, _h: Reply(200, html)

    @staticmethod
    def image(server: RouteServer, path: str, data: bytes, content_type: str) -> None:
        server.routes[path] = lambda _p, _h: Reply(200, data, content_type)

    def start(self) -> None:
        self.one.start()
        self.two.start()

    def stop(self) -> None:
        self.one.stop()
        self.two.stop()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.start()
    yield s
    s.stop()


class Trawl:
    """Runs CLI commands against one database and checks the audit trail after each one."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        self.db_url = db_url
        self.tmp = tmp
        self.store = make_store(db_url)
        self.audit = audit_rows(self.store)

    def check_audit(self, command: tuple[str, ...]) -> None:
        now = audit_rows(self.store)
        assert now[: len(self.audit)] == self.audit, f"audit rows changed by {command}"
        assert len(now) >= len(self.audit)
        self.audit = now

    def __call__(self, *args: str, actor: str | None = None, env: dict[str, str] | None = None,
                 ok: bool = True) -> Any:
        base = ["--db", self.db_url] + (["--as", actor] if actor else [])
        out = CliRunner().invoke(cli, [*base, *args], env={"TRAWL_USER": "", **(env or {})})
        if ok:
            assert out.exit_code == 0, f"{args}: {out.output}"
        self.check_audit(args)
        return out

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self(*args, **kw).stdout)

    def subprocess(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Commands that run Scrapy get their own process (Twisted's reactor runs once)."""
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "TRAWL_USER": "",
                    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "crawler.cli.main", "--db", self.db_url, *args],
            cwd=self.tmp, env=full_env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        self.check_audit(args)
        return done.stdout


def iso(value: datetime) -> str:
    return value.isoformat() + "Z"


def test_full_takedown_workflow(db_url: str, site: Site, tmp_path: Path) -> None:
    trawl = Trawl(db_url, tmp_path)
    sha = {k: hashlib.sha256(getattr(site, k)).hexdigest() for k in "abd"}
    pdq_c = hash_image(site.c).pdq
    assert pdq_c is not None
    known = tmp_path / "known.csv"
    known.write_text("hash_type,hash,label,category\n"
                     f"sha256,{sha['a']},series-a,A1\nsha256,{sha['b']},series-b,A1\n"
                     f"pdq,{pdq_c},series-c,B2\nsha256,{sha['d']},series-d,B2\n")
    trawl("hashes", "import", str(known), "--list", "hotline", actor="lead")

    # 1. Crawl the site: four hits, all pending, with pages and server IPs recorded.
    trawl.subprocess("crawl", site.one.base_url + "/", "--no-progress", "--depth", "2",
                     "--allow-address", SECOND_HOST)
    hits = {h["media_url"]: h for h in trawl.json("hits", "list", "--format", "json")}
    assert set(hits) == set(site.urls.values())
    ids = {k: hits[url]["id"] for k, url in site.urls.items()}
    assert {h["status"] for h in hits.values()} == {"pending"}
    assert hits[site.urls["c"]]["hash_type"] == "pdq"
    assert hits[site.urls["a"]]["list"] == "hotline"
    assert hits[site.urls["a"]]["label"] == "series-a"

    # 2. Two analysts; the two-person rule; a rejection is a negative signal.
    two = {"TRAWL_CONFIRMATIONS_REQUIRED": "2"}
    queue = trawl.json("review", "next", "--limit", "10", "--format", "json", actor="alice")
    assert {q["id"] for q in queue} == set(ids.values())
    trawl("review", "confirm", str(ids["a"]), str(ids["b"]), str(ids["c"]), "--note", "match",
          actor="alice", env=two)
    trawl("review", "reject", str(ids["d"]), "--note", "benign line art", actor="alice")
    assert {h["status"] for h in trawl.json("hits", "list", "--format", "json")} == {
        "pending", "rejected"}
    out = trawl("review", "confirm", str(ids["a"]), actor="alice", env=two)
    assert "already voted" in out.output
    bob_queue = trawl.json("review", "next", "--format", "json", actor="bob")
    assert {q["id"] for q in bob_queue} == {ids["a"], ids["b"], ids["c"]}
    assert {q["confirmations"] for q in bob_queue} == {1}
    trawl("review", "confirm", str(ids["a"]), str(ids["b"]), str(ids["c"]), actor="bob", env=two)
    statuses = {h["id"]: h["status"]
                for h in trawl.json("hits", "list", "--format", "json")}
    assert statuses == {ids["a"]: "confirmed", ids["b"]: "confirmed", ids["c"]: "confirmed",
                        ids["d"]: "rejected"}
    refused = trawl("review", "confirm", str(ids["d"]), actor="bob", ok=False)
    assert refused.exit_code != 0
    assert f"hit {ids['d']} is rejected; only pending hits can be confirmed" in refused.output
    refused = trawl("review", "confirm", str(ids["a"]), actor=None, ok=False)
    assert refused.exit_code != 0
    assert "--as NAME" in refused.output

    # The rejected image under a new URL is not queued again for the same known hash.
    Site.page(site.one, "/p2.html", '<img src="/img/d-copy.png">')
    Site.image(site.one, "/img/d-copy.png", site.d, "image/png")
    trawl.subprocess("crawl", site.one.base_url + "/", "--no-progress", "--depth", "2",
                     "--allow-address", SECOND_HOST)
    assert any(r.url.endswith("/img/d-copy.png") for r in site.log)  # fetched and hashed
    after = trawl.json("hits", "list", "--format", "json")
    assert len(after) == 4
    assert site.one.base_url + "/img/d-copy.png" not in {h["media_url"] for h in after}

    # 3. Providers: longest prefix wins (127.0.0.2/32 inside 127.0.0.0/8).
    providers = tmp_path / "providers.csv"
    providers.write_text("name,abuse_email,country,ranges,domains\n"
                         "Loopback Hosting,abuse@loopback.test,NL,127.0.0.0/8 ::1/128,\n"
                         "Second Loopback,abuse@second.test,DE,127.0.0.2/32,\n")
    trawl("providers", "import", str(providers), actor="lead")
    listed = trawl.json("providers", "list", "--format", "json")
    assert [p["name"] for p in listed] == ["Loopback Hosting", "Second Loopback"]

    # 4. Export in every format; the references are the same across formats until sent.
    legal = tmp_path / "legal.txt"
    legal.write_text("Under the Example Act 2024, section 7, remove this material.")
    sent = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    at_send = {"TRAWL_NOW": iso(sent)}
    exports: dict[str, Path] = {}
    for fmt in ("csv", "json", "text", "eml"):
        exports[fmt] = tmp_path / f"out-{fmt}"
        trawl("notices", "export", "--format", fmt, "--out", str(exports[fmt]),
              "--legal-basis-file", str(legal), "--from", "Hotline <reports@hotline.test>",
              actor="tina", env=at_send)
    day = f"{sent:%Y%m%d}"
    refs = {"one": f"TRAWL-{day}-loopback-hosting-1", "two": f"TRAWL-{day}-second-loopback-1"}
    for fmt, ext in (("csv", "csv"), ("json", "json"), ("text", "txt"), ("eml", "eml")):
        assert sorted(p.name for p in exports[fmt].iterdir()) == sorted(
            f"{r}.{ext}" for r in refs.values())
    rows = list(csv.DictReader(io.StringIO((exports["csv"] / f"{refs['one']}.csv").read_text())))
    by_url = {r["media_url"]: r for r in rows}
    assert set(by_url) == {site.urls["a"], site.urls["b"]}
    row_a = by_url[site.urls["a"]]
    assert (row_a["reference"], row_a["provider"], row_a["abuse_email"]) == (
        refs["one"], "Loopback Hosting", "abuse@loopback.test")
    assert sorted(row_a["page_urls"].split()) == [site.one.base_url + "/p1.html",
                                                   site.one.base_url + "/p2.html"]
    assert (row_a["server_ip"], row_a["match_type"], row_a["hash_type"], row_a["list"]) == (
        "127.0.0.1", "exact", "sha256", "hotline")
    for stamp in (row_a["first_seen"], row_a["last_seen"]):
        assert stamp.endswith("Z")
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    [doc] = json.loads((exports["json"] / f"{refs['two']}.json").read_text())
    assert (doc["reference"], doc["provider"], doc["abuse_email"], doc["kind"]) == (
        refs["two"], "Second Loopback", "abuse@second.test", "initial")
    assert doc["legal_basis"].startswith("Under the Example Act 2024")
    [item] = doc["items"]
    assert (item["media_url"], item["server_ip"], item["match_type"], item["hash_type"],
            item["list"]) == (site.urls["c"], SECOND_HOST, "perceptual", "pdq", "hotline")
    assert item["page_urls"] == [site.one.base_url + "/p1.html"]
    text = (exports["text"] / f"{refs['one']}.txt").read_text()
    assert refs["one"] in text
    assert site.urls["b"] in text
    assert "Example Act 2024" in text
    msg = email.message_from_bytes((exports["eml"] / f"{refs['two']}.eml").read_bytes(),
                                   policy=email.policy.default)
    assert msg["To"] == "Second Loopback <abuse@second.test>"
    assert msg["From"] == "Hotline <reports@hotline.test>"
    assert refs["two"] in msg["Subject"]
    assert site.urls["c"] in msg.get_body(("plain",)).get_content()

    # 5. Mark sent at S; the notices are not exported again until due.
    trawl("notices", "mark-sent", refs["one"], refs["two"], actor="tina", env=at_send)
    again = trawl("notices", "mark-sent", refs["one"], actor="tina", env=at_send, ok=False)
    assert again.exit_code != 0
    assert "already marked sent" in again.output
    assert trawl.json("notices", "export", "--format", "json", actor="tina", env=at_send) == []
    listed = trawl.json("notices", "list", "--format", "json")
    assert {(n["reference"], n["sent_by"], n["sent_at"]) for n in listed} == {
        (refs["one"], "tina", iso(sent)), (refs["two"], "tina", iso(sent))}
    notified = trawl.json("hits", "list", "--status", "notified", "--format", "json")
    assert {h["id"] for h in notified} == {ids["a"], ids["b"], ids["c"]}

    # 6. The site removes A, replaces B with another picture, re-encodes C (still PDQ-close).
    del site.one.routes["/img/a.jpg"]
    Site.image(site.one, "/img/b.jpg", gen.photo_jpeg(99, size=(320, 240)), "image/jpeg")
    Site.image(site.two, "/c.png", gen.encode(site.c_image, "jpeg", quality=70),
               "image/jpeg")
    later = {"TRAWL_NOW": iso(sent + timedelta(hours=25))}
    summary = json.loads(trawl.subprocess("recheck", "--format", "json", "--allow-address",
                                         "127.0.0.0/8", env=later))
    removed = {r["hit_id"]: r for r in summary["removed"]}
    assert set(removed) == {ids["a"], ids["b"]}
    assert removed[ids["a"]]["time_to_removal_seconds"] == 25 * 3600
    assert removed[ids["a"]]["provider"] == "Loopback Hosting"
    assert summary["live"] == [ids["c"]]
    shown = trawl.json("hits", "show", str(ids["b"]), "--format", "json")
    assert shown["status"] == "removed"
    assert "content changed" in shown["history"][-1]["detail"]
    shown = trawl.json("hits", "show", str(ids["a"]), "--format", "json")
    assert shown["time_to_removal_seconds"] == 25 * 3600
    assert [(h["actor"], h["action"]) for h in shown["history"] if h["action"] != "claim"] == [
        ("alice", "confirm_vote"), ("bob", "confirm"), ("tina", "notify"),
        ("recheck", "recheck")]
    assert shown["history"][-1]["detail"] == "HTTP 404"

    # 7. The live hit is due for a re-notice 24 h after the notice went out.
    [due] = trawl.json("notices", "export", "--due", "--format", "json", actor="tina", env=later)
    assert due["provider"] == "Second Loopback"
    assert due["kind"] == "renotice"
    assert [(i["hit_id"], i["item_kind"]) for i in due["items"]] == [(ids["c"], "overdue")]
    assert due["reference"] == f"TRAWL-{sent + timedelta(hours=25):%Y%m%d}-second-loopback-1"

    # 8. Stats: states, notices, time to removal per provider, the oldest still-live hit.
    stats = trawl.json("stats", "--format", "json", env=later)
    assert stats["hits_by_status"] == {"pending": 0, "confirmed": 0, "rejected": 1,
                                       "notified": 0, "live": 1, "removed": 2}
    assert stats["notices_sent"] == 2
    per = {p["provider"]: p for p in stats["providers"]}
    assert (per["Loopback Hosting"]["removed"], per["Loopback Hosting"]["median_hours"],
            per["Loopback Hosting"]["p90_hours"]) == (2, 25.0, 25.0)
    assert per["Second Loopback"]["still_live"] == 1
    assert [h["hit_id"] for h in stats["oldest_live"]] == [ids["c"]]

    # 9. The trail itself refuses to be edited, whatever the path.
    assert len(trawl.audit) > 10
    with pytest.raises(sa.exc.DBAPIError), trawl.store.session() as s:
        s.execute(sa.text("UPDATE audit SET actor = 'mallory'"))
    with pytest.raises(sa.exc.DBAPIError), trawl.store.session() as s:
        s.execute(sa.text("DELETE FROM audit"))
    trawl.check_audit(("direct SQL",))
    trawl.store.close()
