"""Importing a list as a stream: same counts as parsing it whole, all-or-nothing, any length."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from matchers.lists import KnownListStream, ListFormatError, open_known_list, parse_known_list
from storage.audit import list_audit
from storage.db import Store, open_store
from storage.known import (
    IMPORT_CHUNK_ROWS,
    ImportResult,
    KnownHashIn,
    import_known_list,
    iter_known_hashes,
    known_lists_stamp,
)
from storage.models import KnownHash, KnownList


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def write_csv(path: Path, numbers: list[int], tail: str = "") -> Path:
    lines = ["hash_type,hash,label,category"]
    lines += [f"md5,{md5(i)},img-{i},A{i % 3}" for i in numbers]
    path.write_text("\n".join(lines) + "\n" + tail)
    return path


def streamed(store: Store, path: Path, name: str = "L") -> ImportResult:
    with open_known_list(path) as entries:
        return import_known_list(store, name=name, fmt=entries.format, source_file=str(path),
                                 entries=entries, actor="alice")


def parsed_first(store: Store, path: Path, name: str = "L") -> ImportResult:
    """The import as the CLI did it before streaming: parse all, then store."""
    parsed = parse_known_list(path)
    return import_known_list(
        store, name=name, fmt=parsed.format, source_file=str(path), actor="alice",
        duplicates=parsed.duplicates,
        entries=[KnownHashIn(e.hash_type, e.value, e.label, e.source, e.category,
                             dict(e.extra) or None) for e in parsed.entries],
    )


def stored(store: Store) -> list[tuple[str, str, str | None, str | None, str | None]]:
    with store.read_session() as session:
        rows = session.execute(
            sa.select(KnownList.name, KnownHash.value, KnownHash.label, KnownHash.category,
                      KnownHash.extra)
            .join(KnownList, KnownList.id == KnownHash.list_id)
            .order_by(KnownList.name, KnownHash.value)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_counts_equal_the_parse_first_import(store: Store, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", [*range(50), 3, 7, 7, 49])
    second = write_csv(tmp_path / "b.csv", [*range(40, 80), 79, 41])
    results = {}
    contents = {}
    for how, run in (("stream", streamed), ("parsed", parsed_first)):
        results[how] = [
            (r.added, r.duplicates, r.already_present)
            for r in (run(store, first), run(store, second), run(store, second, "M"))
        ]
        contents[how] = stored(store)
        with store.session() as session:  # start the other contender from empty lists
            session.execute(sa.delete(KnownList))
    assert results["stream"] == results["parsed"] == [(50, 4, 0), (30, 2, 10), (40, 2, 0)]
    assert contents["stream"] == contents["parsed"]


def test_bad_last_line_of_a_big_file_stores_nothing(store: Store, tmp_path: Path) -> None:
    count = 2 * IMPORT_CHUNK_ROWS + 5  # two chunks are already in the stage table
    path = write_csv(tmp_path / "big.csv", list(range(count)), tail="md5,nothex,x,y\n")
    stamp = known_lists_stamp(store)
    with pytest.raises(ListFormatError) as info:
        streamed(store, path)
    assert (info.value.line, info.value.value) == (count + 2, "nothex")
    assert str(path) in str(info.value)
    assert "Nothing was imported" in str(info.value)
    with store.read_session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(KnownList)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(KnownHash)) == 0
    assert list_audit(store) == []
    assert known_lists_stamp(store) == stamp


def test_stream_reports_format_lines_and_low_quality(store: Store, tmp_path: Path) -> None:
    pdq = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4)]
    path = tmp_path / "hasher.txt"
    path.write_text("hash,quality,filename\n" + "".join(
        f"{value},{quality},f{i}.jpg\n" for i, (value, quality) in enumerate(
            zip([*pdq, pdq[0]], [90, 10, 49, 50, 90], strict=True))))
    seen: list[int] = []
    with open_known_list(path) as entries:
        assert entries.format == "pdq-hasher"
        result = import_known_list(store, name="P", fmt=entries.format, source_file=None,
                                   entries=entries, actor="alice", progress=seen.append)
    assert (result.added, result.duplicates) == (4, 1)
    assert (entries.lines, entries.entries, entries.low_quality) == (6, 5, 2)
    assert seen == [5]
    parsed = parse_known_list(path)
    assert parsed.low_quality == 2
    rows = sorted((r.value, r.label) for r in iter_known_hashes(store))
    assert rows == sorted((value, f"f{i}.jpg") for i, value in enumerate(pdq))


def test_a_stream_is_read_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [1, 2])
    with open_known_list(path) as entries:
        assert [e.line for e in entries] == [2, 3]
        with pytest.raises(RuntimeError, match="only once"):
            list(entries)
    with pytest.raises(ListFormatError, match="no hashes"):
        KnownListStream([b"\n", b"# nothing\n"], name="<stdin>")


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [(b"md5 \xff\xfe\n", "not valid UTF-8"), (b"md5 ab\rcd\n", "carriage return"),
     (b"md5 \x00\n", "NUL bytes")],
)
def test_block_reading_names_the_bad_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: bytes, fragment: str
) -> None:
    from matchers.listformats import reader

    monkeypatch.setattr(reader, "BLOCK_BYTES", 100)  # many blocks, lines across their ends
    good = b"".join(f"md5 {md5(i)}\r\n".encode() for i in range(40))
    path = tmp_path / "list.txt"
    path.write_bytes(reader.UTF8_BOM + good + bad + good)
    with pytest.raises(ListFormatError, match=fragment) as info:
        parse_known_list(path)
    assert info.value.line == 41
    path.write_bytes(reader.UTF8_BOM + good + b"# comment\n\n" + good.rstrip(b"\r\n"))
    parsed = parse_known_list(path)
    assert (parsed.lines, len(parsed.entries), parsed.duplicates) == (82, 40, 40)
    assert parsed.entries[-1].line == 40


def hasher_lines(count: int) -> list[str]:
    """pdq-photo-hasher output written plainly (the shape its block parser reads in C)."""
    return [f"{hashlib.sha256(str(i).encode()).hexdigest()},{(i * 7) % 101},dir/f {i}.jpg"
            for i in range(count)]


# Lines each of which makes the block parser hand its block to the line parser: accepted
# ones (entries as the line parser gives them) and bad ones (ListFormatError, value).
_ODD_GOOD = ["# a comment", "", "   ", "{H},050,x.jpg", "{U},7,x.jpg", " {H} , 9 , spaced.jpg ",
             "{H},9,", "{H},9,a,b,c.jpg", "{H},100,  ", "{H},0,x"]
_ODD_BAD = [("{H},101,x.jpg", "101"), ("{H},9", "{H},9"), ("{S},9,x.jpg", "{S}"),
            ("hash,quality,filename", "hash"), ("{H},-1,x.jpg", "-1")]


def _fill(line: str, i: int) -> str:
    value = hashlib.sha256(f"odd{i}".encode()).hexdigest()
    return line.format(H=value, U=value.upper(), S=value[:-1])


@pytest.mark.parametrize("odd", range(len(_ODD_GOOD)))
def test_hasher_blocks_give_the_line_parsers_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: int
) -> None:
    from matchers.listformats import reader

    monkeypatch.setattr(reader, "BLOCK_BYTES", 700)  # ~7 lines a block
    lines = ["hash,quality,filename", *hasher_lines(60)]
    lines.insert(33, _fill(_ODD_GOOD[odd], odd))
    path = tmp_path / "hasher.txt"
    path.write_text("\n".join(lines) + ("\n" if odd % 2 else ""))
    with open_known_list(path) as per_line:
        expected = [(e.hash_type, e.value, e.label, dict(e.extra)) for e in per_line]
        counts = (per_line.lines, per_line.entries, per_line.low_quality)
    with open_known_list(path) as blocked:
        got: list[tuple[str, str, str | None, dict[str, str]]] = []
        columns = 0
        for block in blocked.entry_blocks(5):
            if isinstance(block, list):
                got += [(e.hash_type, e.value, e.label, dict(e.extra)) for e in block]
                continue
            columns += 1
            assert block.extras is not None
            got += [(block.hash_type, v, lab, dict(x)) for v, lab, x in
                    zip(block.values, block.labels, block.extras, strict=True)]
        assert (blocked.lines, blocked.entries, blocked.low_quality) == counts
    assert got == expected
    assert columns >= 4  # most blocks went through the block parser


@pytest.mark.parametrize(("line", "value"), _ODD_BAD)
def test_bad_line_in_a_hasher_block_stores_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, value: str
) -> None:
    from matchers.listformats import reader

    monkeypatch.setattr(reader, "BLOCK_BYTES", 700)
    lines = ["hash,quality,filename", *hasher_lines(80)]
    lines.insert(71, _fill(line, 1))
    path = tmp_path / "hasher.txt"
    path.write_text("\n".join(lines) + "\n")
    stamp = known_lists_stamp(store)
    with pytest.raises(ListFormatError) as info:
        streamed(store, path)
    assert info.value.line == 72
    assert info.value.value is not None
    assert _fill(value, 1) in info.value.value
    assert str(path) in str(info.value)
    with store.read_session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(KnownList)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(KnownHash)) == 0
    assert known_lists_stamp(store) == stamp


def test_hasher_blocks_store_what_the_line_parser_stores(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchers.listformats import reader

    lines = ["hash,quality,filename", *hasher_lines(300), *hasher_lines(10), "a" * 64 + ",5,"]
    path = tmp_path / "hasher.txt"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(reader, "BLOCK_BYTES", 1 << 20)  # one block: parsed line by line
    one = streamed(store, path, "one")
    monkeypatch.setattr(reader, "BLOCK_BYTES", 500)
    many = streamed(store, path, "many")
    assert (one.added, one.duplicates) == (many.added, many.duplicates) == (301, 10)
    rows = stored(store)
    assert [r[1:] for r in rows if r[0] == "many"] == [r[1:] for r in rows if r[0] == "one"]
    assert ("many", "a" * 64, None, None, '{"quality": "5"}') in rows


def test_postgresql_checks_the_list_once_and_only_when_safe(store: Store) -> None:
    from storage.known import _check_list_once

    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's foreign-key check is in-process and cheap")
    first = import_known_list(store, name="L", fmt="csv", source_file=None, actor="alice",
                              entries=[KnownHashIn("md5", md5(1))])
    with store.session() as session:
        conn = session.connection()
        assert _check_list_once(conn, first.list_id)  # the tests connect as a superuser
        with pytest.raises(ValueError, match="removed"):
            _check_list_once(conn, first.list_id + 1000)
    with store.session() as session:  # a trigger of its own would be skipped too: no
        conn = session.connection()
        conn.exec_driver_sql(
            "CREATE FUNCTION trawl_test_noop() RETURNS trigger LANGUAGE plpgsql AS "
            "'BEGIN RETURN NEW; END'")
        conn.exec_driver_sql(
            "CREATE TRIGGER trawl_test_noop BEFORE INSERT ON known_hashes "
            "FOR EACH ROW EXECUTE FUNCTION trawl_test_noop()")
        assert not _check_list_once(conn, first.list_id)
        session.rollback()
    # and a row whose list is gone is still refused
    with pytest.raises(sa.exc.IntegrityError), store.session() as session:
        session.connection().exec_driver_sql(
            "INSERT INTO known_hashes (list_id, hash_type, value) "
            f"VALUES ({first.list_id + 1000}, 'md5', '{md5(2)}')")
