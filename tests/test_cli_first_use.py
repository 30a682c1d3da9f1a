"""What a new user meets in the first minutes: mistyped databases, quiet commands, clear words."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli

REPO = Path(__file__).resolve().parents[1]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"TRAWL_USER": ""})


def process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
           "TRAWL_USER": ""}
    return subprocess.run([sys.executable, "-m", "crawler.cli.main", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)


def closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("db", ["garbage", "sqlite:///typo.db"])
def test_only_init_creates_a_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      db: str) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["hits", "list"], ["seeds", "list"], ["stats"], ["crawls", "list"]):
        result = run("--db", db, *command)
        assert result.exit_code == 1, command
        assert "No Trawl database at" in result.output
        assert "run `trawl --db " in result.output
        assert "(none)" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing created under the mistyped name
    assert run("--db", db, "init").exit_code == 0
    assert run("--db", db, "hits", "list").exit_code == 0


def test_an_empty_postgresql_database_is_not_used_until_init(pg_url: str) -> None:
    result = run("--db", pg_url, "seeds", "list")
    assert result.exit_code == 1
    assert "No Trawl database at" in result.output


def test_a_crawl_of_a_closed_port_says_only_what_matters(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    assert run("--db", db, "init").exit_code == 0
    done = process(tmp_path, "--db", db, "crawl", f"http://127.0.0.1:{closed_port()}/",
                   "--no-progress")
    assert done.returncode == 1
    assert "connection refused" in done.stderr
    for noise in ("[scrapy", "WARNING", "ERROR:", "Traceback", "DeprecationWarning"):
        assert noise not in done.stderr, done.stderr
    verbose = process(tmp_path, "--db", db, "-v", "crawl",
                      f"http://127.0.0.1:{closed_port()}/", "--no-progress")
    assert "[scrapy" in verbose.stderr  # -v shows Scrapy's own lines


def test_recheck_prints_no_deprecation_warnings(tmp_path: Path) -> None:
    from storage.db import open_store
    from storage.notices import mark_sent, prepare_notices
    from storage.review import decide
    from tests.takedown_helpers import T0, HitSpec, add_hits

    db = f"sqlite:///{tmp_path}/t.db"
    store = open_store(db)
    try:
        ids = add_hits(store, [HitSpec(f"http://127.0.0.1:{closed_port()}/gone.jpg")])
        decide(store, ids, actor="alice", decision="confirm", now=T0)
        refs = [n.reference for n in prepare_notices(store, actor="tina", now=T0)]
        mark_sent(store, refs, actor="tina", now=T0)
    finally:
        store.close()
    done = process(tmp_path, "--db", db, "recheck", "--allow-address", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert "1 removed" in done.stdout
    assert "Warning" not in done.stderr, done.stderr
    assert "[scrapy" not in done.stderr


def test_tags_that_select_nothing_say_why(sqlite_url: str) -> None:
    added = run("--db", sqlite_url, "schedule", "add", "nightly", "--tag", "forums",
                "--every", "6h")
    assert added.exit_code == 0, added.output
    assert "no seed has the tag 'forums' yet" in added.output
    assert run("--db", sqlite_url, "seeds", "add", "http://127.0.0.1:9/",
               "--tag", "forums").exit_code == 0
    assert run("--db", sqlite_url, "seeds", "pause", "1").exit_code == 0
    crawl = run("--db", sqlite_url, "crawl", "--tag", "forums")
    assert crawl.exit_code == 1
    assert "Every seed with the tag 'forums' is paused (ids 1)" in crawl.output
    assert "trawl seeds resume 1" in crawl.output


def test_a_non_url_gets_no_nonsense_suggestion(sqlite_url: str) -> None:
    result = run("--db", sqlite_url, "seeds", "add", "not a url")
    assert result.exit_code == 1
    assert "http://not a url" not in result.output
    assert "it is not a web address" in result.output
    typo = run("--db", sqlite_url, "seeds", "add", "forum.example/board")
    assert "write it as http://forum.example/board" in typo.output


def test_list_mistakes_are_named_without_echoing_bytes(sqlite_url: str, tmp_path: Path) -> None:
    from crawler.sitegen import images as gen

    plain = tmp_path / "md5s.txt"
    plain.write_text("d41d8cd98f00b204e9800998ecf8427e  a.jpg\n")
    result = run("--db", sqlite_url, "--as", "a", "hashes", "import", str(plain))
    assert result.exit_code == 1
    assert "`--type md5`" in result.output
    picture = tmp_path / "photo.jpg"
    picture.write_bytes(gen.photo_jpeg(3, size=(320, 240)))
    result = run("--db", sqlite_url, "--as", "a", "hashes", "import", str(picture))
    assert result.exit_code == 1
    assert "this is a JPEG image, not a hash list" in result.output
    assert "trawl hash --format csv" in result.output
    assert "JFIF" not in result.output
    assert "\\xff" not in result.output
