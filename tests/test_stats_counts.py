"""Pre-aggregated figures (0008): the trigger-kept counts and the removal snapshot always
equal what the rows themselves say, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import storage.stats
from storage.models import Hit, HitStateCount, StatsSnapshot
from storage.notices import RecheckResult, mark_sent, prepare_notices, record_recheck
from storage.review import decide
from storage.stats import _provider_removal, provider_removal_stats, state_counts
from tests.takedown_helpers import T0, HitSpec, add_hits, make_store


def counted_from_rows(store: object) -> dict[tuple[str, str], int]:
    with store.read_session() as session:  # type: ignore[attr-defined]
        return {(s, t): int(n) for s, t, n in session.execute(
            sa.select(Hit.status, Hit.tier, sa.func.count()).group_by(Hit.status, Hit.tier))}


def test_counts_and_removal_figures_follow_every_change(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage.stats, "FOLD_DELTAS_AT", 6)
    store = make_store(db_url)
    try:
        ids = add_hits(store, [HitSpec(f"http://img.test/{n}.png") for n in range(8)])
        assert state_counts(store) == counted_from_rows(store) == {("pending", "high"): 8}
        with store.session() as session:  # a tier change (new evidence raising or lowering)
            session.execute(sa.update(Hit).where(Hit.id == ids[7]).values(tier="low"))
        decide(store, ids[:3], actor="ann", decision="confirm", now=T0)
        decide(store, ids[3:4], actor="ann", decision="reject", now=T0)
        assert state_counts(store) == counted_from_rows(store)
        state_counts(store)  # the deltas were folded on the previous read
        with store.read_session() as session:
            assert session.scalar(sa.select(sa.func.count(HitStateCount.id))) <= 4
        assert state_counts(store) == counted_from_rows(store)
        assert provider_removal_stats(store) == ()
        refs = [n.reference for n in prepare_notices(store, actor="tom", now=T0)]
        mark_sent(store, refs, actor="tom", now=T0)
        first = provider_removal_stats(store)
        assert [(p.notified, p.removed) for p in first] == [(3, 0)]
        record_recheck(store, [RecheckResult(ids[0], "gone", "HTTP 404")], actor="tom",
                       now=T0 + timedelta(hours=6))
        after = provider_removal_stats(store)
        assert [(p.notified, p.removed, p.median_hours) for p in after] == [(3, 1, 6.0)]
        with store.read_session() as session:
            assert provider_removal_stats(store) == _provider_removal(session)
            assert session.get(StatsSnapshot, "removal_per_provider") is not None
        with store.session() as session:
            session.execute(sa.delete(Hit).where(Hit.id == ids[5]))
        assert state_counts(store) == counted_from_rows(store)
    finally:
        store.close()


def test_the_app_role_keeps_and_reads_the_figures(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The triggers run as the role that writes (trawl init --app-role): it may add the
    deltas, fold them and store the snapshot, with no rights beyond the ordinary ones."""
    import uuid

    from sqlalchemy.engine import make_url

    from storage.approle import grant_app_role
    from storage.db import open_store

    monkeypatch.setattr(storage.stats, "FOLD_DELTAS_AT", 2)
    name, password = f"trawl_app_{uuid.uuid4().hex[:10]}", "correct horse battery staple"
    owner = open_store(pg_url)
    try:
        grant_app_role(owner, name, actor="admin", password=password)
    finally:
        owner.close()
    app = open_store(make_url(pg_url).set(username=name, password=password)
                     .render_as_string(hide_password=False))
    try:
        ids = add_hits(app, [HitSpec(f"http://img.test/{n}.png") for n in range(3)])
        decide(app, ids[:1], actor="ann", decision="confirm", now=T0)
        assert state_counts(app) == counted_from_rows(app)
        assert state_counts(app) == {("pending", "high"): 2, ("confirmed", "high"): 1}
        refs = [n.reference for n in prepare_notices(app, actor="tom", now=T0)]
        mark_sent(app, refs, actor="tom", now=T0)
        assert [p.notified for p in provider_removal_stats(app)] == [1]
    finally:
        app.close()
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE usename = :n"), {"n": name})
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        admin.dispose()
