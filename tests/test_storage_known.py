"""Known-hash list import: counts, all-or-nothing, duplicates across lists, streaming."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storage.audit import list_audit
from storage.db import Store, open_store
from storage.known import (
    IMPORT_CHUNK_ROWS,
    KnownHashIn,
    import_known_list,
    iter_known_hashes,
    list_known_lists,
)
from storage.models import KnownHash, KnownList


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def md5s(start: int, stop: int) -> list[KnownHashIn]:
    return [KnownHashIn("md5", hashlib.md5(str(i).encode()).hexdigest(), label=f"img-{i}")
            for i in range(start, stop)]


def counts(store: Store) -> tuple[int, int]:
    with store.read_session() as session:
        lists = session.scalar(sa.select(sa.func.count()).select_from(KnownList))
        hashes = session.scalar(sa.select(sa.func.count()).select_from(KnownHash))
    return int(lists or 0), int(hashes or 0)


@pytest.mark.parametrize("method", ["auto", "executemany"])
def test_import_counts_and_audit(store: Store, method: str) -> None:
    entries = [*md5s(0, 5), md5s(2, 3)[0],  # one repeat inside the file
               KnownHashIn("PDQ", " " + "AB" * 32 + " ", category="B2", extra={"col": "x"})]
    result = import_known_list(store, name="IWF 2025-01", fmt="csv", source_file="/data/iwf.csv",
                               entries=entries, actor="alice", duplicates=3, method=method)  # type: ignore[arg-type]
    assert (result.name, result.added, result.duplicates, result.already_present) == (
        "IWF 2025-01", 6, 4, 0)
    (info,) = list_known_lists(store)
    assert (info.id, info.format, info.source_file, info.imported_by) == (
        result.list_id, "csv", "/data/iwf.csv", "alice")
    assert (info.entry_count, info.duplicate_count, info.by_type) == (6, 4, {"md5": 5, "pdq": 1})
    pdq = next(iter_known_hashes(store, ["pdq"]))
    assert (pdq.value, pdq.category, pdq.list_name) == ("ab" * 32, "B2", "IWF 2025-01")
    (event,) = list_audit(store, entity="list", entity_id=result.list_id)
    assert (event.actor, event.action) == ("alice", "import")
    assert event.detail is not None
    assert json.loads(event.detail) == {
        "name": "IWF 2025-01", "format": "csv", "source_file": "/data/iwf.csv", "added": 6,
        "duplicates": 4, "already_present": 0}


def test_reimport_counts_already_present(store: Store) -> None:
    first = import_known_list(store, name="L", fmt="plain", source_file=None,
                              entries=md5s(0, 10), actor="alice")
    again = import_known_list(store, name="L", fmt="plain", source_file=None,
                              entries=[*md5s(5, 15), *md5s(14, 15)], actor="bob")
    assert again.list_id == first.list_id
    assert (again.added, again.already_present, again.duplicates) == (5, 5, 1)
    (info,) = list_known_lists(store)
    assert (info.entry_count, info.imported_by) == (15, "bob")
    assert len(list_audit(store, entity="list")) == 2


def test_same_hash_in_two_lists_is_kept_in_both(store: Store) -> None:
    a = import_known_list(store, name="A", fmt="csv", source_file=None, entries=md5s(0, 3),
                          actor="alice")
    b = import_known_list(store, name="B", fmt="csv", source_file=None, entries=md5s(1, 4),
                          actor="alice")
    assert (a.added, b.added, b.already_present) == (3, 3, 0)
    rows = list(iter_known_hashes(store))
    shared = md5s(1, 2)[0].value
    assert sorted(r.list_name for r in rows if r.value == shared) == ["A", "B"]
    assert len({r.id for r in rows}) == 6


def test_first_entry_of_a_repeated_hash_wins(store: Store) -> None:
    value = "0f" * 16
    import_known_list(store, name="L", fmt="csv", source_file=None, actor="alice", entries=[
        KnownHashIn("md5", value, label="first"), KnownHashIn("md5", value, label="second")])
    assert [r.label for r in iter_known_hashes(store)] == ["first"]


def test_new_and_existing_list_keep_the_same_entries(store: Store) -> None:
    """A new list is filled without ON CONFLICT on PostgreSQL (DISTINCT ON drops the file's
    own repeats); an existing one with it. Both keep each (type, value)'s first entry, across
    chunks and types, and count the same."""
    value = "ab" * 16
    entries = [KnownHashIn("md5", value, label="first"), *md5s(0, IMPORT_CHUNK_ROWS + 10),
               KnownHashIn("sha256", value * 2, label="other type"),
               KnownHashIn("phash", value[:16], label="short"), *md5s(3, 8),
               KnownHashIn("md5", value, label="later"), *md5s(IMPORT_CHUNK_ROWS, 20_500)]
    new = import_known_list(store, name="new", fmt="csv", source_file=None, actor="alice",
                            entries=entries)
    import_known_list(store, name="old", fmt="csv", source_file=None, actor="alice",
                      entries=md5s(10**6, 10**6 + 1))
    old = import_known_list(store, name="old", fmt="csv", source_file=None, actor="alice",
                            entries=entries)
    assert (new.added, new.duplicates, new.already_present) == (20_503, 16, 0)
    assert (old.added, old.duplicates, old.already_present) == (new.added, new.duplicates, 0)
    rows = list(iter_known_hashes(store))
    kept = {name: sorted((r.hash_type, r.value, r.label) for r in rows if r.list_name == name)
            for name in ("new", "old")}
    assert kept["new"] == [k for k in kept["old"] if k[1] != md5s(10**6, 10**6 + 1)[0].value]
    assert ("md5", value, "first") in kept["new"]
    assert [r.id for r in rows] == sorted({r.id for r in rows})


def test_iterator_failing_midway_leaves_nothing(store: Store) -> None:
    def entries() -> Iterator[KnownHashIn]:
        yield from md5s(0, IMPORT_CHUNK_ROWS + 5)  # more than one chunk already sent
        raise ValueError("bad line 10006 of list.csv: 'zz' is not hex")

    with pytest.raises(ValueError, match="bad line 10006"):
        import_known_list(store, name="Broken", fmt="csv", source_file="list.csv",
                          entries=entries(), actor="alice")
    assert counts(store) == (0, 0)
    assert list_audit(store) == []


def test_failed_reimport_keeps_the_list_as_it_was(store: Store) -> None:
    import_known_list(store, name="L", fmt="csv", source_file=None, entries=md5s(0, 3),
                      actor="alice")

    def entries() -> Iterator[KnownHashIn]:
        yield from md5s(3, 6)
        raise OSError("disk read error")

    with pytest.raises(OSError, match="disk read error"):
        import_known_list(store, name="L", fmt="csv", source_file=None, entries=entries(),
                          actor="bob")
    (info,) = list_known_lists(store)
    assert (info.entry_count, info.imported_by) == (3, "alice")
    assert counts(store) == (1, 3)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (KnownHashIn("", "ab"), r"Entry 3 has hash type ''"),
        (KnownHashIn("md5", "  "), r"Entry 3 \(md5\) has value"),
        (KnownHashIn("md5", "a" * 129), r"1 to 128 hex characters"),
    ],
)
def test_invalid_entry_names_its_position(store: Store, entry: KnownHashIn, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        import_known_list(store, name="L", fmt="csv", source_file=None, actor="alice",
                          entries=[*md5s(0, 2), entry])
    assert counts(store) == (0, 0)


def test_import_needs_actor_and_name(store: Store) -> None:
    with pytest.raises(ValueError, match="needs an actor"):
        import_known_list(store, name="L", fmt="csv", source_file=None, entries=[], actor=" ")
    with pytest.raises(ValueError, match="needs a name"):
        import_known_list(store, name="  ", fmt="csv", source_file=None, entries=[], actor="a")


def test_awkward_labels_round_trip(store: Store) -> None:
    label = "tab\there\nnewline \\N backslash\r\x00nul ünïcode"
    import_known_list(store, name="L", fmt="te", source_file=None, actor="alice", entries=[
        KnownHashIn("sha1", "12" * 20, label=label, source="src\\x", extra={"k": "v\tw"})])
    (row,) = list(iter_known_hashes(store))
    assert row.label == label.replace("\x00", "")
    with store.read_session() as session:
        extra = session.scalar(sa.select(KnownHash.extra))
    assert extra is not None
    assert json.loads(extra) == {"k": "v\tw"}


def test_iter_known_hashes_streams_in_id_order(store: Store) -> None:
    import_known_list(store, name="L", fmt="csv", source_file=None, actor="alice",
                      entries=[*md5s(0, 30), KnownHashIn("phash", "8f" * 8)])
    rows = list(iter_known_hashes(store))
    assert len(rows) == 31
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert [r.hash_type for r in iter_known_hashes(store, ["phash"])] == ["phash"]
    assert list(iter_known_hashes(store, [])) == []
    partial = iter_known_hashes(store)
    next(partial)
    partial.close()  # gives its connection back
