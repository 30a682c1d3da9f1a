"""Crawl processes: spawn `trawl crawl` in its own session, find it again, stop it for good."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import crawler

logger = logging.getLogger(__name__)

PROC = Path("/proc")
LOG_TAIL_BYTES = 4096  # how much of a crawl's log to read for the reason it failed
REASON_MAX_CHARS = 300
# The CLI module a crawl process runs; a restarted scheduler recognises its crawls by it.
CRAWL_MODULE = "crawler.cli.main"
PROJECT_ROOT = Path(crawler.__file__).resolve().parents[1]


def default_crawl_command() -> list[str]:
    return [sys.executable, "-m", CRAWL_MODULE]


def crawl_arguments(
    crawl_id: int,
    seed_ids: Sequence[int],
    *,
    time_budget: float | None,
    depth: int | None,
    max_pages: int | None,
    frontier_prefix: str | None = None,
) -> list[str]:
    """`crawl --crawl-id N --seed ID...` with the schedule's limits: the crawl row exists
    already (the scheduler claimed it), so the crawl process fills it in. With
    `frontier_prefix` it queues the crawl for `trawl worker` processes and waits for it to
    end (the Redis URL goes through the environment, see spawn_crawl)."""
    args = ["crawl", "--crawl-id", str(crawl_id)]
    if frontier_prefix is not None:
        args += ["--distributed", "--wait", "--redis-prefix", frontier_prefix]
    for seed_id in seed_ids:
        args += ["--seed", str(seed_id)]
    if time_budget is not None:
        args += ["--time-budget", f"{time_budget:g}"]
    if depth is not None:
        args += ["--depth", str(depth)]
    if max_pages is not None:
        args += ["--max-pages", str(max_pages)]
    return args


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid is [1])."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return not (fields and fields[0] in ("Z", "X"))


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields and len(fields) > 1 else None


def cmdline(pid: int) -> list[str] | None:
    """The process's argv, or None where /proc cannot tell (gone, or not Linux)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_crawl_process(argv: Sequence[str] | None, crawl_id: int) -> bool:
    """Whether argv is `... crawl --crawl-id N ...` for this crawl id."""
    if not argv:
        return False
    wanted = str(crawl_id)
    for i, arg in enumerate(argv):
        if arg == "--crawl-id" and i + 1 < len(argv) and argv[i + 1] == wanted:
            return "crawl" in argv[:i]
        if arg == f"--crawl-id={wanted}":
            return "crawl" in argv[:i]
    return False


def is_supervisor_process(argv: Sequence[str] | None) -> bool:
    """Whether argv is a live `trawl scheduler` or `trawl schedule run-now`: a crawl whose
    parent is one of those is supervised already; a crawl whose parent died is an orphan."""
    if not argv:
        return False
    trawl = any(CRAWL_MODULE in arg or Path(arg).name == "trawl" for arg in argv)
    return trawl and ("scheduler" in argv or "run-now" in argv)


def find_crawl_process(crawl_id: int) -> int | None:
    """The pid of the live process crawling this crawl id, found by its command line."""
    if not PROC.is_dir():
        return None
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            if is_crawl_process(cmdline(pid), crawl_id) and pid_alive(pid):
                return pid
    return None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the crawl's whole process group (it leads its own session), or just the pid
    when it does not lead one. A process that is already gone is not an error."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail_reason(path: Path | None) -> str | None:
    """The last non-empty line of a crawl's log (typically the exception), shortened."""
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            tail = handle.read().decode(errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    return last if len(last) <= REASON_MAX_CHARS else last[: REASON_MAX_CHARS - 1] + "…"


def exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


@dataclass
class CrawlProcess:
    """One crawl the scheduler supervises: its own child (popen) or one adopted from an
    earlier life of the scheduler (pid only). The deadline is on the monotonic clock."""

    crawl_id: int
    schedule_id: int | None
    seed_ids: tuple[int, ...]
    pid: int
    budget: float
    deadline: float
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    term_sent_at: float | None = None
    killed: bool = False
    timed_out: bool = False
    stopped_by_scheduler: bool = False
    returncode: int | None = field(default=None)

    @property
    def adopted(self) -> bool:
        return self.popen is None

    def poll(self) -> bool:
        """True once the process has ended (its return code is known for our own children)."""
        if self.popen is not None:
            self.returncode = self.popen.poll()
            return self.returncode is not None
        return not pid_alive(self.pid)

    def stop(self, now: float, kill_grace: float) -> None:
        """SIGTERM the group once (Scrapy then shuts down gracefully and records what it
        found), SIGKILL it kill_grace seconds later if it is still there."""
        if self.term_sent_at is None:
            self.term_sent_at = now
            signal_group(self.pid, signal.SIGTERM)
        elif not self.killed and now - self.term_sent_at >= kill_grace:
            self.killed = True
            signal_group(self.pid, signal.SIGKILL)

    def kill_now(self) -> None:
        self.killed = True
        signal_group(self.pid, signal.SIGKILL)


def spawn_crawl(
    command: Sequence[str],
    args: Sequence[str],
    *,
    db_url: str,
    log_path: Path,
    allow_addresses: Sequence[str] = (),
    redis_url: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a crawl process in its own session (so its group can be killed as one and it
    outlives a scheduler that is killed), output appended to log_path (a private file in a
    private folder, never through a symlink: crawler.files). The database and Redis URLs go
    through the environment, not argv, so a password never shows in `ps`; so do the allowed
    addresses (the crawl reads TRAWL_ALLOW_ADDRESSES)."""
    from crawler.files import open_private, private_dir

    env = dict(os.environ)
    env["TRAWL_DATABASE_URL"] = db_url
    if allow_addresses:
        env["TRAWL_ALLOW_ADDRESSES"] = ",".join(allow_addresses)
    if redis_url is not None:
        env["TRAWL_REDIS_URL"] = redis_url
    env.pop("TRAWL_NOW", None)  # fake time is for the scheduler's due times only
    paths = [str(PROJECT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    private_dir(log_path.parent)
    with open_private(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(args)}\n".encode())
        log.flush()
        return subprocess.Popen(
            [*command, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
