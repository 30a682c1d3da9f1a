"""The saved matcher: reused while the known lists are unchanged, rebuilt when they change
or the file is unusable; its answers equal a matcher built from the rows."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.index_cache import (
    INDEX_FILE,
    current_matcher_file,
    index_dir_for,
    load_or_build_matcher,
)
from matchers.decision import KnownRef, Matcher
from matchers.digests import Digests
from matchers.matcherfile import FORMAT_VERSION
from storage.db import Store, open_store
from storage.known import (
    KnownHashIn,
    import_known_list,
    iter_known_hashes,
    known_lists_stamp,
    known_snapshot,
)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def entries(start: int, stop: int) -> list[KnownHashIn]:
    out = []
    for i in range(start, stop):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        out += [KnownHashIn("md5", digest[:32], label=f"img-{i}", category="A1"),
                KnownHashIn("pdq", digest, label=f"img-{i}"),
                KnownHashIn("phash", digest[:16], label=f"img-{i}")]
    return out


def add_list(store: Store, name: str, start: int, stop: int) -> None:
    import_known_list(store, name=name, fmt="csv", source_file=None, actor="t",
                      entries=entries(start, stop))


def probe(i: int, pdq_flip: int = 5) -> Digests:
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    pdq = format(int(digest, 16) ^ ((1 << pdq_flip) - 1), "064x")
    return Digests(md5=digest[:32], sha1="0" * 40, sha256="0" * 64, size=1, width=640,
                   height=480, pdq=pdq, pdq_quality=90, phash=digest[:16], flatness=0.1)


def signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_built_once_then_reused_until_the_lists_change(store: Store, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    add_list(store, "a", 0, 40)
    first = load_or_build_matcher(store, cache)
    path = cache / INDEX_FILE
    assert first.stamp == known_lists_stamp(store)
    assert len(first) == 120
    built = signature(path)
    again = load_or_build_matcher(store, cache, {"phash": 4})
    assert signature(path) == built  # reused, not rewritten
    assert again.thresholds["phash"] == 4
    assert [m.known_id for m in again.match(probe(3))] == [
        m.known_id for m in first.match(probe(3))]
    assert again.match(probe(50)) == []

    import_known_list(store, name="a", fmt="csv", source_file=None, actor="t",
                      entries=entries(0, 10))  # nothing new: the version stays
    load_or_build_matcher(store, cache)
    assert signature(path) == built

    add_list(store, "b", 45, 60)  # new hashes: the stored file is stale
    fresh = load_or_build_matcher(store, cache)
    assert signature(path) != built
    assert fresh.stamp == known_lists_stamp(store) != first.stamp
    assert {m.list_name for m in fresh.match(probe(50))} == {"b"}


def test_answers_equal_a_matcher_built_from_rows(store: Store, tmp_path: Path) -> None:
    add_list(store, "a", 0, 30)
    add_list(store, "b", 20, 50)
    cached = load_or_build_matcher(store, tmp_path)
    rows = Matcher.build(
        KnownRef(r.id, r.list_name, r.hash_type, r.value, r.label, r.category)
        for r in iter_known_hashes(store)
    )
    for i in range(0, 55, 3):
        assert cached.match(probe(i)) == rows.match(probe(i))
        assert cached.match(probe(i, 30)) == rows.match(probe(i, 30))


HEADER_ONLY_SCRIPT = r"""
import json, sys
from pathlib import Path
from crawler.index_cache import current_matcher_file
from storage.db import open_store
store = open_store(sys.argv[1])
saved = current_matcher_file(store, Path(sys.argv[2]), {"pdq": 20})
print(json.dumps({"count": len(saved), "stamp": saved.stamp, "pdq": saved.thresholds["pdq"],
                  "numpy": "numpy" in sys.modules}))
"""


def test_a_current_file_is_described_without_mapping_it(store: Store, tmp_path: Path) -> None:
    add_list(store, "one", 0, 40)
    built = load_or_build_matcher(store, tmp_path, {"pdq": 20})
    saved = current_matcher_file(store, tmp_path, {"pdq": 20})
    assert saved is not None
    assert (saved.path, saved.stamp, len(saved)) == (tmp_path / INDEX_FILE, built.stamp, 120)
    assert saved.thresholds == dict(built.thresholds)
    loaded = saved.load()
    assert loaded.match(probe(7)) == built.match(probe(7))
    with pytest.raises(ValueError, match="exact hash type"):
        current_matcher_file(store, tmp_path, {"md5": 1})
    # A crawl process learns all that from the header: numpy is never imported for it.
    done = subprocess.run([sys.executable, "-c", HEADER_ONLY_SCRIPT, store.url, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "count": 120, "stamp": built.stamp, "pdq": 20, "numpy": False}


@pytest.mark.parametrize("damage", ["version", "truncate", "garbage"])
def test_unusable_file_is_rebuilt(store: Store, tmp_path: Path, damage: str) -> None:
    add_list(store, "a", 0, 10)
    load_or_build_matcher(store, tmp_path)
    path = tmp_path / INDEX_FILE
    data = bytearray(path.read_bytes())
    if damage == "version":
        struct.pack_into("<I", data, 8, FORMAT_VERSION + 7)
    elif damage == "truncate":
        del data[len(data) // 2 :]
    else:
        data[:8] = b"garbage!"
    path.write_bytes(bytes(data))
    matcher = load_or_build_matcher(store, tmp_path)
    assert len(matcher) == 30
    assert {m.hash_type for m in matcher.match(probe(4))} == {"md5", "pdq", "phash"}
    assert path.read_bytes() != bytes(data)


def test_leftovers_of_a_killed_build_are_removed(store: Store, tmp_path: Path) -> None:
    add_list(store, "a", 0, 5)
    leftover = tmp_path / f".{INDEX_FILE}.abc123"
    leftover.write_bytes(b"half a file")
    load_or_build_matcher(store, tmp_path)
    assert not leftover.exists()


def test_without_a_folder_the_matcher_is_built_in_memory(store: Store) -> None:
    add_list(store, "a", 0, 5)
    matcher = load_or_build_matcher(store, None)
    assert len(matcher) == 15
    assert matcher.stamp == known_lists_stamp(store)


def test_snapshot_streams_every_row_as_columns(store: Store) -> None:
    add_list(store, "a", 0, 30)
    add_list(store, "b", 25, 40)
    with known_snapshot(store, batch_rows=7) as snapshot:
        assert snapshot.count == 135  # 30 + 15 items, three hashes each
        assert sorted(snapshot.list_names.values()) == ["a", "b"]
        batches = list(snapshot.batches)
    assert max(len(b) for b in batches) == 7
    got = sorted(
        (int(i), snapshot.list_names[int(list_id)], t, v, label, category)
        for b in batches
        for i, list_id, t, v, label, category in zip(
            b.ids, b.list_ids, b.hash_types, b.values, b.labels, b.categories, strict=True)
    )
    expected = sorted(
        (r.id, r.list_name, r.hash_type, r.value, r.label, r.category)
        for r in iter_known_hashes(store)
    )
    assert got == expected


def test_stamp_names_the_database_and_counts_changes(store: Store, tmp_path: Path) -> None:
    before = known_lists_stamp(store)
    add_list(store, "a", 0, 3)
    after = known_lists_stamp(store)
    instance, version = after.split(":")
    assert before == f"{instance}:0"
    assert version == "1"
    other = open_store(f"sqlite:///{tmp_path}/other.db")
    try:
        assert known_lists_stamp(other).split(":")[0] != instance
    finally:
        other.close()


def test_index_folder_sits_beside_sqlite_or_under_home(tmp_path: Path) -> None:
    sqlite = open_store(f"sqlite:///{tmp_path}/trawl.db")
    try:
        assert index_dir_for(sqlite) == tmp_path / "trawl.db.index"
    finally:
        sqlite.close()
    memory = open_store("sqlite://")
    try:
        assert index_dir_for(memory) is None
    finally:
        memory.close()
