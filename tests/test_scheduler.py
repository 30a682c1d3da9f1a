"""The scheduler with real crawl processes of a local site: K at a time, one crawl per seed,
budgets, crashes, and a scheduler killed with SIGKILL mid-crawl and restarted."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawler.services.scheduler.options import (
    DEFAULT_KILL_GRACE_SECONDS,
    SchedulerOptions,
    soft_budget,
)
from crawler.services.scheduler.processes import (
    crawl_arguments,
    is_crawl_process,
    is_supervisor_process,
    pid_alive,
)
from crawler.services.scheduler.scheduler import Scheduler
from crawler.sitegen.server import LoggedRequest, Reply, RouteServer, static
from storage.crawls import get_crawl, list_crawls, running_seed_ids, start_crawl
from storage.db import Store, open_store, utcnow
from storage.records import CrawlInfo
from storage.schedules import (
    ScheduleInfo,
    ScheduleSpec,
    add_schedule,
    claim_due_run,
    get_schedule,
    set_crawl_pid,
)
from storage.seeds import SeedInfo, SeedSpec, add_seeds

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2030, 1, 1, 0, 0)
WAIT_LIMIT = 60.0  # generous: the machine is shared; a healthy run takes a few seconds


class LocalSite:
    """A chain of pages (/ -> /p1 -> /p2 ...) each showing generated PNGs, on 127.0.0.1.

    Images answer conditional requests with 304 (ETag) and count the body bytes they send;
    pages can be slow (page_delay) and the start page can hang until the site stops.
    """

    def __init__(self, *, pages: int = 2, images_per_page: int = 2, page_delay: float = 0.0,
                 hang: bool = False, seed: int = 0) -> None:
        self.log: list[LoggedRequest] = []
        self.server = RouteServer("127.0.0.1", self.log)
        self.page_delay = page_delay
        self.hang = hang
        self.released = threading.Event()
        self.image_bytes = 0
        self.image_bodies = 0
        self.images: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.pages = pages
        for page in range(pages + 1):
            path = "/" if page == 0 else f"/p{page}"
            tags = []
            for i in range(images_per_page):
                image_path = f"/img/{page}-{i}.png"
                data = _png(seed * 1000 + page * 10 + i)
                self.images[image_path] = data
                self.server.routes[image_path] = self._counted(
                    static(data, "image/png", etag='"' + hashlib.md5(data).hexdigest() + '"'))
                tags.append(f'<img src="{image_path}">')
            if page < pages:
                tags.append(f'<a href="/p{page + 1}">next</a>')
            body = f"<!doctype html><html><body>{''.join(tags)}</body></html>".encode()
            self.server.routes[path] = self._page(body, hang=hang and page == 0)

    def _page(self, body: bytes, *, hang: bool) -> Callable[[str, dict[str, str]], Reply]:
        def route(path: str, headers: dict[str, str]) -> Reply:
            if hang:
                self.released.wait(120)
            elif self.page_delay:
                self.released.wait(self.page_delay)
            return Reply(200, body)

        return route

    def _counted(self, route: Callable[[str, dict[str, str]], Reply | None]) -> Callable[
            [str, dict[str, str]], Reply | None]:
        def counted(path: str, headers: dict[str, str]) -> Reply | None:
            reply = route(path, headers)
            if reply is not None and reply.status == 200:
                with self._lock:
                    self.image_bytes += len(reply.body)
                    self.image_bodies += 1
            return reply

        return counted

    def requested_paths(self) -> list[str]:
        base = len(self.server.base_url)
        return [r.url[base:] for r in self.log]

    @property
    def start_url(self) -> str:
        return self.server.base_url + "/"

    def __enter__(self) -> LocalSite:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.stop()


def _png(seed: int) -> bytes:
    pixels = (np.random.default_rng(seed).random((48, 48, 3)) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def add_site_seed(store: Store, site: LocalSite, *, depth: int = 10) -> SeedInfo:
    [seed] = add_seeds(store, [SeedSpec(url=site.start_url, domain="127.0.0.1", depth=depth)])
    return seed


def add_every_hour(store: Store, name: str, seeds: list[SeedInfo], *, due: datetime = T0,
                   budget: int = 120) -> ScheduleInfo:
    return add_schedule(
        store,
        ScheduleSpec(name=name, seed_ids=tuple(s.id for s in seeds), interval_seconds=3600,
                     time_budget_seconds=budget),
        next_due_at=due,
    )


def wait_for(condition: Callable[[], object], what: str, limit: float = WAIT_LIMIT) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {limit:g}s waiting for {what}")


def crawls_of(store: Store, schedule: ScheduleInfo) -> list[CrawlInfo]:
    return [c for c in list_crawls(store, limit=None) if c.schedule_id == schedule.id]


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def scheduler(store: Store, tmp_path: Path, now: datetime = T0, **options: object) -> Scheduler:
    settings = {"poll_seconds": 0.2, "kill_grace": 2.0, "log_dir": tmp_path / "logs", **options}
    return Scheduler(store, SchedulerOptions(**settings), clock=lambda: now)  # type: ignore[arg-type]


# --- pure helpers -------------------------------------------------------------------


def test_crawl_arguments_and_process_recognition() -> None:
    args = crawl_arguments(7, [1, 2], time_budget=54.0, depth=2, max_pages=None)
    assert args == ["crawl", "--crawl-id", "7", "--seed", "1", "--seed", "2",
                    "--time-budget", "54", "--depth", "2"]
    argv = [sys.executable, "-m", "crawler.cli.main", *args]
    assert is_crawl_process(argv, 7)
    assert not is_crawl_process(argv, 70)
    assert not is_crawl_process(["python3", "--crawl-id", "7"], 7)
    assert is_supervisor_process([sys.executable, "-m", "crawler.cli.main", "scheduler"])
    assert is_supervisor_process(["/usr/bin/trawl", "schedule", "run-now", "x"])
    assert not is_supervisor_process(["/usr/bin/python3", "-m", "pytest"])
    assert soft_budget(3600) == 3540  # a minute's margin for a long crawl
    assert soft_budget(30) == 27
    assert soft_budget(3) == 2


# --- real crawls --------------------------------------------------------------------


def test_two_seeds_due_at_once_with_k1_run_one_after_the_other(
    store: Store, tmp_path: Path
) -> None:
    with LocalSite(seed=1) as one, LocalSite(seed=2) as two:
        a = add_every_hour(store, "a", [add_site_seed(store, one)])
        b = add_every_hour(store, "b", [add_site_seed(store, two)])
        results = scheduler(store, tmp_path, max_concurrent=1).run_once()
    assert [r.outcome for r in results] == ["finished", "finished"]
    [first], [second] = crawls_of(store, a), crawls_of(store, b)
    assert first.finished_at is not None
    assert first.finished_at <= second.started_at  # never two at once with K=1
    for crawl in (first, second):
        assert crawl.pages == 3
        assert crawl.images == 6
    for schedule in (a, b):
        assert get_schedule(store, schedule.id).next_due_at == T0 + timedelta(hours=1)


def test_k2_runs_two_at_once_but_never_one_seed_twice(store: Store, tmp_path: Path) -> None:
    with LocalSite(page_delay=0.2, seed=3) as shared, LocalSite(page_delay=0.2, seed=4) as other:
        seed, other_seed = add_site_seed(store, shared), add_site_seed(store, other)
        first = add_every_hour(store, "first", [seed])
        again = add_every_hour(store, "same-seed", [seed], due=T0 + timedelta(seconds=1))
        parallel = add_every_hour(store, "other", [other_seed], due=T0 + timedelta(seconds=2))
        sched = scheduler(store, tmp_path, now=T0 + timedelta(minutes=1), max_concurrent=2)
        started = sched.tick()
        # the shared seed's second schedule waits although a slot is free
        assert len(started) == 2
        assert running_seed_ids(store) == {seed.id, other_seed.id}
        sched.run_once()
    [a], [b], [c] = crawls_of(store, first), crawls_of(store, again), crawls_of(store, parallel)
    assert [x.outcome for x in (a, b, c)] == ["finished"] * 3
    assert a.finished_at is not None
    assert c.finished_at is not None
    assert a.finished_at <= b.started_at  # one seed, one crawl at a time
    assert c.started_at < a.finished_at  # while K=2 let another seed run alongside


def test_hanging_crawl_is_killed_at_its_budget(store: Store, tmp_path: Path) -> None:
    budget, grace = 10, 1.0  # the budget covers process start-up, slow on a busy machine
    with LocalSite(hang=True, seed=5) as site:
        schedule = add_every_hour(store, "hangs", [add_site_seed(store, site)], budget=budget)
        began = time.monotonic()
        results = scheduler(store, tmp_path, kill_grace=grace).run_once()
        took = time.monotonic() - began
        hung = site.requested_paths()
    [crawl] = crawls_of(store, schedule)
    assert "/" in hung  # the crawl was stuck waiting for the start page when it was stopped
    assert [r.outcome for r in results] == ["timeout"]
    assert crawl.outcome == "timeout"
    assert f"time budget of {budget}s" in (crawl.reason or "")
    assert budget <= took < budget + grace + 10.0  # + slack for a loaded machine
    assert crawl.pid is not None
    assert not pid_alive(crawl.pid)
    assert running_seed_ids(store) == set()


def test_crawl_process_that_dies_is_recorded_failed(store: Store, tmp_path: Path) -> None:
    with LocalSite(pages=6, page_delay=1.0, seed=6) as site:
        schedule = add_every_hour(store, "crashes", [add_site_seed(store, site)])
        sched = scheduler(store, tmp_path)
        [crawl_id] = sched.tick()
        pid = sched.procs[crawl_id].pid
        wait_for(lambda: any(r.url.endswith("/p1") for r in site.log), "the crawl to start")
        os.kill(pid, signal.SIGKILL)  # what the OOM killer does
        sched.wait()
    [crawl] = crawls_of(store, schedule)
    assert crawl.outcome == "failed"
    assert "was killed by SIGKILL" in (crawl.reason or "")
    assert sched.finished[0].outcome == "failed"


def test_stopping_the_scheduler_terminates_its_crawls(store: Store, tmp_path: Path) -> None:
    with LocalSite(pages=6, page_delay=1.0, seed=7) as site:
        schedule = add_every_hour(store, "stopped", [add_site_seed(store, site)])
        # The default grace: a loaded machine may need more than a couple of seconds to close.
        sched = scheduler(store, tmp_path, on_stop="terminate",
                          kill_grace=DEFAULT_KILL_GRACE_SECONDS)
        sched.tick()
        wait_for(lambda: any(r.url.endswith("/p1") for r in site.log), "the crawl to start")
        sched.request_stop()
        assert sched.tick() == []  # no new crawls once stopping
        sched.wait()
    [crawl] = crawls_of(store, schedule)
    assert crawl.outcome == "killed"
    assert "scheduler was stopped" in (crawl.reason or "")
    assert crawl.pages >= 1  # what it found before stopping is kept


def test_stale_running_crawls_are_failed_and_not_rerun(store: Store, tmp_path: Path) -> None:
    """A scheduler restarted after the machine went down: its crawl rows say running but
    their processes are gone. They become failed; the slots they used are not run again."""
    seeds = add_seeds(store, [SeedSpec(url=f"http://gone{i}.test/", domain=f"gone{i}.test")
                              for i in range(3)])
    schedules = [add_every_hour(store, f"s{i}", [seeds[i]]) for i in range(3)]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    later = T0 + timedelta(hours=1)
    claimed = [claim_due_run(store, s.id, expected_due=T0, next_due=later, now=T0,
                             start_urls=[seeds[i].url], seed_ids=[seeds[i].id])
               for i, s in enumerate(schedules)]
    ids = [crawl_id for crawl_id in claimed if crawl_id is not None]
    assert len(ids) == 3
    set_crawl_pid(store, ids[0], dead.pid)  # its process died
    set_crawl_pid(store, ids[1], os.getpid())  # pid reused by a process that is no crawl
    # ids[2] has no pid: the scheduler died between recording the run and starting it
    sched = scheduler(store, tmp_path, launch_grace=0.0)
    assert sched.tick() == []
    for crawl_id in ids:
        crawl = get_crawl(store, crawl_id)
        assert crawl.outcome == "failed"
    assert "is gone without recording an outcome" in (get_crawl(store, ids[0]).reason or "")
    assert "is gone without recording an outcome" in (get_crawl(store, ids[1]).reason or "")
    assert "before starting its crawl process" in (get_crawl(store, ids[2]).reason or "")
    assert running_seed_ids(store) == set()
    for s in schedules:
        assert get_schedule(store, s.id).next_due_at == later
        assert len(crawls_of(store, s)) == 1


def test_young_pidless_crawl_belongs_to_a_scheduler_starting_it(
    store: Store, tmp_path: Path
) -> None:
    [seed] = add_seeds(store, [SeedSpec(url="http://busy.test/", domain="busy.test")])
    schedule = add_every_hour(store, "busy", [seed])
    crawl_id = start_crawl(store, start_urls=[seed.url], seed_ids=[seed.id],
                           schedule_id=schedule.id)
    sched = scheduler(store, tmp_path)  # default launch grace: 30 s
    assert sched.tick() == []  # due, but its seed is in that crawl
    assert get_crawl(store, crawl_id).outcome == "running"
    assert get_schedule(store, schedule.id).next_due_at == T0


def test_scheduler_killed_mid_crawl_restarts_without_loss_or_double(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRAWL_DATABASE_URL": sqlite_url}
    env.pop("TRAWL_NOW", None)
    command = [sys.executable, "-m", "crawler.cli.main", "scheduler", "--poll", "0.2",
               "--kill-grace", "2", "--log-dir", str(tmp_path / "logs")]
    store = open_store(sqlite_url)
    first: subprocess.Popen[str] | None = None
    second: subprocess.Popen[str] | None = None
    try:
        with LocalSite(pages=5, page_delay=0.8, seed=8) as site:
            due = utcnow().replace(microsecond=0)
            schedule = add_every_hour(store, "survives", [add_site_seed(store, site)], due=due)
            first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: any(c.pid for c in crawls_of(store, schedule)),
                     "the scheduler to start the crawl")
            wait_for(lambda: any(r.url.endswith("/p1") for r in site.log), "crawling")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            [running] = crawls_of(store, schedule)
            assert running.outcome == "running"
            assert running.pid is not None
            assert pid_alive(running.pid)  # the crawl outlives its scheduler

            second = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: crawls_of(store, schedule)[0].outcome != "running",
                     "the crawl to end")
            second.send_signal(signal.SIGTERM)
            _, log = second.communicate(timeout=30)
            assert second.returncode == 0, log
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    [crawl] = crawls_of(store, schedule)  # nothing doubled
    assert crawl.outcome == "finished", crawl.reason  # nothing lost
    assert crawl.pages == 6
    assert crawl.images == 12
    assert get_schedule(store, schedule.id).next_due_at == due + timedelta(hours=1)
    assert "still running from an earlier scheduler" in log
    assert "scheduler stopped" in log
    store.close()


def test_scheduler_once_and_run_now_commands(sqlite_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from crawler.cli.main import cli

    store = open_store(sqlite_url)
    logs = str(tmp_path / "logs")
    try:
        with LocalSite(seed=9) as site:
            seed = add_site_seed(store, site)
            schedule = add_every_hour(store, "cli", [seed])
            env = {"TRAWL_NOW": "2030-01-01T00:30:00", "TRAWL_SCHEDULER_MAX_CONCURRENT": "2"}
            once = CliRunner().invoke(
                cli, ["--db", sqlite_url, "scheduler", "--once", "--poll", "0.2", "--log-dir",
                      logs], env=env)
            assert once.exit_code == 0, once.output
            [first] = crawls_of(store, schedule)
            assert f"crawl {first.id} finished" in once.output
            assert get_schedule(store, schedule.id).next_due_at == T0 + timedelta(hours=1)

            blocker = start_crawl(store, start_urls=[seed.url], seed_ids=[seed.id])
            refused = CliRunner().invoke(
                cli, ["--db", sqlite_url, "schedule", "run-now", "cli", "--log-dir", logs])
            assert refused.exit_code == 1
            assert f"seed {seed.id} (crawl {blocker})" in refused.output
            assert len(crawls_of(store, schedule)) == 1

            from storage.schedules import close_crawl

            close_crawl(store, blocker, outcome="finished", reason="test")
            ran = CliRunner().invoke(
                cli, ["--db", sqlite_url, "schedule", "run-now", "cli", "--log-dir", logs,
                      "--format", "json"])
            assert ran.exit_code == 0, ran.output
        assert '"outcome": "finished"' in ran.output
        assert [c.outcome for c in crawls_of(store, schedule)] == ["finished", "finished"]
        # run-now keeps the timetable
        assert get_schedule(store, schedule.id).next_due_at == T0 + timedelta(hours=1)
    finally:
        store.close()
