"""Trawl's own files are private: folders 0700, files 0600 (SQLite with its -wal and -shm),
never written through a planted symlink, never in a folder another user controls."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.files import PrivateFileError, open_private, private_dir, trawl_home
from storage.audit import append_audit
from storage.db import open_store

pytestmark = pytest.mark.hostile

IS_ROOT = os.geteuid() == 0
OTHER_UID = 1  # "daemon" on Debian; only root can hand a file to it


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(params=[0o022, 0o002, 0o000], ids=["umask022", "umask002", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield int(request.param)
    os.umask(old)


# --- folders -------------------------------------------------------------------------------


def test_private_dir_creates_every_missing_level_0700(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "a" / "b" / "logs"
    before = mode(tmp_path)
    assert private_dir(target) == target
    for level in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert mode(level) == 0o700, level
    assert private_dir(target) == target  # already there: fine
    assert mode(tmp_path) == before  # the existing parent was not touched


def test_an_existing_folder_keeps_its_mode(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    folder.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="crawler.files"):
        private_dir(folder)
    assert mode(folder) == 0o755  # never chmod-ed: it is the user's
    assert "can be read by other users" in caplog.text


def test_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    with pytest.raises(PrivateFileError, match=r"can be written by other users \(mode 1777\)"):
        private_dir(shared)


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "logs"
    link.symlink_to(real)
    with pytest.raises(PrivateFileError, match="is a symbolic link"):
        private_dir(link)
    with pytest.raises(PrivateFileError, match="is not a folder"):
        private_dir(_file(tmp_path / "plain", b""))


@pytest.mark.skipif(not IS_ROOT, reason="only root can make a folder another user's")
def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, -1)
    with pytest.raises(PrivateFileError, match="belongs to another user"):
        private_dir(theirs)


# --- files ---------------------------------------------------------------------------------


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_open_private_creates_0600_and_appends(tmp_path: Path, umask: int) -> None:
    log = private_dir(tmp_path / "logs") / "crawl-2.log"
    with open_private(log) as out:
        out.write("one\n")
    with open_private(log, "a") as out:
        out.write("two\n")
    assert log.read_text() == "one\ntwo\n"
    assert mode(log) == 0o600
    with open_private(log, "w") as out:
        out.write("fresh\n")
    assert log.read_text() == "fresh\n"
    with open_private(tmp_path / "logs" / "notice.eml", "wb") as out:
        out.write(b"bytes")
    assert mode(tmp_path / "logs" / "notice.eml") == 0o600


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = _file(tmp_path / "victim.txt", b"precious\n")
    logs = private_dir(tmp_path / "logs")
    (logs / "crawl-2.log").symlink_to(victim)
    (logs / "crawl-3.log").symlink_to(tmp_path / "would-be-created.txt")  # dangling
    for name in ("crawl-2.log", "crawl-3.log"):
        for how in ("a", "w"):
            with pytest.raises(PrivateFileError, match="is a symbolic link"):
                open_private(logs / name, how)
    assert victim.read_bytes() == b"precious\n"
    assert not (tmp_path / "would-be-created.txt").exists()


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "crawl.log"
    os.mkfifo(fifo)
    with pytest.raises(PrivateFileError):
        open_private(fifo)


@pytest.mark.skipif(not IS_ROOT, reason="only root can make a file another user's")
def test_a_file_of_another_user_is_refused_and_left_intact(tmp_path: Path) -> None:
    theirs = _file(tmp_path / "crawl.log", b"theirs\n")
    os.chown(theirs, OTHER_UID, -1)
    with pytest.raises(PrivateFileError, match="belongs to another user"):
        open_private(theirs, "w")
    assert theirs.read_bytes() == b"theirs\n"


def test_only_writing_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="writes only"):
        open_private(tmp_path / "x", "r")


def test_trawl_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRAWL_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert trawl_home() == tmp_path / "th"
    monkeypatch.delenv("TRAWL_HOME")
    assert trawl_home() == tmp_path / "xdg" / "trawl"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert trawl_home() == tmp_path / "home" / ".local" / "share" / "trawl"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert trawl_home() == tmp_path / "home" / ".local" / "share" / "trawl"


# --- the SQLite database ---------------------------------------------------------------------


def test_a_new_sqlite_database_and_its_wal_and_shm_are_0600(tmp_path: Path, umask: int) -> None:
    home = private_dir(tmp_path / "trawl-home")
    db = home / "trawl.db"
    store = open_store(f"sqlite:///{db}")
    try:
        with store.session() as session:
            append_audit(session, actor="alice", action="confirm", entity="hit")
        files = sorted(p.name for p in home.iterdir())
        assert files == ["trawl.db", "trawl.db-shm", "trawl.db-wal"]
        for name in files:
            assert mode(home / name) == 0o600, name
        assert mode(home) == 0o700
    finally:
        store.close()


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    open_store(f"sqlite:///{db}").close()
    db.chmod(0o640)  # the operator's choice
    open_store(f"sqlite:///{db}").close()
    assert mode(db) == 0o640
