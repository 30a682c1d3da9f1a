"""Dead crawls are recognised and marked failed (audited), operators can mark one failed, and
crawl counters are added in the transaction of what they count."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from crawler.services.scheduler.processes import pid_alive
from storage.audit import list_audit
from storage.crawls import (
    SYSTEM_ACTOR,
    CrawlEndedError,
    add_crawl_counts,
    finish_crawl,
    get_crawl,
    heartbeat,
    mark_crawl_failed,
    reap_dead_crawls,
    running_seed_ids,
    start_crawl,
    update_crawl_stats,
)
from storage.db import NotFoundError, Store, open_store, utcnow
from storage.models import Crawl
from storage.schedules import ScheduleSpec, add_schedule, claim_due_run
from storage.seeds import SeedSpec, add_seeds

pytestmark = pytest.mark.hostile

HOST = socket.gethostname()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _age(store: Store, crawl_id: int, seconds: float, *, legacy: bool = False) -> None:
    """Pretend the crawl's last heartbeat (or, for a row from before heartbeats, its start)
    was `seconds` ago."""
    past = utcnow() - timedelta(seconds=seconds)
    values = {"started_at": past, "heartbeat_at": None} if legacy else {"heartbeat_at": past}
    with store.session() as session:
        session.execute(update(Crawl).where(Crawl.id == crawl_id).values(**values))


def _seed(store: Store) -> int:
    return add_seeds(store, [SeedSpec("http://127.0.0.1:1/", "127.0.0.1")])[0].id


def test_start_crawl_records_host_and_a_first_heartbeat(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[], pid=4242)
    crawl = get_crawl(store, crawl_id)
    assert (crawl.pid, crawl.host) == (4242, HOST)
    assert crawl.heartbeat_at == crawl.started_at
    other = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[], host="worker-7")
    assert get_crawl(store, other).host == "worker-7"


def test_a_scheduler_claimed_run_records_host_and_a_first_heartbeat(store: Store) -> None:
    seed = _seed(store)
    now = utcnow()
    schedule = add_schedule(store, ScheduleSpec(name="hourly", seed_ids=(seed,),
                                                 interval_seconds=3600), next_due_at=now)
    crawl_id = claim_due_run(store, schedule.id, expected_due=now,
                             next_due=now + timedelta(hours=1), now=now,
                             start_urls=["http://127.0.0.1:1/"], seed_ids=[seed])
    assert crawl_id is not None
    crawl = get_crawl(store, crawl_id)
    assert (crawl.pid, crawl.host) == (None, HOST)  # the pid follows once it is spawned
    assert crawl.heartbeat_at == crawl.started_at


def test_heartbeat_moves_forward_until_the_crawl_ends(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])
    _age(store, crawl_id, 60)
    before = get_crawl(store, crawl_id).heartbeat_at
    assert heartbeat(store, crawl_id) is True
    after = get_crawl(store, crawl_id).heartbeat_at
    assert before is not None
    assert after is not None
    assert after > before
    finish_crawl(store, crawl_id, outcome="finished", stats={})
    assert heartbeat(store, crawl_id) is False  # ended (or marked failed): stop
    assert heartbeat(store, 999) is False


def test_a_crawl_whose_process_is_gone_is_marked_failed_and_frees_its_seeds(
    store: Store,
) -> None:
    seed = _seed(store)
    pid = _dead_pid()
    crawl_id = start_crawl(store, start_urls=["http://127.0.0.1:1/"], seed_ids=[seed], pid=pid,
                           exclusive=True)
    alive = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[], pid=1)  # init
    assert running_seed_ids(store) == {seed}
    (dead,) = reap_dead_crawls(store, host=HOST, pid_alive=pid_alive, stale_after=300)
    assert (dead.crawl_id, dead.pid, dead.host) == (crawl_id, pid, HOST)
    assert f"pid {pid}" in dead.reason
    crawl = get_crawl(store, crawl_id)
    assert crawl.outcome == "failed"
    assert crawl.finished_at is not None
    assert "is gone" in (crawl.reason or "")
    assert get_crawl(store, alive).outcome == "running"
    (entry,) = list_audit(store, entity="crawl", entity_id=crawl_id)
    assert (entry.actor, entry.action, entry.from_state, entry.to_state) == (
        SYSTEM_ACTOR, "crawl_marked_failed", "running", "failed")
    assert running_seed_ids(store) == set()
    start_crawl(store, start_urls=["http://127.0.0.1:1/"], seed_ids=[seed], exclusive=True)
    assert reap_dead_crawls(store, host=HOST, pid_alive=pid_alive, stale_after=300) == []


def test_pids_are_only_trusted_on_their_own_host(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[], pid=_dead_pid(),
                           host="another-machine")
    assert reap_dead_crawls(store, host=HOST, pid_alive=pid_alive, stale_after=300) == []
    _age(store, crawl_id, 301)
    (dead,) = reap_dead_crawls(store, host=HOST, pid_alive=pid_alive, stale_after=300)
    assert dead.crawl_id == crawl_id
    assert dead.reason.startswith("no heartbeat for 30")


def test_a_stale_heartbeat_counts_as_dead_and_a_fresh_one_does_not(store: Store) -> None:
    never_asked: list[int] = []

    def alive(pid: int) -> bool:
        never_asked.append(pid)
        return True

    stale = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])  # no pid
    fresh = start_crawl(store, start_urls=["http://b.test/"], seed_ids=[])
    legacy = start_crawl(store, start_urls=["http://c.test/"], seed_ids=[])
    _age(store, stale, 120)
    _age(store, fresh, 30)
    _age(store, legacy, 120, legacy=True)  # a row written before heartbeats existed
    dead = reap_dead_crawls(store, host=HOST, pid_alive=alive, stale_after=60)
    assert [d.crawl_id for d in dead] == [stale, legacy]
    assert never_asked == []
    assert get_crawl(store, fresh).outcome == "running"


def test_a_heartbeat_arriving_while_reaping_wins(store: Store) -> None:
    watcher = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[], pid=1)
    late = start_crawl(store, start_urls=["http://b.test/"], seed_ids=[], host="elsewhere")
    _age(store, late, 600)

    def alive(pid: int) -> bool:  # asked about `watcher` after the rows were read
        heartbeat(store, late)
        return True

    assert reap_dead_crawls(store, host=HOST, pid_alive=alive, stale_after=60) == []
    assert get_crawl(store, late).outcome == "running"
    assert get_crawl(store, watcher).outcome == "running"


def test_reaping_leaves_ended_crawls_alone(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[], pid=_dead_pid())
    finish_crawl(store, crawl_id, outcome="finished", stats={})
    _age(store, crawl_id, 10_000)
    assert reap_dead_crawls(store, host=HOST, pid_alive=pid_alive, stale_after=60) == []
    assert get_crawl(store, crawl_id).outcome == "finished"
    with pytest.raises(ValueError, match="positive number of seconds"):
        reap_dead_crawls(store, host=HOST, pid_alive=pid_alive, stale_after=0)


def test_an_operator_marks_a_crawl_failed(store: Store) -> None:
    seed = _seed(store)
    crawl_id = start_crawl(store, start_urls=["http://127.0.0.1:1/"], seed_ids=[seed])
    crawl = mark_crawl_failed(store, crawl_id, actor="bob", reason="its machine\nwas rebooted")
    assert crawl.outcome == "failed"
    assert crawl.reason == "marked failed by bob: its machine was rebooted"
    (entry,) = list_audit(store, entity="crawl", entity_id=crawl_id)
    assert (entry.actor, entry.action, entry.to_state) == ("bob", "crawl_marked_failed", "failed")
    assert running_seed_ids(store) == set()
    with pytest.raises(CrawlEndedError, match=rf"Crawl {crawl_id} already ended \(failed at "):
        mark_crawl_failed(store, crawl_id, actor="bob", reason="again")
    done = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])
    finish_crawl(store, done, outcome="finished", stats={})
    with pytest.raises(CrawlEndedError, match="only a running crawl can be marked failed"):
        mark_crawl_failed(store, done, actor="bob", reason="oops")
    with pytest.raises(NotFoundError, match="No crawl has id 999"):
        mark_crawl_failed(store, 999, actor="bob", reason="gone")
    with pytest.raises(ValueError, match="a reason"):
        mark_crawl_failed(store, done, actor="bob", reason="  ")
    assert len(list_audit(store, entity="crawl")) == 1


# --- counters written with what they count ----------------------------------------------


def _counters(store: Store, crawl_id: int) -> tuple[int, int, int, int, int]:
    c = get_crawl(store, crawl_id)
    return c.pages, c.images, c.hashed, c.hits, c.errors


def test_counts_are_added_in_the_callers_transaction(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])
    with store.session() as session:
        add_crawl_counts(session, crawl_id, {"pages": 2, "images": 5, "hashed": 4, "hits": 1})
        add_crawl_counts(session, crawl_id, {"errors": 1, "hits": 0})
    assert _counters(store, crawl_id) == (2, 5, 4, 1, 1)

    def failing_flush() -> None:
        with store.session() as session:
            add_crawl_counts(session, crawl_id, {"hits": 3})
            raise RuntimeError("the flush failed")

    with pytest.raises(RuntimeError):
        failing_flush()
    assert _counters(store, crawl_id) == (2, 5, 4, 1, 1)


def test_counts_from_concurrent_writers_all_arrive(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(20):
                with store.session() as session:
                    add_crawl_counts(session, crawl_id, {"images": 1, "hits": 2})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _counters(store, crawl_id)[1:4:2] == (80, 160)


def test_a_stats_snapshot_never_lowers_the_counters(store: Store) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])
    with store.session() as session:
        add_crawl_counts(session, crawl_id, {"pages": 3, "hits": 5})
    update_crawl_stats(store, crawl_id, {"trawl/pages": 1, "trawl/hits": 2, "trawl/images": 7})
    assert _counters(store, crawl_id) == (3, 7, 0, 5, 0)
    finish_crawl(store, crawl_id, outcome="finished", stats={"trawl/pages": 4})
    assert _counters(store, crawl_id) == (4, 7, 0, 5, 0)
    assert get_crawl(store, crawl_id).stats == {"trawl/pages": 4}


@pytest.mark.parametrize(
    ("deltas", "message"),
    [({"bytes": 1}, "Unknown crawl counter"), ({"hits": -1}, "can only grow"),
     ({"hits": 1.5}, "can only grow"), ({"hits": True}, "can only grow")],
)
def test_bad_counts_are_refused(store: Store, deltas: dict[str, int], message: str) -> None:
    crawl_id = start_crawl(store, start_urls=["http://a.test/"], seed_ids=[])
    with pytest.raises(ValueError, match=message), store.session() as session:
        add_crawl_counts(session, crawl_id, deltas)


def test_counts_for_an_unknown_crawl(store: Store) -> None:
    with pytest.raises(NotFoundError, match="No crawl has id 999"), store.session() as session:
        add_crawl_counts(session, 999, {"hits": 1})
