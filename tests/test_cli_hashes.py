"""`trawl hashes import/lists` for real: counts, all-or-nothing, audit, formats, progress."""

from __future__ import annotations

import getpass
import hashlib
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import crawler.services.lists
import storage.knownstage
from crawler.cli.main import cli
from crawler.sitegen import images as gen
from storage.audit import list_audit
from storage.db import open_store
from storage.known import iter_known_hashes


def run(*args: str, env: dict[str, str | None] | None = None) -> click.testing.Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def md5s(*words: str) -> list[str]:
    return [hashlib.md5(w.encode()).hexdigest() for w in words]


def sha256s(*words: str) -> list[str]:
    return [hashlib.sha256(w.encode()).hexdigest() for w in words]


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["hash_type,hash,label", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def imported(db_url: str, args: list[str]) -> dict[str, object]:
    result = run("--db", db_url, "--as", "alice", "hashes", "import", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def lists(db_url: str) -> list[dict[str, object]]:
    result = run("--db", db_url, "hashes", "lists", "--format", "json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_import_counts_added_duplicates_and_already_present(db_url: str, tmp_path: Path) -> None:
    a, b, c, d = md5s("a", "b", "c", "d")
    first = write_csv(tmp_path / "first.csv", [
        ("md5", a, "one"), ("md5", b, "two"), ("md5", a, "one again"),
        ("sha256", sha256s("a")[0], "one"),
    ])
    result = imported(db_url, [str(first), "--list", "first"])
    assert (result["name"], result["added"], result["duplicates"],
            result["already_present"]) == ("first", 3, 1, 0)
    # A newer edition of the same list: hashes it already had count as already present.
    update = write_csv(tmp_path / "first-v2.csv", [("md5", b, "x"), ("md5", c, "y"),
                                                    ("md5", d, "z"), ("MD5", a.upper(), "w")])
    result = imported(db_url, [str(update), "--list", "first"])
    assert (result["name"], result["added"], result["duplicates"],
            result["already_present"]) == ("first", 2, 0, 2)
    # Another list may hold the same hashes: lists are kept apart.
    second = write_csv(tmp_path / "second.csv", [("md5", a, "from second"), ("md5", d, "d")])
    result = imported(db_url, [str(second)])
    assert result["name"] == "second"  # default list name: the file name without extension
    assert (result["added"], result["duplicates"], result["already_present"]) == (2, 0, 0)

    shown = {row["name"]: row for row in lists(db_url)}
    assert set(shown) == {"first", "second"}
    assert (shown["first"]["entry_count"], shown["second"]["entry_count"]) == (5, 2)
    assert shown["first"]["format"] == "csv"
    assert shown["first"]["imported_by"] == "alice"

    store = open_store(db_url)
    try:
        values = {(r.list_name, r.hash_type, r.value) for r in iter_known_hashes(store)}
        assert ("first", "md5", a) in values
        assert ("second", "md5", d) in values
        events = [e for e in list_audit(store, entity="list") if e.actor == "alice"]
        assert len(events) == 3
    finally:
        store.close()


def test_table_output_names_the_counts(sqlite_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", [("md5", h, "x") for h in md5s("p", "q", "p")])
    result = run("--db", sqlite_url, "--as", "bob", "hashes", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "2 added, 1 duplicates within the file, 0 already present" in result.stdout
    table = run("--db", sqlite_url, "hashes", "lists")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["id", "name", "format"]
    assert " l " in table.stdout.splitlines()[1] + " "


def test_malformed_list_names_line_and_value_and_imports_nothing(
    db_url: str, tmp_path: Path
) -> None:
    good = write_csv(tmp_path / "good.csv", [("md5", h, "ok") for h in md5s("1", "2")])
    imported(db_url, [str(good)])
    rows = [("md5", h, "ok") for h in md5s(*map(str, range(500)))]
    rows.insert(300, ("md5", "abc123-not-hex", "bad"))  # on line 302 (header is line 1)
    bad = write_csv(tmp_path / "bad.csv", rows)
    result = run("--db", db_url, "--as", "alice", "hashes", "import", str(bad))
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr
    assert "line 302" in result.stderr
    assert "abc123-not-hex" in result.stderr
    assert "Nothing was imported" in result.stderr
    assert "Traceback" not in result.output
    shown = lists(db_url)
    assert [row["name"] for row in shown] == ["good"]  # the bad list was not created
    assert shown[0]["entry_count"] == 2  # earlier lists intact
    store = open_store(db_url)
    try:
        assert sum(1 for _ in iter_known_hashes(store)) == 2
    finally:
        store.close()


def test_plain_list_needs_a_type(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("\n".join(f"{h}  file{i}.jpg" for i, h in enumerate(md5s("x", "y"))) + "\n")
    refused = run("--db", sqlite_url, "--as", "a", "hashes", "import", str(path))
    assert refused.exit_code == 1
    assert "plain.txt" in refused.stderr
    assert "line 1" in refused.stderr
    assert "md5" in refused.stderr  # 32 hex characters: the error suggests the type
    result = imported(sqlite_url, [str(path), "--format", "plain", "--type", "md5"])
    assert result["added"] == 2


def test_threatexchange_list(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "te.txt"
    path.write_text(f"md5 {md5s('te')[0]}\npdq {'f0' * 32}\n")
    result = imported(sqlite_url, [str(path), "--list", "te"])
    assert result["added"] == 2
    assert lists(sqlite_url)[0]["format"] == "te"


def test_trawl_hash_csv_output_is_an_importable_list(sqlite_url: str, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "sub").mkdir()
    for seed, name in ((1, "p1.jpg"), (2, "sub/p2.jpg")):
        (images / name).write_bytes(gen.photo_jpeg(seed, size=(320, 240)))
    made = run("hash", "--format", "csv", "--type", "sha1", "--type", "pdq", str(images))
    assert made.exit_code == 0, made.output
    list_file = tmp_path / "made.csv"
    list_file.write_text(made.stdout)
    result = imported(sqlite_url, [str(list_file)])
    assert (result["added"], result["duplicates"]) == (4, 0)
    store = open_store(sqlite_url)
    try:
        labels = {(r.hash_type, r.label) for r in iter_known_hashes(store)}
    finally:
        store.close()
    assert labels == {(t, name) for t in ("sha1", "pdq") for name in ("p1.jpg", "sub/p2.jpg")}


def test_pdq_hasher_output_round_trips(sqlite_url: str, tmp_path: Path) -> None:
    image = tmp_path / "one.png"
    image.write_bytes(gen.encode(gen.chart(3, size=(300, 200)), "png"))
    made = run("hash", "--format", "pdq-hasher", str(image))
    assert made.exit_code == 0, made.output
    list_file = tmp_path / "pdq.txt"
    list_file.write_text(made.stdout)
    result = imported(sqlite_url, [str(list_file)])
    assert result["added"] == 1
    assert lists(sqlite_url)[0]["format"] == "pdq-hasher"


def test_actor_falls_back_to_the_os_user(sqlite_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "who.csv", [("md5", md5s("who")[0], "w")])
    result = run("--db", sqlite_url, "hashes", "import", str(path), env={"TRAWL_USER": None})
    assert result.exit_code == 0, result.output
    assert lists(sqlite_url)[0]["imported_by"] == getpass.getuser()


def test_progress_on_stderr(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crawler.services.lists, "PROGRESS_EVERY", 10)
    monkeypatch.setattr(storage.knownstage, "IMPORT_CHUNK_ROWS", 5)
    path = write_csv(tmp_path / "big.csv", [("md5", h, "") for h in md5s(*map(str, range(35)))])
    result = run("--db", sqlite_url, "--as", "a", "hashes", "import", str(path))
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("import:")]
    assert progress == [f"import: {n} entries stored" for n in (10, 20, 30)]
    assert "35 added" in result.stdout


def test_import_from_standard_input(sqlite_url: str, tmp_path: Path) -> None:
    image = tmp_path / "one.jpg"
    image.write_bytes(gen.photo_jpeg(8, size=(320, 240)))
    made = run("hash", "--format", "csv", str(image))
    assert made.exit_code == 0, made.output
    unnamed = CliRunner().invoke(cli, ["--db", sqlite_url, "--as", "a", "hashes", "import", "-"],
                                 input=made.stdout)
    assert unnamed.exit_code == 1
    assert "--list" in unnamed.stderr
    named = CliRunner().invoke(
        cli, ["--db", sqlite_url, "--as", "a", "hashes", "import", "-", "--list", "piped",
              "--json"], input=made.stdout)
    assert named.exit_code == 0, named.output
    assert json.loads(named.stdout)["added"] == 3
    (row,) = lists(sqlite_url)
    assert (row["name"], row["source_file"], row["entry_count"]) == ("piped", "<stdin>", 3)
    bad = CliRunner().invoke(
        cli, ["--db", sqlite_url, "--as", "a", "hashes", "import", "-", "--list", "bad"],
        input="hash_type,hash\nmd5,xyz\n")
    assert bad.exit_code == 1
    assert "<stdin>, line 2" in bad.stderr
