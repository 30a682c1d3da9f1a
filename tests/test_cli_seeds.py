"""`trawl seeds add/list` for real: URL validation, registered domains, options, upserts."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from crawler.cli.main import cli


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def seeds(db_url: str, *options: str) -> list[dict[str, object]]:
    result = run("--db", db_url, "seeds", "list", "--format", "json", *options)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_add_and_list_with_options(db_url: str) -> None:
    result = run(
        "--db", db_url, "seeds", "add", "https://www.Forum.Example.co.uk/board?b=2&a=1#top",
        "http://127.0.0.1:8080/gallery/", "--depth", "2", "--max-pages", "50",
        "--include-subdomains", "--ignore-robots", "--tag", "forum", "--tag", "uk",
        "--format", "json",
    )
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert [row["url"] for row in added] == [
        "https://www.forum.example.co.uk/board?a=1&b=2",  # canonical: host case, query order
        "http://127.0.0.1:8080/gallery/",
    ]
    assert [row["domain"] for row in added] == ["example.co.uk", "127.0.0.1"]
    for row in added:
        assert (row["depth"], row["max_pages"], row["include_subdomains"], row["obey_robots"],
                row["active"]) == (2, 50, True, False, True)
        assert list(row["tags"]) == ["forum", "uk"]
    assert seeds(db_url) == added


def test_defaults(sqlite_url: str) -> None:
    result = run("--db", sqlite_url, "seeds", "add", "https://example.org/")
    assert result.exit_code == 0, result.output
    assert "https://example.org/" in result.stdout  # table output by default
    (row,) = seeds(sqlite_url)
    assert (row["depth"], row["max_pages"], row["include_subdomains"], row["obey_robots"],
            list(row["tags"])) == (3, None, False, True, [])


def test_adding_the_same_site_again_updates_it(sqlite_url: str) -> None:
    assert run("--db", sqlite_url, "seeds", "add", "https://example.org/").exit_code == 0
    again = run("--db", sqlite_url, "seeds", "add", "HTTPS://EXAMPLE.org:443/#x", "--depth", "1")
    assert again.exit_code == 0, again.output
    (row,) = seeds(sqlite_url)
    assert (row["url"], row["depth"]) == ("https://example.org/", 1)


@pytest.mark.parametrize(
    "bad", ["ftp://files.example.org/pub/", "file:///etc/passwd", "javascript:alert(1)",
            "mailto:abuse@example.org", "example.org/no-scheme", "http:///no-host"],
)
def test_unknown_scheme_is_refused_and_nothing_is_stored(sqlite_url: str, bad: str) -> None:
    result = run("--db", sqlite_url, "seeds", "add", "https://good.example.org/", bad)
    assert result.exit_code == 1
    assert bad in result.stderr
    assert "No seeds were added" in result.stderr
    assert "Traceback" not in result.output
    assert seeds(sqlite_url) == []


def test_filters(sqlite_url: str) -> None:
    run("--db", sqlite_url, "seeds", "add", "https://a.example/", "--tag", "red")
    run("--db", sqlite_url, "seeds", "add", "https://b.example/", "--tag", "blue")
    assert [row["url"] for row in seeds(sqlite_url, "--tag", "red")] == ["https://a.example/"]
    assert len(seeds(sqlite_url, "--active")) == 2


@pytest.mark.parametrize("tag", ["", "a,b", "  "])
def test_unusable_tags_are_refused(sqlite_url: str, tag: str) -> None:
    result = run("--db", sqlite_url, "seeds", "add", "https://a.example/", "--tag", tag)
    assert result.exit_code == 1
    assert "--tag" in result.stderr
    assert seeds(sqlite_url) == []


def test_pause_and_resume(sqlite_url: str) -> None:
    run("--db", sqlite_url, "seeds", "add", "https://a.example/", "https://b.example/")
    paused = run("--db", sqlite_url, "seeds", "pause", "1", "--format", "json")
    assert paused.exit_code == 0, paused.output
    assert [(r["id"], r["active"]) for r in json.loads(paused.stdout)] == [(1, False)]
    assert [row["id"] for row in seeds(sqlite_url, "--active")] == [2]
    unknown = run("--db", sqlite_url, "seeds", "resume", "1", "7")
    assert unknown.exit_code == 1
    assert "7" in unknown.stderr
    assert [row["id"] for row in seeds(sqlite_url, "--active")] == [2]  # all or nothing
    assert run("--db", sqlite_url, "seeds", "resume", "1").exit_code == 0
    assert [row["id"] for row in seeds(sqlite_url, "--active")] == [1, 2]


def test_changes_made_as_someone_are_audited(db_url: str) -> None:
    """With --as (or TRAWL_USER) seed and schedule changes are in the audit trail, as on the
    web; without it they are made as before and not attributed to anyone."""
    from storage.audit import list_audit
    from storage.db import open_store

    assert run("--db", db_url, "seeds", "add", "https://example.org/").exit_code == 0
    assert run("--db", db_url, "--as", "alice", "seeds", "add", "https://example.net/",
               "--tag", "t").exit_code == 0
    assert run("--db", db_url, "--as", "alice", "seeds", "pause", "2").exit_code == 0
    assert run("--db", db_url, "--as", "bob", "schedule", "add", "watch", "--tag", "t",
               "--every", "6h").exit_code == 0
    assert run("--db", db_url, "--as", "bob", "schedule", "pause", "watch").exit_code == 0
    assert run("--db", db_url, "--as", "bob", "schedule", "run-now", "watch",
               "--queue").exit_code == 0
    store = open_store(db_url)
    try:
        trail = [(e.actor, e.action, e.entity, e.entity_id, e.to_state)
                 for e in list_audit(store) if e.entity in ("seed", "schedule")]
    finally:
        store.close()
    assert trail == [
        ("alice", "add", "seed", 2, "active"),
        ("alice", "pause", "seed", 2, "paused"),
        ("bob", "add", "schedule", 1, "enabled"),
        ("bob", "pause", "schedule", 1, "paused"),
        ("bob", "run_now", "schedule", 1, None),
    ]


def test_tag_replaces_the_tags(sqlite_url: str) -> None:
    assert run("--db", sqlite_url, "seeds", "add", "https://example.org/", "--tag",
               "old").exit_code == 0
    result = run("--db", sqlite_url, "seeds", "tag", "1", "--tag", "forum", "--tag", "uk",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["tags"] == ["forum", "uk"]
    assert [row["id"] for row in seeds(sqlite_url, "--tag", "uk")] == [1]
    assert seeds(sqlite_url, "--tag", "old") == []
    bad = CliRunner().invoke(cli, ["--db", sqlite_url, "seeds", "tag", "1", "--tag", "a,b"])
    assert bad.exit_code != 0
    assert "contain no commas" in bad.output
    cleared = run("--db", sqlite_url, "seeds", "tag", "1", "--format", "json")
    assert json.loads(cleared.stdout)[0]["tags"] == []
