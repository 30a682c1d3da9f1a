"""The `trawl` CLI for real: init, hash, help on every command, bad input and the entry point."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.sitegen import images as gen
from matchers.hashing import hash_image
from storage.db import open_store

REPO = Path(__file__).resolve().parents[1]
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/nothing_here"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        paths.append(path)
        if isinstance(command, click.Group):
            paths += command_paths(command, path)
    return paths


def test_every_command_has_help() -> None:
    paths = command_paths(cli)
    names = {p[0] for p in paths}
    assert {"init", "hash", "rematch", "demo", "hashes", "seeds"} <= names
    for path in [(), *paths]:
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith("Usage:"), path
        assert "Traceback" not in result.output


def test_no_command_declares_an_option_twice() -> None:
    """Click only warns when two parameters share a flag (the second is then dead)."""
    for path in command_paths(cli):
        command: Any = cli
        for name in path:
            command = command.commands[name]
        flags = [flag for param in command.params for flag in getattr(param, "opts", [])]
        assert len(flags) == len(set(flags)), (path, sorted(f for f in flags
                                                            if flags.count(f) > 1))


def test_init_creates_and_migrates_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    first = run("--db", url, "init")
    assert first.exit_code == 0, first.output
    assert "Database ready" in first.stdout
    assert (tmp_path / "fresh.db").is_file()
    second = run("--db", url, "init")  # an up-to-date database: nothing to do, no error
    assert second.exit_code == 0, second.output
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"seeds", "known_lists", "known_hashes", "media", "hits", "audit"} <= tables


def test_init_defaults_to_trawl_db_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAWL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "trawl.db").is_file()


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAWL_DATABASE_URL", f"sqlite:///{tmp_path}/from-env.db")
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env.db").is_file()


@pytest.mark.postgres
def test_init_on_postgresql(pg_url: str) -> None:
    result = run("--db", pg_url, "init")
    assert result.exit_code == 0, result.output
    store = open_store(pg_url, migrate=False)
    try:
        assert "known_hashes" in sa.inspect(store.engine).get_table_names()
    finally:
        store.close()


@pytest.mark.parametrize("command", [["init"], ["seeds", "list"], ["hashes", "lists"],
                                     ["rematch"]])
def test_unreachable_database_is_a_clear_error(command: list[str]) -> None:
    result = run("--db", UNREACHABLE_PG, *command)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "127.0.0.1" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["seeds", "add"],  # no URL
        ["seeds", "add", "--depth", "-1", "https://example.test/"],
        ["seeds", "add", "--max-pages", "zero", "https://example.test/"],
        ["hash"],  # no file
        ["hash", "--format", "xml", "a.png"],
        ["hashes", "import", "/nonexistent/list.csv"],
        ["hashes", "import", "--format", "xml", __file__],
        ["hashes", "lists", "--format", "yaml"],
    ],
)
def test_bad_arguments_exit_with_usage_error(args: list[str], tmp_path: Path) -> None:
    result = run("--db", f"sqlite:///{tmp_path}/t.db", *args)
    assert result.exit_code == 2, result.output
    assert "Error" in result.stderr
    assert "Traceback" not in result.output


def _write_images(tmp_path: Path) -> dict[str, bytes]:
    files = {
        "photo.jpg": gen.photo_jpeg(11, size=(320, 240)),
        "chart.png": gen.encode(gen.chart(12, size=(300, 200)), "png"),
        "art.webp": gen.encode(gen.line_art(13, size=(256, 256)), "webp"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return files


def test_hash_prints_every_digest_as_json_lines(tmp_path: Path) -> None:
    files = _write_images(tmp_path)
    result = run("hash", *(str(tmp_path / name) for name in files))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["file"]).name for r in records] == list(files)
    for record in records:
        data = files[Path(record["file"]).name]
        assert record["md5"] == hashlib.md5(data).hexdigest()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["size"] == len(data)
        # The full-decode hashes, as the reference tools compute them for list making.
        reference = hash_image(data, fast=False)
        assert record["status"] == "ok"
        assert (record["pdq"], record["phash"], record["dhash"]) == (
            reference.pdq, reference.phash, reference.dhash)
        assert len(record["pdq"]) == 64


def test_hash_reports_unreadable_files_and_goes_on(tmp_path: Path) -> None:
    files = _write_images(tmp_path)
    missing = tmp_path / "not-there.png"
    result = run("hash", str(tmp_path / "photo.jpg"), str(missing), str(tmp_path / "chart.png"))
    assert result.exit_code == 1
    assert str(missing) in result.stderr
    assert "1 file(s) could not be read" in result.stderr
    hashed = [json.loads(line)["md5"] for line in result.stdout.splitlines()]
    assert hashed == [hashlib.md5(files[n]).hexdigest() for n in ("photo.jpg", "chart.png")]


def test_hash_walks_directories_and_flags_non_images(tmp_path: Path) -> None:
    files = _write_images(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image\n")
    result = run("hash", str(tmp_path))
    assert result.exit_code == 0, result.output
    records = {Path(r["file"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {*files, "notes.txt"}
    assert records["notes.txt"]["status"] == "unsupported"
    assert records["notes.txt"]["pdq"] is None
    assert "notes.txt" in result.stderr


def test_hash_pdq_hasher_format(tmp_path: Path) -> None:
    files = _write_images(tmp_path)
    result = run("hash", "--format", "pdq-hasher", str(tmp_path / "photo.jpg"))
    assert result.exit_code == 0, result.output
    value, quality, name = result.stdout.strip().split(",")
    reference = hash_image(files["photo.jpg"], fast=False)
    assert (value, int(quality)) == (reference.pdq, reference.pdq_quality)
    assert name == str(tmp_path / "photo.jpg")


def _entry_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("TRAWL_DATABASE_URL", None)
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    return env


def test_console_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/proc.db"
    base = [sys.executable, "-m", "crawler.cli.main", "--db", db]
    init = subprocess.run([*base, "init"], capture_output=True, text=True, env=_entry_env(),
                          cwd=tmp_path, timeout=120, check=False)
    assert init.returncode == 0, init.stderr
    listed = subprocess.run([*base, "hashes", "lists", "--format", "json"], capture_output=True,
                            text=True, env=_entry_env(), cwd=tmp_path, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    failed = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "--db", UNREACHABLE_PG, "init"],
        capture_output=True, text=True, env=_entry_env(), cwd=tmp_path, timeout=120,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: ")
    assert "Traceback" not in failed.stderr
