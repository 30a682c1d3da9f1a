"""A schedule carries the internal addresses its crawls may reach (migration 0009): stored,
listed, handed to each crawl process with the scheduler's own allowance."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.services.scheduler.options import SchedulerOptions
from crawler.services.scheduler.scheduler import Scheduler
from storage.db import alembic_config, open_store, schema_revision
from storage.migrations import HEAD_REVISION
from storage.schedules import ScheduleSpec, add_schedule, get_schedule, list_schedules
from storage.seeds import SeedSpec, add_seeds

pytestmark = pytest.mark.hostile

T = datetime(2026, 1, 2, 3, 4, 5)


def test_upgrade_from_0005_keeps_schedules_and_allows_nothing_more(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0005")
            conn.execute(sa.text(
                "INSERT INTO schedules (name, seed_ids, seed_tag, interval_seconds, "
                "time_budget_seconds, enabled, next_due_at, created_at) VALUES "
                "('nightly', '[]', 'forums', 86400, 1800, :on, :t, :t)"),
                {"t": T, "on": True})
    finally:
        store.close()
    store = open_store(fresh_db_url)  # migrates to the head
    try:
        assert schema_revision(store) == HEAD_REVISION
        (old,) = list_schedules(store)
        assert (old.name, old.seed_tag, old.time_budget_seconds) == ("nightly", "forums", 1800)
        assert old.allow_addresses == ()
        seed = add_seeds(store, [SeedSpec("http://127.0.0.1:1/", "127.0.0.1")])[0]
        new = add_schedule(store, ScheduleSpec(
            name="intranet", seed_ids=(seed.id,), interval_seconds=3600,
            allow_addresses=("10.0.0.0/8", "127.0.0.3/32")), next_due_at=T)
        assert get_schedule(store, new.id).allow_addresses == ("10.0.0.0/8", "127.0.0.3/32")
        with store.engine.begin() as conn:  # one step back: the column goes, the rows stay
            command.downgrade(alembic_config(connection=conn), "-1")
            names = conn.execute(sa.text("SELECT name FROM schedules ORDER BY id")).scalars()
            assert list(names) == ["nightly", "intranet"]
    finally:
        store.close()


def test_schedule_add_stores_and_lists_the_allowance(sqlite_url: str) -> None:
    runner = CliRunner()
    seeded = runner.invoke(cli, ["--db", sqlite_url, "seeds", "add", "http://127.0.0.1:1/"])
    assert seeded.exit_code == 0, seeded.output
    added = runner.invoke(cli, ["--db", sqlite_url, "schedule", "add", "lab", "--seed", "1",
                                "--every", "1h", "--allow-address", "127.0.0.3",
                                "--allow-address", "10.1.0.0/16", "--format", "json"])
    assert added.exit_code == 0, added.output
    (row,) = json.loads(added.output)
    assert row["allow_addresses"] == ["127.0.0.3/32", "10.1.0.0/16"]
    listed = runner.invoke(cli, ["--db", sqlite_url, "schedule", "list"])
    assert "127.0.0.3/32 10.1.0.0/16" in listed.output
    bad = runner.invoke(cli, ["--db", sqlite_url, "schedule", "add", "bad", "--seed", "1",
                              "--every", "1h", "--allow-address", "10.0.0.1/8"])
    assert bad.exit_code == 1
    assert "did you mean 10.0.0.0/8" in bad.output


def test_each_crawl_gets_the_schedules_and_the_schedulers_allowance(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = open_store(sqlite_url)
    try:
        seed = add_seeds(store, [SeedSpec("http://127.0.0.1:1/", "127.0.0.1")])[0]
        add_schedule(store, ScheduleSpec(name="lab", seed_ids=(seed.id,), interval_seconds=3600,
                                         allow_addresses=("127.0.0.3/32",)), next_due_at=T)
        show = (sys.executable, "-c",
                "import os; print('ALLOWED', os.environ.get('TRAWL_ALLOW_ADDRESSES'))")
        options = SchedulerOptions(poll_seconds=0.2, kill_grace=1.0, log_dir=tmp_path / "logs",
                                   crawl_command=show, allow_addresses=("10.0.0.0/8",))
        results = Scheduler(store, options, clock=lambda: T).run_once()
        (result,) = results
        log = (tmp_path / "logs" / f"crawl-{result.crawl_id}.log").read_text()
        assert "ALLOWED 10.0.0.0/8,127.0.0.3/32" in log
    finally:
        store.close()
