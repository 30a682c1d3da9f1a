"""The scheduler: start due crawls in their own processes, at most K at once, within budgets."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from crawler.clock import Clock, utcnow
from crawler.errors import TrawlError
from crawler.services.scheduler.options import (
    SUPERVISE_SECONDS,
    SchedulerOptions,
    soft_budget,
)
from crawler.services.scheduler.processes import (
    CrawlProcess,
    cmdline,
    crawl_arguments,
    default_crawl_command,
    exit_description,
    find_crawl_process,
    is_crawl_process,
    is_supervisor_process,
    log_tail_reason,
    parent_pid,
    pid_alive,
    spawn_crawl,
)
from crawler.services.scheduler.timing import next_due
from storage.crawls import SeedsBusyError, start_crawl
from storage.db import StorageError
from storage.schedules import (
    RunningCrawl,
    ScheduleInfo,
    claim_due_run,
    close_crawl,
    due_schedules,
    get_schedule,
    next_due_time,
    running_crawls,
    set_crawl_pid,
)
from storage.seeds import list_seeds

if TYPE_CHECKING:
    from storage.db import Store
    from storage.seeds import SeedInfo

logger = logging.getLogger("trawl.scheduler")

class SchedulerError(TrawlError, RuntimeError):
    """A schedule that cannot run now; the message says why and what to do."""


@dataclass(frozen=True)
class RunResult:
    """A crawl the scheduler started or adopted, once it ended."""

    crawl_id: int
    schedule_id: int | None
    outcome: str | None  # as recorded on the crawl row, None if unknown
    reason: str | None


class Scheduler:
    """Starts due schedules' crawls and supervises them; every decision lives in the database.

    Why processes: Twisted's reactor cannot be restarted, so each crawl is its own
    `trawl crawl --crawl-id N` process in its own session. Why the database: a due slot is
    claimed by compare-and-set together with its crawl row, so two schedulers, or one that
    was killed and restarted, never run a slot twice or lose it; a restarted scheduler finds
    the crawl processes of its earlier life by their command line and supervises them again.
    """

    def __init__(
        self,
        store: Store,
        options: SchedulerOptions | None = None,
        *,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.options = options or SchedulerOptions()
        self.clock = clock
        self.monotonic = monotonic
        self.procs: dict[int, CrawlProcess] = {}
        self.finished: list[RunResult] = []
        self.stopping = False
        self._terminating = False
        self._deferred: set[tuple[int, datetime | None]] = set()
        self._command = list(self.options.crawl_command) or default_crawl_command()

    # --- one pass -------------------------------------------------------------------
    def tick(self, *, only: set[int] | None = None) -> list[int]:
        """Reap ended crawls, enforce budgets, check crawl rows left running by processes that
        are gone, then start due schedules while slots are free. Returns crawl ids started."""
        self._supervise()
        running = self._reconcile()
        if self.stopping:
            return []
        return self._start_due(running, only=only)

    def _supervise(self) -> None:
        now = self.monotonic()
        for proc in list(self.procs.values()):
            if proc.poll():
                self._record_end(proc)
                del self.procs[proc.crawl_id]
            elif self._terminating:
                proc.stopped_by_scheduler = True
                proc.stop(now, self.options.kill_grace)
            elif now >= proc.deadline:
                if not proc.timed_out:
                    logger.warning(
                        "crawl %d exceeded its time budget of %gs; stopping it (pid %d)",
                        proc.crawl_id, proc.budget, proc.pid,
                    )
                proc.timed_out = True
                proc.stop(now, self.options.kill_grace)

    def _record_end(self, proc: CrawlProcess) -> None:
        if proc.timed_out:
            how = "SIGTERM, then SIGKILL" if proc.killed else "SIGTERM"
            close_crawl(
                self.store, proc.crawl_id, outcome="timeout",
                reason=f"exceeded its time budget of {proc.budget:g}s: the scheduler stopped "
                f"the crawl process ({how})",
                only_if=("running", "killed", "failed"),
            )
        elif proc.stopped_by_scheduler:
            close_crawl(
                self.store, proc.crawl_id, outcome="killed",
                reason="the scheduler was stopped and stopped its crawls",
                only_if=("running", "killed"),
            )
        elif proc.adopted:
            close_crawl(
                self.store, proc.crawl_id, outcome="failed",
                reason=f"the crawl process (pid {proc.pid}) ended without recording an outcome",
            )
        else:
            code = proc.returncode if proc.returncode is not None else -1
            detail = log_tail_reason(proc.log_path)
            close_crawl(
                self.store, proc.crawl_id, outcome="failed",
                reason=f"the crawl process {exit_description(code)} without recording an "
                f"outcome" + (f"; its last output: {detail}" if detail else ""),
            )
        result = self._result(proc)
        self.finished.append(result)
        logger.info(
            "crawl %d (schedule %s) ended: %s%s", proc.crawl_id, proc.schedule_id,
            result.outcome, f" ({result.reason})" if result.reason else "",
        )

    def _result(self, proc: CrawlProcess) -> RunResult:
        from storage.crawls import get_crawl

        try:
            info = get_crawl(self.store, proc.crawl_id)
        except LookupError:
            return RunResult(proc.crawl_id, proc.schedule_id, None, None)
        return RunResult(proc.crawl_id, proc.schedule_id, info.outcome, info.reason)

    def _reconcile(self) -> list[RunningCrawl]:
        """Running crawl rows whose process is gone become failed; live orphans of a killed
        scheduler are adopted (budget enforced again). Returns the rows still running."""
        still: list[RunningCrawl] = []
        wall = utcnow()
        for row in running_crawls(self.store):
            if row.id in self.procs:
                still.append(row)
                continue
            age = (wall - row.started_at).total_seconds()
            pid = row.pid
            if pid is None and row.schedule_id is not None:
                pid = find_crawl_process(row.id)
                if pid is not None:
                    set_crawl_pid(self.store, row.id, pid)
                elif age < self.options.launch_grace:
                    still.append(row)  # another scheduler is starting it right now
                    continue
                else:
                    self._fail_gone(row, "the scheduler stopped after recording this run and "
                                    "before starting its crawl process")
                    continue
            if pid is None:
                still.append(row)  # a crawl run by hand that did not record its pid
                continue
            argv = cmdline(pid)
            alive = pid_alive(pid) and (
                row.schedule_id is None or argv is None or is_crawl_process(argv, row.id)
            )
            if not alive:
                self._fail_gone(row, f"the crawl process (pid {pid}) is gone without "
                                "recording an outcome (killed, crashed, or the machine "
                                "restarted while it ran)")
                continue
            still.append(row)
            if row.schedule_id is not None and not self._supervised_elsewhere(pid):
                self._adopt(row, pid, age)
        return still

    def _supervised_elsewhere(self, pid: int) -> bool:
        parent = parent_pid(pid)
        return parent is not None and parent != os.getpid() and is_supervisor_process(
            cmdline(parent)
        )

    def _fail_gone(self, row: RunningCrawl, why: str) -> None:
        if close_crawl(self.store, row.id, outcome="failed", reason=why):
            logger.warning("crawl %d marked failed: %s", row.id, why)

    def _adopt(self, row: RunningCrawl, pid: int, age: float) -> None:
        budget = self._budget_of(row.schedule_id)
        proc = CrawlProcess(
            crawl_id=row.id, schedule_id=row.schedule_id, seed_ids=row.seed_ids, pid=pid,
            budget=budget, deadline=self.monotonic() + max(0.0, budget - age),
        )
        self.procs[row.id] = proc
        logger.info(
            "crawl %d (pid %d) of schedule %s is still running from an earlier scheduler; "
            "supervising it (%.0fs of its %gs budget left)",
            row.id, pid, row.schedule_id, max(0.0, budget - age), budget,
        )

    def _budget_of(self, schedule_id: int | None) -> float:
        from storage.policy import DEFAULT_TIME_BUDGET_SECONDS

        if schedule_id is None:
            return float(DEFAULT_TIME_BUDGET_SECONDS)
        try:
            return float(get_schedule(self.store, schedule_id).time_budget_seconds)
        except LookupError:
            return float(DEFAULT_TIME_BUDGET_SECONDS)

    # --- starting crawls --------------------------------------------------------------
    def _start_due(self, running: list[RunningCrawl], *, only: set[int] | None) -> list[int]:
        busy = {seed for row in running for seed in row.seed_ids}
        active = sum(1 for row in running if row.schedule_id is not None)
        started: list[int] = []
        now = self.clock()
        for schedule in due_schedules(self.store, now):
            if only is not None and schedule.id not in only:
                continue
            if active >= self.options.max_concurrent:
                break
            seeds = self.resolve_seeds(schedule)
            crawl_id = self._claim(schedule, seeds, busy, now)
            if crawl_id is None:
                continue
            if only is not None:
                only.discard(schedule.id)
            if not seeds:
                self._no_seeds(schedule, crawl_id)
            elif self.launch(crawl_id, schedule, seeds):
                busy |= {s.id for s in seeds}
                active += 1
                started.append(crawl_id)
        return started

    def _claim(self, schedule: ScheduleInfo, seeds: Sequence[SeedInfo], busy: set[int],
               now: datetime) -> int | None:
        """The crawl row of the schedule's due slot, or None when its seeds are being crawled
        (it waits; `busy` learns of seeds a crawl took since we looked) or another scheduler
        took the slot."""
        ids = {s.id for s in seeds}
        if ids & busy:
            key = (schedule.id, schedule.next_due_at)
            if key not in self._deferred:
                self._deferred.add(key)
                logger.info("schedule %r is due but seed(s) %s are being crawled; it waits",
                            schedule.name, ", ".join(map(str, sorted(ids & busy))))
            return None
        assert schedule.next_due_at is not None  # due_schedules only returns due ones
        try:
            return claim_due_run(
                self.store, schedule.id, expected_due=schedule.next_due_at,
                next_due=next_due(
                    cron=schedule.cron, interval_seconds=schedule.interval_seconds,
                    due=schedule.next_due_at, now=now,
                ),
                now=now, start_urls=[s.url for s in seeds], seed_ids=sorted(ids),
            )
        except SeedsBusyError as exc:  # a crawl of its seeds began since we looked
            busy |= set(exc.busy)
            return None

    def _no_seeds(self, schedule: ScheduleInfo, crawl_id: int) -> None:
        which = []
        if schedule.seed_ids:
            which.append(f"ids {', '.join(map(str, schedule.seed_ids))}")
        if schedule.seed_tag:
            which.append(f"tag {schedule.seed_tag!r}")
        close_crawl(
            self.store, crawl_id, outcome="failed",
            reason=f"schedule {schedule.name!r} has no active seeds ({'; '.join(which)}); "
            "nothing was crawled",
        )
        logger.warning("schedule %r has no active seeds; nothing crawled", schedule.name)

    def resolve_seeds(self, schedule: ScheduleInfo) -> list[SeedInfo]:
        """The schedule's active seeds: its ids plus, at run time, every seed with its tag."""
        found: dict[int, SeedInfo] = {}
        if schedule.seed_ids:
            for seed in list_seeds(self.store, ids=list(schedule.seed_ids)):
                if seed.active:
                    found[seed.id] = seed
        if schedule.seed_tag:
            for seed in list_seeds(self.store, active_only=True, tag=schedule.seed_tag):
                found[seed.id] = seed
        return [found[i] for i in sorted(found)]

    def launch(self, crawl_id: int, schedule: ScheduleInfo, seeds: Sequence[SeedInfo]) -> bool:
        """Start the crawl process of an already recorded crawl row and supervise it."""
        budget = float(schedule.time_budget_seconds)
        log_path = self.options.log_dir / f"crawl-{crawl_id}.log"
        args = crawl_arguments(
            crawl_id, [s.id for s in seeds], time_budget=soft_budget(budget),
            depth=schedule.depth, max_pages=schedule.max_pages,
            frontier_prefix=self.options.redis_prefix if self.options.redis_url else None,
        )
        try:
            allowed = list(dict.fromkeys([*self.options.allow_addresses,
                                          *schedule.allow_addresses]))
            popen = spawn_crawl(self._command, args, db_url=self.store.url, log_path=log_path,
                                allow_addresses=allowed,
                                redis_url=self.options.redis_url)
        except OSError as exc:
            close_crawl(self.store, crawl_id, outcome="failed",
                        reason=f"the crawl process could not start: {exc}")
            logger.error(
                "crawl %d of schedule %r could not start: %s", crawl_id, schedule.name, exc
            )
            return False
        set_crawl_pid(self.store, crawl_id, popen.pid)
        self.procs[crawl_id] = CrawlProcess(
            crawl_id=crawl_id, schedule_id=schedule.id, seed_ids=tuple(s.id for s in seeds),
            pid=popen.pid, budget=budget, deadline=self.monotonic() + budget, popen=popen,
            log_path=log_path,
        )
        logger.info(
            "started crawl %d of schedule %r: %d seed(s), budget %gs, pid %d, log %s",
            crawl_id, schedule.name, len(seeds), budget, popen.pid, log_path,
        )
        return True

    def run_now(self, schedule: ScheduleInfo) -> int:
        """Start one crawl of the schedule now, outside its timetable (its due time is kept).
        Raises SchedulerError naming the busy seeds when any is being crawled."""
        self._reconcile()
        seeds = self.resolve_seeds(schedule)
        if not seeds:
            raise SchedulerError(f"Schedule {schedule.name!r} has no active seeds to crawl.")
        try:
            crawl_id = start_crawl(
                self.store, start_urls=[s.url for s in seeds], seed_ids=[s.id for s in seeds],
                schedule_id=schedule.id, exclusive=True,
            )
        except SeedsBusyError as exc:
            raise SchedulerError(
                f"Schedule {schedule.name!r} cannot run now: {exc} "
                "(`trawl crawls list --outcome running` shows them)."
            ) from None
        if not self.launch(crawl_id, schedule, seeds):
            raise SchedulerError(f"The crawl process of crawl {crawl_id} could not start.")
        return crawl_id

    # --- loops ------------------------------------------------------------------------
    def request_stop(self, *, terminate: bool | None = None) -> None:
        """Stop starting crawls. With on_stop 'terminate' (or terminate=True) running crawls
        get SIGTERM (they record what they found) and SIGKILL after the grace; with 'wait'
        they run to their end or budget; with 'detach' the scheduler leaves them running for
        the next scheduler to adopt."""
        self.stopping = True
        if terminate or (terminate is None and self.options.on_stop == "terminate"):
            self._terminating = True

    @contextmanager
    def signals_handled(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the scheduler (a second one terminates its crawls) while
        the block runs; the previous handlers come back afterwards."""
        def handler(signum: int, _frame: FrameType | None) -> None:
            again = self.stopping
            logger.info(
                "received %s: %s", signal.Signals(signum).name,
                "stopping the running crawls" if again or self.options.on_stop == "terminate"
                else f"no new crawls ({self.options.on_stop} for running ones)",
            )
            self.request_stop(terminate=True if again else None)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def wait(self) -> None:
        """Supervise until no crawl of ours is left (or the stop mode says leave them)."""
        while self.procs:
            if self.stopping and self.options.on_stop == "detach" and not self._terminating:
                logger.info("leaving %d crawl(s) running for the next scheduler", len(self.procs))
                return
            self.tick(only=set())
            if self.procs:
                self._sleep(SUPERVISE_SECONDS)

    def _sleep(self, seconds: float) -> None:
        """Sleep in short steps so a stop request is acted on promptly."""
        end = self.monotonic() + seconds
        while not self.stopping:
            left = end - self.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, SUPERVISE_SECONDS))

    def run_once(self) -> list[RunResult]:
        """Run every schedule due now (each at most once, K at a time) and wait for them."""
        pending = {s.id for s in due_schedules(self.store, self.clock())}
        logger.info("%d schedule(s) due", len(pending))
        while not self.stopping:
            started = self.tick(only=pending)
            if not self.procs and not started:
                break
            self._sleep(min(SUPERVISE_SECONDS, self.options.poll_seconds))
        self.wait()
        return self.finished

    def run_forever(self) -> None:
        logger.info(
            "scheduler started: at most %d crawl(s) at once, polling every %gs, logs in %s",
            self.options.max_concurrent, self.options.poll_seconds, self.options.log_dir,
        )
        while not self.stopping:
            try:
                self.tick()
                pause = self._sleep_seconds()
            except (SQLAlchemyError, StorageError) as exc:  # database down: crawls carry on
                logger.error("database error, retrying in %gs: %s", self.options.poll_seconds,
                             str(exc).splitlines()[0])
                pause = self.options.poll_seconds
            self._sleep(pause)
        self.wait()
        logger.info("scheduler stopped")

    def _sleep_seconds(self) -> float:
        poll = self.options.poll_seconds
        if self.procs:
            return min(poll, SUPERVISE_SECONDS)
        due = next_due_time(self.store)
        if due is None:
            return poll
        return max(0.05, min(poll, (due - self.clock()).total_seconds()))
