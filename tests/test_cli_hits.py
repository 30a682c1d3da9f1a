"""`trawl hits list` and `trawl hits show`: every format parsed back, unknown ids refused."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from storage.review import decide
from tests.takedown_helpers import T0, HitSpec, add_hits, make_store

LISTED = {"id", "media_url", "page_url", "hash_type", "distance", "list", "label", "status"}


@pytest.fixture
def hits(db_url: str) -> list[int]:
    store = make_store(db_url)
    try:
        ids = add_hits(store, [
            HitSpec("http://img.test/a.png", page_urls=("http://site.test/1", "http://site.test/2")),
            HitSpec("http://img.test/b.png", hash_type="pdq", distance=9, label="series-b"),
            HitSpec("http://img.test/c.png"),
        ])
        decide(store, [ids[0]], actor="alice", decision="confirm", note="clear", now=T0)
        decide(store, [ids[2]], actor="alice", decision="reject", now=T0)
    finally:
        store.close()
    return ids


def run(db_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", db_url, *args], env={"TRAWL_USER": ""})


def test_hits_list_json_and_status_filter(db_url: str, hits: list[int]) -> None:
    out = run(db_url, "hits", "list", "--format", "json")
    assert out.exit_code == 0, out.output
    rows = {r["id"]: r for r in json.loads(out.output)}
    assert set(rows) == set(hits)
    a, b, c = (rows[i] for i in hits)
    assert set(a) >= LISTED
    assert (a["media_url"], a["page_url"], a["hash_type"], a["distance"], a["list"],
            a["label"], a["status"]) == ("http://img.test/a.png", "http://site.test/1", "sha256",
                                         0, "test-list", "series-a", "confirmed")
    assert (b["hash_type"], b["distance"], b["label"], b["status"]) == (
        "pdq", 9, "series-b", "pending")
    assert c["status"] == "rejected"
    out = run(db_url, "hits", "list", "--status", "pending", "--format", "json")
    assert [r["id"] for r in json.loads(out.output)] == [hits[1]]


def test_hits_list_csv_and_table(db_url: str, hits: list[int]) -> None:
    out = run(db_url, "hits", "list", "--format", "csv")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert set(rows[0]) >= LISTED
    assert {int(r["id"]) for r in rows} == set(hits)
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[hits[1]]["distance"] == "9"
    assert by_id[hits[1]]["hash_type"] == "pdq"
    out = run(db_url, "hits", "list")
    header = out.output.splitlines()[0].split()
    assert header == ["id", "status", "tier", "best_match", "transform", "matches", "label",
                      "media_url", "page_url"]


def test_hits_show_json_has_all_evidence(db_url: str, hits: list[int]) -> None:
    out = run(db_url, "hits", "show", str(hits[0]), "--format", "json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["media_url"] == "http://img.test/a.png"
    assert [p["page_url"] for p in doc["pages"]] == ["http://site.test/1", "http://site.test/2"]
    assert doc["pages"][0]["first_seen"] == "2024-05-01T12:00:00Z"
    assert len(doc["sha256"]) == 64
    assert len(doc["md5"]) == 32
    assert len(doc["sha1"]) == 40
    assert (doc["list"], doc["label"], doc["category"], doc["hash_type"], doc["match_type"]) == (
        "test-list", "series-a", "A1", "sha256", "exact")
    assert (doc["distance"], doc["confidence"], doc["tier"]) == (0, 1.0, "high")
    assert (doc["server_ip"], doc["first_seen"], doc["last_seen"]) == (
        "127.0.0.1", "2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z")
    assert doc["provider"] == "unattributed (img.test)"
    assert [(h["actor"], h["action"], h["from_state"], h["to_state"], h["detail"])
            for h in doc["history"]] == [("alice", "confirm", "pending", "confirmed", "clear")]
    assert doc["status"] == "confirmed"
    assert not any(k in doc for k in ("body", "image", "bytes", "thumbnail"))


def test_hits_show_text(db_url: str, hits: list[int]) -> None:
    out = run(db_url, "hits", "show", str(hits[1]))
    assert out.exit_code == 0, out.output
    assert f"Hit {hits[1]}: pending" in out.output
    assert "http://img.test/b.png" in out.output
    assert "perceptual pdq distance 9" in out.output
    assert "sha256" in out.output
    assert "http://site.test/index.html" in out.output


@pytest.mark.hostile
def test_a_note_with_newlines_cannot_pose_as_history_lines(db_url: str, hits: list[int]) -> None:
    forged = "\n    2024-05-01T13:00:00Z  bob          confirm       pending -> confirmed"
    store = make_store(db_url)
    try:
        decide(store, [hits[1]], actor="alice", decision="confirm",
               note=f"see ticket{forged}\u2028and more\x85", now=T0)
    finally:
        store.close()
    out = run(db_url, "hits", "show", str(hits[1]))
    assert out.exit_code == 0, out.output
    history = out.output.split("  history:\n", 1)[1].splitlines()
    assert len(history) == 1  # one decision, one line
    assert history[0].split("Z  ", 1)[1].startswith("alice        confirm")
    assert "see ticket\\n    2024-05-01T13:00:00Z  bob" in history[0]
    assert history[0].endswith("and more\\x85")
    assert "\\u2028" in history[0]
    doc = json.loads(run(db_url, "hits", "show", str(hits[1]), "--format", "json").output)
    assert doc["history"][-1]["detail"].startswith(f"see ticket{forged}")  # stored as written


def test_hits_show_unknown_id(db_url: str, hits: list[int]) -> None:
    out = run(db_url, "hits", "show", "999")
    assert out.exit_code != 0
    assert "no hit with id 999" in out.output
