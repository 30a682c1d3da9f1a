"""Scheduled crawls' logs: in Trawl's per-user data folder (never a fixed shared /tmp path),
0600 in 0700 folders, never appended through a planted symlink."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from crawler.files import PrivateFileError
from crawler.services.scheduler.options import SchedulerOptions, default_log_dir
from crawler.services.scheduler.processes import spawn_crawl

pytestmark = pytest.mark.hostile

QUIET = [sys.executable, "-c", "pass"]


def test_the_default_log_folder_is_per_user(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.delenv("TRAWL_CRAWL_LOG_DIR", raising=False)
    monkeypatch.setenv("TRAWL_HOME", str(tmp_path / "home"))
    assert default_log_dir() == tmp_path / "home" / "crawl-logs"
    assert SchedulerOptions().log_dir == tmp_path / "home" / "crawl-logs"
    monkeypatch.delenv("TRAWL_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_log_dir() == tmp_path / "xdg" / "trawl" / "crawl-logs"
    assert not str(default_log_dir()).startswith("/tmp/trawl-crawls")
    monkeypatch.setenv("TRAWL_CRAWL_LOG_DIR", str(tmp_path / "chosen"))
    assert default_log_dir() == tmp_path / "chosen"


def test_a_crawl_log_is_created_private(tmp_path: Path) -> None:
    logs = tmp_path / "data" / "crawl-logs"
    spawn_crawl(QUIET, [], db_url="sqlite://", log_path=logs / "crawl-1.log").wait(timeout=30)
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert stat.S_IMODE(logs.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((logs / "crawl-1.log").stat().st_mode) == 0o600


def test_a_planted_symlink_is_not_appended_to(tmp_path: Path) -> None:
    logs = tmp_path / "crawl-logs"
    logs.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file\n")
    (logs / "crawl-2.log").symlink_to(victim)
    with pytest.raises(PrivateFileError, match="symbolic link"):
        spawn_crawl(QUIET, [], db_url="sqlite://", log_path=logs / "crawl-2.log")
    assert victim.read_text() == "someone else's file\n"


def test_a_log_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    with pytest.raises(PrivateFileError, match="written by other users"):
        spawn_crawl(QUIET, [], db_url="sqlite://", log_path=shared / "crawl-3.log")
