"""Re-notices due and the oldest still-live images (migration 0011): what takedown_stats
reads from its snapshots always equals what the hits themselves say, at any moment and
after any change, on SQLite and PostgreSQL; and 0011 upgrades a database at 0009 without
touching its rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

import storage.stats
from storage.db import Store, alembic_config, open_store
from storage.models import Hit, StatsSnapshot, TakedownChange
from storage.notices import RecheckResult, mark_sent, prepare_notices, record_recheck
from storage.policy import DEFAULT_OLDEST_LIVE, RECHECKABLE
from storage.review import decide
from storage.stats import RENOTICE_SNAPSHOT, takedown_stats
from tests.takedown_helpers import T0, HitSpec, add_hits, make_store


def live_from_rows(store: Store, when: datetime) -> tuple[object, ...]:
    with store.read_session() as session:
        return storage.stats._oldest_live(session, when, DEFAULT_OLDEST_LIVE)


def check(store: Store, when: datetime) -> None:
    """takedown_stats (from its snapshots where they answer) equals the rows' own figures."""
    stats = takedown_stats(store, now=when)
    assert stats.renotices_due == due_from_rows(store, when)
    assert stats.oldest_live == live_from_rows(store, when)


def due_from_rows(store: Store, when: datetime) -> int:
    with store.read_session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Hit).where(
            Hit.status.in_(RECHECKABLE), Hit.renotice_due_at <= when)) or 0)


def snapshot_at(store: Store) -> int | None:
    with store.read_session() as session:
        held = session.get(StatsSnapshot, RENOTICE_SNAPSHOT)
        return None if held is None else held.version


def test_due_count_follows_time_and_every_change(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage.stats, "RENOTICE_TIMES_KEPT", 3)  # run past its end too
    monkeypatch.setattr(storage.stats, "RENOTICE_SNAPSHOT_SECONDS", 10 * 86400)
    counted: list[datetime] = []
    count_rows = storage.stats._renotices_due

    def counting(session: object, when: datetime) -> tuple[int, str]:
        counted.append(when)
        return count_rows(session, when)  # type: ignore[arg-type]

    monkeypatch.setattr(storage.stats, "_renotices_due", counting)
    store = make_store(db_url)
    try:
        ids = add_hits(store, [HitSpec(f"http://img{n}.test/{n}.png") for n in range(8)])
        decide(store, ids, actor="ann", decision="confirm", now=T0)
        notices = prepare_notices(store, actor="tom", now=T0)  # one per host
        assert len(notices) == len(ids)
        for n, notice in enumerate(notices):  # sent an hour apart
            mark_sent(store, [notice.reference], actor="tom", renotice_hours=24,
                      now=T0 + timedelta(hours=n))
        moments = [T0 + timedelta(hours=h, minutes=m)
                   for h in (0, 23, 24, 25, 26, 27, 29, 31, 40) for m in (0, 30)]
        for when in [*moments, T0 + timedelta(hours=24), T0]:  # and back in time
            check(store, when)
        # Most moments were answered from the snapshot (read again only past its end).
        assert 0 < len(counted) < len(moments) // 2
        version = snapshot_at(store)
        assert version is not None

        # A re-check: one gone (no longer due), one still there (due again in 6 h).
        later = T0 + timedelta(hours=30)
        record_recheck(store, [RecheckResult(ids[0], "gone", "HTTP 404"),
                               RecheckResult(ids[1], "live", "still matches")],
                       actor="tom", renotice_hours=6, now=later)
        for when in (later, later + timedelta(hours=5), later + timedelta(hours=7)):
            check(store, when)
        assert snapshot_at(store) != version

        # Only the re-notice time changes: the version moves (0011's trigger).
        with store.read_session() as session:
            before = session.scalar(sa.select(sa.func.max(TakedownChange.id)))
        with store.session() as session:
            session.execute(sa.update(Hit).where(Hit.id == ids[2])
                            .values(renotice_due_at=T0 + timedelta(days=30)))
        with store.read_session() as session:
            assert (session.scalar(sa.select(sa.func.max(TakedownChange.id))) or 0) > (before or 0)
        check(store, later)
        check(store, later)
        # A re-notice sent: its notice count and provider in the oldest-live list move.
        due = prepare_notices(store, actor="tom", due_only=True, now=later)
        assert due
        mark_sent(store, [n.reference for n in due], actor="tom", now=later)
        check(store, later + timedelta(minutes=1))
        assert takedown_stats(store, now=later, oldest=3).oldest_live == (
            takedown_stats(store, now=later).oldest_live[:3])
    finally:
        store.close()


def test_upgrade_from_0009_tracks_renotice_changes(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0009")
    finally:
        store.close()
    store = make_store(fresh_db_url)  # migrates to the head (0012)
    try:
        (hit_id,) = add_hits(store, [HitSpec("http://img.test/a.png")])
        decide(store, [hit_id], actor="ann", decision="confirm", now=T0)
        refs = [n.reference for n in prepare_notices(store, actor="tom", now=T0)]
        mark_sent(store, refs, actor="tom", renotice_hours=24, now=T0)
        when = T0 + timedelta(days=2)
        assert takedown_stats(store, now=when).renotices_due == 1
        with store.read_session() as session:
            before = session.scalar(sa.select(sa.func.max(TakedownChange.id)))
        with store.session() as session:
            session.execute(sa.update(Hit).where(Hit.id == hit_id)
                            .values(renotice_due_at=T0 + timedelta(days=3)))
        with store.read_session() as session:
            assert (session.scalar(sa.select(sa.func.max(TakedownChange.id))) or 0) > (before or 0)
        assert takedown_stats(store, now=when).renotices_due == 0 == due_from_rows(store, when)
        with store.engine.begin() as conn:  # and back: 0008's trigger again
            command.downgrade(alembic_config(connection=conn), "0009")
            command.upgrade(alembic_config(connection=conn), "head")
    finally:
        store.close()


def test_figures_read_a_fixed_number_of_times(db_url: str) -> None:
    """With the snapshots current, the team's figures are 5 statements in one read (the
    state deltas, the takedown version, the snapshots, the notices, the crawls), however
    many images are notified."""
    store = make_store(db_url)
    try:
        ids = add_hits(store, [HitSpec(f"http://img{n}.test/{n}.png") for n in range(4)])
        decide(store, ids, actor="ann", decision="confirm", now=T0)
        refs = [n.reference for n in prepare_notices(store, actor="tom", now=T0)]
        mark_sent(store, refs, actor="tom", now=T0)
        when = T0 + timedelta(hours=30)
        first = takedown_stats(store, now=when)  # computes and stores the snapshots
        seen: list[str] = []

        def record(conn: object, cursor: object, statement: str, *args: object) -> None:
            if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
                seen.append(statement)

        sa.event.listen(store.engine, "before_cursor_execute", record)
        try:
            again = takedown_stats(store, now=when)
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", record)
        assert again == first
        assert first.renotices_due == 4
        assert len(first.oldest_live) == 4
        assert len(seen) == 5, seen
    finally:
        store.close()
