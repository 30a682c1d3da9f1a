"""Notices: grouping per provider, references, sending, re-notices, re-check outcomes, stats,
and the rendered formats (CSV, JSON, text, eml) parsed back."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from crawler.services.notices.formats import CSV_COLUMNS, to_csv, to_json
from crawler.services.notices.render import NoticeRenderer, header_value
from storage.evidence import get_hit_detail
from storage.notices import (
    RecheckResult,
    list_notices,
    mark_sent,
    prepare_notices,
    recheck_targets,
    record_recheck,
)
from storage.providers import import_provider_file
from storage.review import UnknownIdError, WorkflowError, decide
from storage.stats import percentile, takedown_stats
from tests.takedown_helpers import T0, HitSpec, add_hits, audit_rows, hit_status, make_store

PROVIDERS = """name,abuse_email,country,ranges,domains
Big Cloud,abuse@bigcloud.test,US,10.0.0.0/8,bigcloud.test
Tiny Host,abuse@tiny.test,NL,192.0.2.0/24,
"""


@pytest.fixture
def store(db_url: str, tmp_path: Path):
    s = make_store(db_url)
    path = tmp_path / "providers.csv"
    path.write_text(PROVIDERS)
    import_provider_file(s, path, actor="lead")
    yield s
    s.close()


def confirmed_hits(store) -> list[int]:
    ids = add_hits(store, [
        HitSpec("http://img.bigcloud.test/a.png", server_ip="10.1.1.1",
                page_urls=("http://site.test/1", "http://site.test/2")),
        HitSpec("http://img.bigcloud.test/b.png", server_ip="10.1.1.2", hash_type="pdq",
                distance=12),
        HitSpec("http://tiny.test/c.png", server_ip="192.0.2.7"),
        HitSpec("http://shop.example.co.uk/d.png", server_ip="198.51.100.5"),
        HitSpec("http://img.bigcloud.test/pending.png", server_ip="10.1.1.3"),
    ])
    decide(store, ids[:4], actor="alice", decision="confirm", now=T0)
    return ids


def test_notices_grouped_per_provider_with_references(store) -> None:
    a, b, c, d, pending = confirmed_hits(store)
    found = prepare_notices(store, actor="tina", now=T0)
    assert [(n.reference, n.provider, n.abuse_email, [i.hit_id for i in n.items]) for n in found
            ] == [
        ("TRAWL-20240501-big-cloud-1", "Big Cloud", "abuse@bigcloud.test", [a, b]),
        ("TRAWL-20240501-tiny-host-1", "Tiny Host", "abuse@tiny.test", [c]),
        ("TRAWL-20240501-unattributed-example-co-uk-1", "unattributed (example.co.uk)", None,
         [d]),
    ]
    first = found[0].items[0]
    assert first.page_urls == ("http://site.test/1", "http://site.test/2")
    assert (first.server_ip, first.match_type, first.hash_type, first.list_name) == (
        "10.1.1.1", "exact", "sha256", "test-list")
    assert found[0].items[1].match_type == "perceptual"
    assert {n.kind for n in found} == {"initial"}
    # Exporting again before sending reuses the same notices (references stay valid).
    again = prepare_notices(store, actor="tina", now=T0 + timedelta(minutes=5))
    assert [n.reference for n in again] == [n.reference for n in found]
    only = prepare_notices(store, actor="tina", provider="tiny-host", now=T0)
    assert [n.reference for n in only] == ["TRAWL-20240501-tiny-host-1"]
    unattributed = prepare_notices(store, actor="tina", provider="unattributed", now=T0)
    assert [n.provider for n in unattributed] == ["unattributed (example.co.uk)"]
    with pytest.raises(WorkflowError, match="no provider named 'Nobody'"):
        prepare_notices(store, actor="tina", provider="Nobody", now=T0)
    assert hit_status(store, pending) == "pending"


def test_mark_sent_is_all_or_nothing_and_starts_the_renotice_clock(store) -> None:
    a, b, *_ = confirmed_hits(store)
    refs = [n.reference for n in prepare_notices(store, actor="tina", now=T0)]
    before = audit_rows(store)
    with pytest.raises(UnknownIdError, match="TRAWL-NOPE"):
        mark_sent(store, [refs[0], "TRAWL-NOPE"], actor="tina", now=T0)
    assert audit_rows(store) == before
    assert hit_status(store, a) == "confirmed"
    sent_at = T0 + timedelta(hours=1)
    [sent] = mark_sent(store, [refs[0]], actor="tina", renotice_hours=24, now=sent_at)
    assert (sent.notified, sent.renotice_due_at) == ((a, b), sent_at + timedelta(hours=24))
    detail = get_hit_detail(store, a)
    assert (detail.status, detail.notified_at, detail.notices) == ("notified", sent_at, (refs[0],))
    assert [h.action for h in detail.history][-1] == "notify"
    with pytest.raises(WorkflowError, match=f"{refs[0]} was already marked sent"):
        mark_sent(store, [refs[0]], actor="tina", now=sent_at)
    # Sent hits are not exported again until their re-notice is due.
    later = [n.reference for n in prepare_notices(store, actor="tina", now=sent_at)]
    assert refs[0] not in later
    assert len(later) == 2
    assert prepare_notices(store, actor="tina", due_only=True, now=sent_at + timedelta(hours=23)
                           ) == []
    [due] = prepare_notices(store, actor="tina", due_only=True, now=sent_at + timedelta(hours=25))
    assert due.reference == "TRAWL-20240502-big-cloud-1"
    assert due.kind == "renotice"
    assert {i.item_kind for i in due.items} == {"overdue"}
    assert due.items[0].first_notified_at == sent_at
    resent = sent_at + timedelta(hours=26)
    mark_sent(store, [due.reference], actor="tina", now=resent)
    detail = get_hit_detail(store, a)
    assert detail.notified_at == sent_at  # first notice: the start of time to removal
    assert detail.renotice_due_at == resent + timedelta(hours=24)
    assert [h.action for h in detail.history][-1] == "renotice"


def test_recheck_outcomes_time_to_removal_and_stats(store) -> None:
    a, b, c, d, _ = confirmed_hits(store)
    refs = [n.reference for n in prepare_notices(store, actor="tina", now=T0)]
    mark_sent(store, refs, actor="tina", now=T0)
    targets = recheck_targets(store)
    assert {t.media_url for t in targets} >= {"http://img.bigcloud.test/a.png"}
    assert all(len(t.known_hash_ids) == 1 for t in targets)
    checked = T0 + timedelta(hours=30)
    summary = record_recheck(store, [
        RecheckResult(a, "gone", "HTTP 404"),
        RecheckResult(b, "live", "still matches (pdq distance 4)"),
        RecheckResult(c, "inconclusive", "HTTP 503"),
    ], actor="recheck", renotice_hours=24, now=checked)
    assert [(r.hit_id, r.time_to_removal_seconds, r.provider) for r in summary.removed] == [
        (a, 30 * 3600.0, "Big Cloud")]
    assert summary.live == (b,)
    assert summary.inconclusive == ((c, "HTTP 503"),)
    assert hit_status(store, a) == "removed"
    assert hit_status(store, c) == "notified"
    live = get_hit_detail(store, b)
    assert (live.status, live.renotice_due_at) == ("live", T0 + timedelta(hours=24))
    assert live.history[-1].detail == "still matches (pdq distance 4)"
    # A live hit is due again, and a later re-check can still find it live or removed.
    due = prepare_notices(store, actor="tina", due_only=True, now=checked)
    assert {i.hit_id: i.status for n in due for i in n.items} == {
        b: "live", c: "notified", d: "notified"}
    stats = takedown_stats(store, now=checked)
    assert stats.hits_by_status["removed"] == 1
    assert stats.hits_by_status["live"] == 1
    assert stats.notices_sent == 3
    big = next(p for p in stats.providers if p.provider == "Big Cloud")
    assert (big.notified, big.removed, big.still_live, big.median_hours, big.p90_hours) == (
        2, 1, 1, 30.0, 30.0)
    assert [h.hit_id for h in stats.oldest_live] == sorted(h.hit_id for h in stats.oldest_live)
    assert {h.hit_id for h in stats.oldest_live} == {b, c, d}
    assert record_recheck(store, [RecheckResult(a, "live", "x")], actor="r", now=checked
                          ).skipped == (a,)


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(x) for x in range(1, 11)], 90) == pytest.approx(9.1)


# --- formats ------------------------------------------------------------------------------


def test_csv_and_json_round_trip_every_field(store) -> None:
    confirmed_hits(store)
    found = prepare_notices(store, actor="tina", now=T0)
    rows = list(csv.DictReader(io.StringIO(to_csv(found))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 4
    first = rows[0]
    assert first["reference"] == "TRAWL-20240501-big-cloud-1"
    assert (first["provider"], first["abuse_email"], first["item_kind"]) == (
        "Big Cloud", "abuse@bigcloud.test", "new")
    assert first["media_url"] == "http://img.bigcloud.test/a.png"
    assert first["page_urls"].split(" ") == ["http://site.test/1", "http://site.test/2"]
    assert (first["server_ip"], first["first_seen"], first["last_seen"]) == (
        "10.1.1.1", "2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z")
    assert (first["match_type"], first["hash_type"], first["list"]) == (
        "exact", "sha256", "test-list")
    docs = json.loads(to_json(found, "LEGAL TEXT"))
    assert [d["reference"] for d in docs] == [r.reference for r in found]
    item = docs[0]["items"][1]
    assert item["media_url"] == "http://img.bigcloud.test/b.png"
    assert (item["match_type"], item["hash_type"], item["distance"]) == ("perceptual", "pdq", 12)
    assert docs[0]["legal_basis"] == "LEGAL TEXT"
    assert docs[0]["created_at"] == "2024-05-01T12:00:00Z"
    assert "label" not in item
    assert "category" not in item


def test_text_and_eml_render_and_parse(store, tmp_path: Path, monkeypatch) -> None:
    confirmed_hits(store)
    monkeypatch.setenv("TRAWL_LEGAL_BASIS", "Under the Example Act s.1 remove this.")
    notice = prepare_notices(store, actor="tina", now=T0)[0]
    renderer = NoticeRenderer(sender="Hotline <reports@hotline.test>")
    text = renderer.text(notice)
    assert "TAKEDOWN NOTICE TRAWL-20240501-big-cloud-1" in text
    assert "Under the Example Act s.1 remove this." in text
    assert "http://img.bigcloud.test/a.png" in text
    assert "http://site.test/2" in text
    msg = email.message_from_bytes(renderer.email(notice).as_bytes(), policy=email.policy.default)
    assert msg["To"] == "Big Cloud <abuse@bigcloud.test>"
    assert msg["From"] == "Hotline <reports@hotline.test>"
    assert "TRAWL-20240501-big-cloud-1" in msg["Subject"]
    assert msg["X-Trawl-Reference"] == "TRAWL-20240501-big-cloud-1"
    body = msg.get_body(("plain",)).get_content()
    assert "Under the Example Act" in body
    assert "http://img.bigcloud.test/b.png" in body
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "TRAWL-20240501-big-cloud-1.csv"
    assert len(list(csv.DictReader(io.StringIO(attachment.get_content())))) == 2
    custom = tmp_path / "mine.j2"
    custom.write_text("REF={{ notice.reference }} N={{ notice['items'] | length }}\n")
    assert NoticeRenderer(template=custom).text(notice) == "REF=TRAWL-20240501-big-cloud-1 N=2\n"


@pytest.mark.hostile
def test_eml_headers_cannot_be_injected(store) -> None:
    confirmed_hits(store)
    notice = prepare_notices(store, actor="tina", now=T0)[0]
    evil = replace(notice, provider="Evil\r\nBcc: victim@else.test", reference="R\nX-Bad: 1")
    raw = NoticeRenderer(sender="a@b.test\r\nBcc: spy@else.test").email(evil).as_bytes()
    headers = raw.split(b"\n\n", 1)[0].decode()
    assert "\nBcc:" not in headers
    assert "\nX-Bad:" not in headers
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None
    assert msg["X-Bad"] is None
    assert header_value("a\r\nb\tc\x00d") == "a b c d"


def test_list_notices_shows_sent_state(store) -> None:
    confirmed_hits(store)
    refs = [n.reference for n in prepare_notices(store, actor="tina", now=T0)]
    mark_sent(store, refs[:1], actor="tina", now=T0)
    listed = {n.reference: n for n in list_notices(store)}
    assert listed[refs[0]].sent_by == "tina"
    assert listed[refs[1]].sent_at is None
    assert [n.reference for n in list_notices(store, unsent_only=True)] == sorted(
        refs[1:], reverse=True)


# --- re-check spider -------------------------------------------------------------------------


def test_recheck_spider_classifies_every_outcome(sqlite_url: str, tmp_path: Path) -> None:
    """Real fetches from a loopback server, in a separate process (Scrapy's reactor)."""
    import hashlib
    import os
    import socket
    import subprocess
    import sys

    from crawler.sitegen import images as gen
    from crawler.sitegen.server import Reply, RouteServer
    from matchers.hashing import hash_image

    marker = b"TRAWL-RECHECK-MARKER-" + os.urandom(8).hex().encode()
    same = gen.photo_jpeg(21, size=(200, 150)) + marker  # decoders ignore the tail
    original = gen.photo(22, size=(200, 150))
    reencoded = gen.encode(original, "jpeg", quality=70)
    pdq = hash_image(gen.encode(original, "png")).pdq
    assert pdq is not None
    server = RouteServer("127.0.0.1", [])
    server.routes.update({
        "/same.jpg": lambda _p, _h: Reply(200, same, "image/jpeg"),
        "/changed.jpg": lambda _p, _h: Reply(200, gen.photo_jpeg(23, size=(200, 150)),
                                             "image/jpeg"),
        "/reencoded.jpg": lambda _p, _h: Reply(200, reencoded, "image/jpeg"),
        "/gone410.jpg": lambda _p, _h: Reply(410, b"gone"),
        "/busy.jpg": lambda _p, _h: Reply(503, b"try later"),
    })
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    server.start()
    try:
        base = server.base_url
        sha_same = hashlib.sha256(same).hexdigest()
        specs = {
            "same": HitSpec(f"{base}/same.jpg", sha256=sha_same),
            "changed": HitSpec(f"{base}/changed.jpg", sha256=hashlib.sha256(b"x").hexdigest()),
            "reencoded": HitSpec(f"{base}/reencoded.jpg", hash_type="pdq", known_value=pdq),
            "missing": HitSpec(f"{base}/missing.jpg"),
            "gone410": HitSpec(f"{base}/gone410.jpg"),
            "busy": HitSpec(f"{base}/busy.jpg"),
            "refused": HitSpec(f"http://127.0.0.1:{closed_port}/x.jpg"),
        }
        store = make_store(sqlite_url)
        ids = dict(zip(specs, add_hits(store, list(specs.values())), strict=True))
        decide(store, list(ids.values()), actor="alice", decision="confirm", now=T0)
        refs = [n.reference for n in prepare_notices(store, actor="tina", now=T0)]
        mark_sent(store, refs, actor="tina", now=T0)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
               "TRAWL_NOW": "2024-05-02T18:00:00Z", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
        done = subprocess.run(
            [sys.executable, "-m", "crawler.cli.main", "--db", sqlite_url, "recheck",
             "--format", "json", "--allow-address", "127.0.0.1"], env=env, capture_output=True,
            text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        outcome = {**{r["hit_id"]: "gone" for r in summary["removed"]},
                   **dict.fromkeys(summary["live"], "live"),
                   **{hit_id: "inconclusive" for hit_id, _ in summary["inconclusive"]}}
        assert {name: outcome[i] for name, i in ids.items()} == {
            "same": "live", "changed": "gone", "reencoded": "live", "missing": "gone",
            "gone410": "gone", "busy": "inconclusive", "refused": "gone"}
        assert all(r["time_to_removal_seconds"] == 30 * 3600 for r in summary["removed"])
        reasons = {i: get_hit_detail(store, i).history[-1].detail for i in ids.values()}
        assert reasons[ids["missing"]] == "HTTP 404"
        assert reasons[ids["refused"]] == "connection refused"
        assert reasons[ids["changed"]].startswith("content changed: matches none of its 1 ")
        assert reasons[ids["reencoded"]].startswith("still matches (pdq distance")
        assert reasons[ids["busy"]] == "inconclusive: HTTP 503"
        store.close()
        # Rule 1: the fetched bytes are nowhere on disk (database, WAL, working directory).
        written = [f for f in tmp_path.rglob("*") if f.is_file()]
        assert any(f.name.startswith("trawl.db") for f in written)
        assert not [f for f in written if marker in f.read_bytes()]
        assert marker.decode() not in done.stdout + done.stderr
    finally:
        server.stop()


def test_recheck_treats_dns_failure_as_gone_and_timeouts_as_inconclusive() -> None:
    from scrapy.http import Request
    from twisted.internet.error import DNSLookupError, TimeoutError
    from twisted.python.failure import Failure

    from spiders.recheck import RecheckSpider
    from storage.notices import RecheckTarget

    spider = RecheckSpider(targets=[RecheckTarget(7, "http://x.invalid/a.png", 1, (70,), ()),
                                    RecheckTarget(8, "http://x.invalid/b.png", 2, (80,), ())])
    items = []
    for index, exc in enumerate((DNSLookupError("x.invalid"), TimeoutError())):
        failure = Failure(exc)
        failure.request = Request(spider.targets[index].media_url,  # type: ignore[attr-defined]
                                  meta={"trawl_target": index})
        items += spider.on_error(failure)
    assert [(i.target, i.outcome, i.reason) for i in items] == [
        (0, "gone", "host name not found (DNS)"), (1, "inconclusive", "timed out")]
    assert all(i.body is None for i in items)


# --- CLI -----------------------------------------------------------------------------------


def test_cli_export_options_and_mark_sent(db_url: str, store, tmp_path: Path) -> None:
    import mailbox

    from click.testing import CliRunner

    from crawler.cli.main import cli

    a, b, c, d, _ = confirmed_hits(store)
    env = {"TRAWL_USER": "", "TRAWL_NOW": "2024-05-01T15:00:00Z",
           "TRAWL_LEGAL_BASIS": "Legal basis of the test."}

    def run(*args: str, actor: str | None = "tina"):
        base = ["--db", db_url] + (["--as", actor] if actor else [])
        return CliRunner().invoke(cli, [*base, *args], env=env)

    out = run("notices", "export", actor=None)
    assert out.exit_code != 0
    assert "--as NAME" in out.output
    out = run("notices", "export", "--provider", "Nobody")
    assert out.exit_code != 0
    assert "no provider named 'Nobody'" in out.output
    template = tmp_path / "t.j2"
    template.write_text("{{ notice.reference }}|{{ items | map(attribute='hit_id') | join(',') }}"
                        "|{{ legal_basis }}\n")
    out = run("notices", "export", "--provider", "Big Cloud", "--format", "text", "--template",
              str(template))
    assert out.stdout == f"TRAWL-20240501-big-cloud-1|{a},{b}|Legal basis of the test.\n"
    mbox_path = tmp_path / "all.mbox"
    out = run("notices", "export", "--format", "eml")
    mbox_path.write_text(out.stdout)
    subjects = sorted(m["Subject"] for m in mailbox.mbox(str(mbox_path)))
    assert len(subjects) == 3
    assert "[TRAWL-20240501-big-cloud-1]" in subjects[0]
    out = run("notices", "export", "--provider", "unattributed", "--format", "csv", "--mark-sent",
              "--renotice-hours", "48")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [int(r["hit_id"]) for r in rows] == [d]
    listed = json.loads(run("notices", "list", "--format", "json").stdout)
    sent = {n["reference"]: n for n in listed if n["sent_at"]}
    assert list(sent) == ["TRAWL-20240501-unattributed-example-co-uk-1"]
    assert sent["TRAWL-20240501-unattributed-example-co-uk-1"]["sent_by"] == "tina"
    detail = get_hit_detail(store, d)
    assert detail.status == "notified"
    assert detail.renotice_due_at is not None
    assert detail.renotice_due_at.isoformat() == "2024-05-03T15:00:00"
    assert hit_status(store, c) == "confirmed"
    out = run("notices", "mark-sent", "TRAWL-20240501-tiny-host-1", "TRAWL-NOPE")
    assert out.exit_code != 0
    assert "no notice with reference TRAWL-NOPE" in out.output
    assert hit_status(store, c) == "confirmed"
    out = run("stats", "--format", "json")
    assert json.loads(out.stdout)["notices_sent"] == 1
    assert "Images: pending 1, confirmed 3" in run("stats").stdout


@pytest.mark.hostile
def test_csv_cells_cannot_become_spreadsheet_formulas(store) -> None:
    confirmed_hits(store)
    first = prepare_notices(store, actor="tina", now=T0)[0]
    hostile = replace(first, provider='=HYPERLINK("http://evil.test","open")', items=[
        replace(item, media_url="+cmd|' /C calc'!A0") for item in first.items])
    rows = list(csv.DictReader(io.StringIO(to_csv([hostile]))))
    assert rows[0]["provider"] == '\'=HYPERLINK("http://evil.test","open")'
    assert rows[0]["media_url"] == "'+cmd|' /C calc'!A0"


@pytest.mark.hostile
def test_exported_notice_files_are_private_and_never_written_through_a_link(
    store, tmp_path: Path
) -> None:
    import stat

    from crawler.files import PrivateFileError
    from crawler.services.notices.export import write_notices

    confirmed_hits(store)
    notices = prepare_notices(store, actor="tina", now=T0)
    out = tmp_path / "notices"
    paths = write_notices(notices, "text", out, NoticeRenderer())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths} == {0o600}
    victim = tmp_path / "victim.txt"
    victim.write_text("not Trawl's")
    paths[0].unlink()
    paths[0].symlink_to(victim)  # planted by someone who could write the folder before
    with pytest.raises(PrivateFileError, match="symbolic link"):
        write_notices(notices, "text", out, NoticeRenderer())
    assert victim.read_text() == "not Trawl's"


def test_notices_paged_and_filtered_in_storage_and_what_awaits(store) -> None:
    """The web pages read notices a page at a time, per provider, and what would go into
    the next notices without preparing them."""
    from storage.notices import awaiting_notices

    a, b, c, d, _pending = confirmed_hits(store)
    waiting = awaiting_notices(store, now=T0)
    assert [(w.provider, [i.hit_id for i in w.items], w.overdue) for w in waiting] == [
        ("Big Cloud", [a, b], 0), ("Tiny Host", [c], 0),
        ("unattributed (example.co.uk)", [d], 0)]
    found = prepare_notices(store, actor="tina", now=T0)
    assert awaiting_notices(store, now=T0, due_only=True) == []
    newest_first = [n.reference for n in list_notices(store)]
    assert [n.reference for n in list_notices(store, limit=2)] == newest_first[:2]
    assert [n.reference for n in list_notices(store, limit=2, offset=2)] == newest_first[2:]
    assert [n.reference for n in list_notices(store, provider_key="BIG CLOUD")] == [
        found[0].reference]
    assert [n.reference for n in list_notices(
        store, provider_key="unattributed:example.co.uk")] == [found[2].reference]
    mark_sent(store, [found[1].reference], actor="tina", now=T0)
    assert [n.reference for n in list_notices(store, sent_only=True)] == [found[1].reference]
    later = T0 + timedelta(hours=25)
    [due] = awaiting_notices(store, now=later, due_only=True)
    assert (due.provider, due.overdue, [i.hit_id for i in due.items]) == ("Tiny Host", 1, [c])
