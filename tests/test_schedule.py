"""Schedules: due-time arithmetic, compare-and-set claims, and the `trawl schedule` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.clock import ClockError, parse_datetime
from crawler.services.scheduler.timing import (
    ScheduleTimeError,
    check_cron,
    first_due,
    format_duration,
    next_due,
    parse_duration,
)
from storage.crawls import SeedsBusyError, get_crawl, running_seed_ids, start_crawl
from storage.db import open_store
from storage.schedules import (
    ScheduleError,
    ScheduleSpec,
    add_schedule,
    claim_due_run,
    close_crawl,
    due_schedules,
    get_schedule,
    list_schedules,
)
from storage.seeds import SeedSpec, add_seeds

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2030, 1, 1, 0, 0)


# --- time arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("2w", 1209600),
     (" 6H ", 21600)],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6 hours", "-5m", "1.5h", "h"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(ScheduleTimeError, match="not a duration"):
        parse_duration(text)


def test_duration_minimum_and_format() -> None:
    with pytest.raises(ScheduleTimeError, match="too short"):
        parse_duration("5s", minimum=60)
    assert [format_duration(s) for s in (86400, 5400, 61, 3600, 1209600)] == [
        "1d", "90m", "61s", "1h", "2w"]


def test_cron_is_checked() -> None:
    assert check_cron("  0  2 * * * ") == "0 2 * * *"
    for bad in ("0 2 * *", "61 * * * *", "every day", "0 2 * * * *"):
        with pytest.raises(ScheduleTimeError, match="not valid"):
            check_cron(bad)


def test_first_due() -> None:
    now = datetime(2030, 1, 1, 12, 30)
    assert first_due(cron=None, interval_seconds=3600, now=now) == now
    assert first_due(cron="0 2 * * *", interval_seconds=None, now=now) == datetime(2030, 1, 2, 2)
    # a cron time equal to start_at counts
    assert first_due(cron="0 2 * * *", interval_seconds=None, now=now,
                     start_at=datetime(2030, 1, 5, 2)) == datetime(2030, 1, 5, 2)
    later = datetime(2030, 2, 1)
    assert first_due(cron=None, interval_seconds=60, now=now, start_at=later) == later


def test_interval_next_due_stays_on_grid_and_catches_up_once() -> None:
    hour = 3600
    # on time: the next slot
    assert next_due(cron=None, interval_seconds=hour, due=T0, now=T0) == T0 + timedelta(hours=1)
    # late by 5.5 hours (scheduler was down): the first slot after now, on the same grid
    now = T0 + timedelta(hours=5, minutes=30)
    assert next_due(cron=None, interval_seconds=hour, due=T0, now=now) == T0 + timedelta(hours=6)
    # exactly on a later slot: strictly after now
    now = T0 + timedelta(hours=3)
    assert next_due(cron=None, interval_seconds=hour, due=T0, now=now) == T0 + timedelta(hours=4)


def test_cron_next_due_catches_up_once() -> None:
    due = datetime(2030, 1, 1, 2, 0)
    now = datetime(2030, 1, 3, 5, 0)  # two nightly runs missed
    assert next_due(cron="0 2 * * *", interval_seconds=None, due=due, now=now) == datetime(
        2030, 1, 4, 2, 0)
    assert next_due(cron="0 2 * * *", interval_seconds=None, due=due, now=due) == datetime(
        2030, 1, 2, 2, 0)


def test_datetimes_are_utc() -> None:
    assert parse_datetime("2030-01-02T03:00") == datetime(2030, 1, 2, 3)
    assert parse_datetime("2030-01-02T03:00Z") == datetime(2030, 1, 2, 3)
    assert parse_datetime("2030-01-02T05:00+02:00") == datetime(2030, 1, 2, 3)
    with pytest.raises(ClockError, match="ISO 8601 date-time"):
        parse_datetime("tomorrow")


# --- storage ------------------------------------------------------------------------


def _store_with_seeds(url: str, n: int = 2):  # type: ignore[no-untyped-def]
    store = open_store(url)
    seeds = add_seeds(store, [SeedSpec(url=f"http://site{i}.test/", domain=f"site{i}.test",
                                       tags=("forums",)) for i in range(n)])
    return store, seeds


def test_claim_is_compare_and_set(db_url: str) -> None:
    store, seeds = _store_with_seeds(db_url)
    try:
        info = add_schedule(store, ScheduleSpec(name="hourly", seed_ids=(seeds[0].id,),
                                                interval_seconds=3600), next_due_at=T0)
        assert [s.id for s in due_schedules(store, T0)] == [info.id]
        assert due_schedules(store, T0 - timedelta(seconds=1)) == []
        later = T0 + timedelta(hours=1)
        args = dict(expected_due=T0, next_due=later, now=T0, start_urls=[seeds[0].url],
                    seed_ids=[seeds[0].id])
        first = claim_due_run(store, info.id, **args)  # type: ignore[arg-type]
        assert first is not None
        close_crawl(store, first, outcome="finished", reason="test")
        # a second scheduler (or a restarted one) that read the same due time gets nothing
        assert claim_due_run(store, info.id, **args) is None  # type: ignore[arg-type]
        row = get_schedule(store, info.id)
        assert row.next_due_at == later
        assert row.last_run_at == T0
        assert row.last_crawl_id == first
        crawl = get_crawl(store, first)
        assert crawl.schedule_id == info.id
        assert crawl.seed_ids == (seeds[0].id,)
        assert crawl.outcome == "finished"
    finally:
        store.close()


def test_claim_refuses_busy_seeds_and_changes_nothing(db_url: str) -> None:
    store, seeds = _store_with_seeds(db_url)
    try:
        info = add_schedule(store, ScheduleSpec(name="s", seed_tag="forums",
                                                interval_seconds=3600), next_due_at=T0)
        running = start_crawl(store, start_urls=[seeds[1].url], seed_ids=[seeds[1].id])
        with pytest.raises(SeedsBusyError, match=f"seed {seeds[1].id}"):
            claim_due_run(store, info.id, expected_due=T0, next_due=T0 + timedelta(hours=1),
                          now=T0, start_urls=[s.url for s in seeds],
                          seed_ids=[s.id for s in seeds])
        assert get_schedule(store, info.id).next_due_at == T0
        assert running_seed_ids(store) == {seeds[1].id}
        assert get_schedule(store, info.id).last_crawl_id is None
        assert running is not None
    finally:
        store.close()


def test_close_crawl_never_overwrites_a_recorded_end(sqlite_url: str) -> None:
    store, seeds = _store_with_seeds(sqlite_url, 1)
    try:
        crawl = start_crawl(store, start_urls=[seeds[0].url], seed_ids=[seeds[0].id])
        assert close_crawl(store, crawl, outcome="finished", reason="done")
        assert not close_crawl(store, crawl, outcome="failed", reason="late")
        assert get_crawl(store, crawl).outcome == "finished"
        assert close_crawl(store, crawl, outcome="timeout", reason="budget",
                           only_if=("finished",))
        assert get_crawl(store, crawl).reason == "budget"
    finally:
        store.close()


def test_schedule_validation(sqlite_url: str) -> None:
    store, seeds = _store_with_seeds(sqlite_url, 1)
    try:
        ok = ScheduleSpec(name="a", seed_ids=(seeds[0].id,), interval_seconds=3600)
        add_schedule(store, ok, next_due_at=T0)
        cases = [
            (ok, "already exists"),
            (ScheduleSpec(name="b", seed_ids=(999,), interval_seconds=3600), "No seed with id 999"),
            (ScheduleSpec(name="c", seed_ids=(1,)), "exactly one of"),
            (ScheduleSpec(name="d", seed_ids=(1,), cron="* * * * *", interval_seconds=60),
             "exactly one of"),
            (ScheduleSpec(name="e", interval_seconds=60), "has no seeds"),
            (ScheduleSpec(name="42", seed_ids=(1,), interval_seconds=60), "is a number"),
            (ScheduleSpec(name="f", seed_ids=(1,), interval_seconds=60, time_budget_seconds=0),
             "time budget"),
        ]
        for spec, message in cases:
            with pytest.raises(ScheduleError, match=message):
                add_schedule(store, spec, next_due_at=T0)
        assert [s.name for s in list_schedules(store)] == ["a"]
    finally:
        store.close()


# --- the CLI ------------------------------------------------------------------------


def _invoke(url: str, *args: str, env: dict[str, str] | None = None) -> dict | list:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["--db", url, *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--format" in args else {}  # type: ignore[no-any-return]


def test_schedule_commands(db_url: str) -> None:
    store, seeds = _store_with_seeds(db_url)
    store.close()
    env = {"TRAWL_NOW": "2030-01-01T12:30:00"}
    [nightly] = _invoke(db_url, "schedule", "add", "nightly", "--tag", "forums", "--cron",
                        "0 2 * * *", "--time-budget", "2h", "--depth", "2", "--format", "json",
                        env=env)
    assert nightly["next_due_at"] == "2030-01-02T02:00:00Z"
    assert nightly["time_budget_seconds"] == 7200
    assert (nightly["depth"], nightly["seeds"], nightly["state"]) == (2, "tag:forums", "enabled")
    [watch] = _invoke(db_url, "schedule", "add", "watch", "--seed", str(seeds[0].id),
                      "--seed", str(seeds[1].id), "--every", "6h", "--max-pages", "50",
                      "--paused", "--format", "json", env=env)
    assert watch["next_due_at"] == "2030-01-01T12:30:00Z"
    assert (watch["interval_seconds"], watch["when"], watch["state"]) == (21600, "every 6h",
                                                                         "paused")
    assert watch["seed_ids"] == [seeds[0].id, seeds[1].id]

    [resumed] = _invoke(db_url, "schedule", "resume", "watch", "--format", "json")
    assert resumed["enabled"] is True
    [paused] = _invoke(db_url, "schedule", "pause", str(nightly["id"]), "--format", "json")
    assert paused["enabled"] is False
    listed = _invoke(db_url, "schedule", "list", "--format", "json")
    assert [(s["name"], s["state"]) for s in listed] == [("nightly", "paused"),
                                                         ("watch", "enabled")]
    table = CliRunner().invoke(cli, ["--db", db_url, "schedule", "list"])
    assert "cron 0 2 * * *" in table.output
    assert "every 6h" in table.output

    # --queue hands the run to the scheduler: due now
    queued = CliRunner().invoke(cli, ["--db", db_url, "schedule", "run-now", "nightly",
                                      "--queue"], env={"TRAWL_NOW": "2030-01-01T13:00:00"})
    assert queued.exit_code == 0, queued.output
    listed = _invoke(db_url, "schedule", "list", "--format", "json")
    assert listed[0]["next_due_at"] == "2030-01-01T13:00:00Z"

    removed = CliRunner().invoke(cli, ["--db", db_url, "schedule", "remove", "watch"])
    assert removed.exit_code == 0
    assert "Removed schedule" in removed.output
    assert [s["name"] for s in _invoke(db_url, "schedule", "list", "--format", "json")] == [
        "nightly"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "1"], "exactly one of --cron"),
        (["--seed", "1", "--every", "1h", "--cron", "* * * * *"], "exactly one of --cron"),
        (["--every", "1h"], "Say which seeds"),
        (["--seed", "1", "--every", "10s"], "too short"),
        (["--seed", "1", "--every", "soon"], "'soon' is not a duration"),
        (["--seed", "1", "--cron", "0 25 * * *"], "Cron expression '0 25 * * *' is not valid"),
        (["--seed", "1", "--every", "1h", "--time-budget", "x"], "Time budget 'x' is not"),
        (["--seed", "1", "--every", "1h", "--start-at", "later"], "--start-at 'later'"),
        (["--seed", "77", "--every", "1h"], "No seed with id 77"),
    ],
)
def test_schedule_add_errors_are_sentences(sqlite_url: str, args: list[str], message: str) -> None:
    store, _ = _store_with_seeds(sqlite_url, 1)
    store.close()
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "schedule", "add", "x", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_unknown_schedule_is_a_clear_error(sqlite_url: str) -> None:
    for command in ("pause", "resume", "remove", "run-now"):
        result = CliRunner().invoke(cli, ["--db", sqlite_url, "schedule", command, "nope"])
        assert result.exit_code == 1
        assert "No schedule 'nope'" in result.output


def test_schedule_list_through_the_entry_point(sqlite_url: str) -> None:
    store, seeds = _store_with_seeds(sqlite_url, 1)
    store.close()
    _invoke(sqlite_url, "schedule", "add", "daily", "--seed", str(seeds[0].id), "--every", "1d")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRAWL_DATABASE_URL": sqlite_url}
    listed = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "schedule", "list", "--format", "json"],
        env=env, capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert [(s["name"], s["when"]) for s in json.loads(listed.stdout)] == [("daily", "every 1d")]
