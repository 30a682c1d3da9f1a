"""Review: claims, two-person rule, forbidden transitions, suppressions, all-or-nothing batches."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from storage.evidence import get_hit_detail
from storage.models import Hit, HitVote, Suppression
from storage.review import (
    ClaimedError,
    TransitionError,
    UnknownIdError,
    claim_next,
    decide,
    transition,
)
from tests.takedown_helpers import T0, HitSpec, add_hits, audit_rows, hit_status, make_store


@pytest.fixture
def store(db_url: str):
    s = make_store(db_url)
    yield s
    s.close()


def three_hits(store) -> list[int]:
    return add_hits(store, [HitSpec(f"http://img.test/{n}.png") for n in range(3)])


def test_confirm_moves_pending_to_confirmed_and_audits_who_when_why(store) -> None:
    a, _, _ = three_hits(store)
    before = len(audit_rows(store))
    [result] = decide(store, [a], actor="alice", decision="confirm", note="clear match", now=T0)
    assert (result.from_state, result.to_state, result.confirmations) == ("pending", "confirmed", 1)
    assert hit_status(store, a) == "confirmed"
    new = audit_rows(store)[before:]
    assert [(r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in new] == [
        ("alice", "confirm", "hit", a, "pending", "confirmed", "clear match")
    ]


def test_two_person_rule_needs_two_distinct_analysts(store) -> None:
    a, _, _ = three_hits(store)
    [first] = decide(store, [a], actor="alice", decision="confirm", required=2, now=T0)
    assert (first.to_state, first.confirmations, first.counted) == ("pending", 1, True)
    [again] = decide(store, [a], actor="alice", decision="confirm", required=2, now=T0)
    assert (again.to_state, again.confirmations, again.counted) == ("pending", 1, False)
    assert hit_status(store, a) == "pending"
    [second] = decide(store, [a], actor="bob", decision="confirm", required=2, now=T0)
    assert (second.to_state, second.confirmations) == ("confirmed", 2)
    with store.session() as s:
        voters = sorted(s.scalars(sa.select(HitVote.actor).where(HitVote.hit_id == a)))
    assert voters == ["alice", "bob"]


def test_reject_suppresses_digest_for_that_known_hash(store) -> None:
    a, _, _ = three_hits(store)
    decide(store, [a], actor="alice", decision="reject", note="cartoon", now=T0)
    assert hit_status(store, a) == "rejected"
    detail = get_hit_detail(store, a)
    with store.session() as s:
        rows = s.execute(sa.select(Suppression.sha256, Suppression.known_hash_id,
                                   Suppression.hit_id)).all()
    assert rows == [(detail.sha256, detail.matches[0].known_hash_id, a)]


def test_forbidden_transition_refused_with_reason_and_batch_unchanged(store) -> None:
    a, b, _ = three_hits(store)
    decide(store, [a], actor="alice", decision="reject", now=T0)
    before = audit_rows(store)
    with pytest.raises(TransitionError, match=f"hit {a} is rejected; only pending hits can be "
                                              "confirmed"):
        decide(store, [b, a], actor="alice", decision="confirm", now=T0)
    assert hit_status(store, b) == "pending"  # nothing changed for the others in the batch
    assert audit_rows(store) == before


def test_unknown_id_refused_and_nothing_changed(store) -> None:
    a, _, _ = three_hits(store)
    with pytest.raises(UnknownIdError, match="no hit with id 999"):
        decide(store, [a, 999], actor="alice", decision="confirm", now=T0)
    assert hit_status(store, a) == "pending"
    with pytest.raises(UnknownIdError):
        get_hit_detail(store, 999)


def test_claims_split_the_queue_and_expire(store) -> None:
    ids = three_hits(store)
    mine = claim_next(store, actor="alice", limit=2, claim_minutes=30, now=T0)
    assert [i.id for i in mine] == ids[:2]
    assert all(i.claimed_by == "alice" for i in mine)
    theirs = claim_next(store, actor="bob", limit=5, now=T0)
    assert [i.id for i in theirs] == ids[2:]
    # Claiming again returns one's own live claims first.
    assert [i.id for i in claim_next(store, actor="alice", limit=2, now=T0)] == ids[:2]
    with pytest.raises(ClaimedError, match=f"hit {ids[0]} is claimed by alice"):
        decide(store, [ids[0]], actor="bob", decision="reject", now=T0 + timedelta(minutes=5))
    assert hit_status(store, ids[0]) == "pending"
    later = T0 + timedelta(minutes=31)
    taken = claim_next(store, actor="bob", limit=5, now=later)
    assert {i.id for i in taken} == set(ids)
    decide(store, [ids[0]], actor="bob", decision="reject", now=later)
    assert hit_status(store, ids[0]) == "rejected"


def test_claim_skips_hits_the_analyst_already_voted_on(store) -> None:
    a, b, c = three_hits(store)
    decide(store, [a], actor="alice", decision="confirm", required=2, now=T0)
    assert [i.id for i in claim_next(store, actor="alice", limit=5, now=T0)] == [b, c]
    bob = claim_next(store, actor="bob", limit=1, now=T0 + timedelta(hours=1))
    assert [(i.id, i.confirmations) for i in bob] == [(a, 1)]


def test_transition_refuses_a_hit_changed_by_someone_else(store) -> None:
    [a] = add_hits(store, [HitSpec("http://img.test/x.png")])
    with store.session() as s:
        stale = s.get(Hit, a)
        assert stale is not None
        assert stale.status == "pending"
        # Another analyst's decision lands between our read and our write.
        s.execute(sa.update(Hit).where(Hit.id == a).values(status="rejected")
                  .execution_options(synchronize_session=False))
        assert stale.status == "pending"
        with pytest.raises(TransitionError, match="changed while you were deciding"):
            transition(s, stale, "confirmed", actor="alice", action="confirm", now=T0)


def test_hit_detail_has_the_evidence(store) -> None:
    [a] = add_hits(store, [HitSpec("http://img.test/e.png",
                                    page_urls=("http://site.test/p1", "http://site.test/p2"))])
    decide(store, [a], actor="alice", decision="confirm", note="ok", now=T0)
    d = get_hit_detail(store, a)
    assert d.media_url == "http://img.test/e.png"
    assert [p.page_url for p in d.pages] == ["http://site.test/p1", "http://site.test/p2"]
    (m,) = d.matches
    assert (m.list, m.label, m.category, m.hash_type, m.match_type) == (
        "test-list", "series-a", "A1", "sha256", "exact")
    assert d.server_ip == "127.0.0.1"
    assert d.provider == "unattributed (img.test)"
    assert [(h.actor, h.action, h.to_state) for h in d.history] == [
        ("alice", "confirm", "confirmed")]
    assert [(v.actor, v.decision, v.note) for v in d.votes] == [("alice", "confirm", "ok")]


# --- CLI -----------------------------------------------------------------------------------


def run(db_url: str, *args: str, actor: str | None = "alice", env: dict[str, str] | None = None):
    from crawler.cli.main import cli

    base = ["--db", db_url] + (["--as", actor] if actor else [])
    return CliRunner().invoke(cli, [*base, *args], env={"TRAWL_USER": "", **(env or {})})


def test_cli_review_next_confirm_reject(db_url: str, store) -> None:
    a, b, c = three_hits(store)
    out = run(db_url, "review", "next", "--limit", "2", "--format", "json")
    assert out.exit_code == 0, out.output
    queue = json.loads(out.output)
    assert [q["id"] for q in queue] == [a, b]
    assert {q["claimed_by"] for q in queue} == {"alice"}
    assert {"media_url", "page_url", "hash_type", "distance", "list", "label"} <= set(queue[0])
    out = run(db_url, "review", "confirm", str(a), "--note", "match", "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["to_state"] == "confirmed"
    out = run(db_url, "review", "reject", str(b))
    assert out.exit_code == 0, out.output
    assert f"hit {b}: pending -> rejected" in out.output
    assert (hit_status(store, a), hit_status(store, b), hit_status(store, c)) == (
        "confirmed", "rejected", "pending")


def test_cli_two_person_rule_from_env(db_url: str, store) -> None:
    a, _, _ = three_hits(store)
    env = {"TRAWL_CONFIRMATIONS_REQUIRED": "2"}
    out = run(db_url, "review", "confirm", str(a), env=env)
    assert out.exit_code == 0
    assert "1 of 2 confirmations" in out.output
    out = run(db_url, "review", "confirm", str(a), env=env)
    assert "already voted" in out.output
    assert hit_status(store, a) == "pending"
    out = run(db_url, "review", "confirm", str(a), actor="bob", env=env)
    assert out.exit_code == 0
    assert hit_status(store, a) == "confirmed"


def test_cli_refusals_exit_nonzero_and_change_nothing(db_url: str, store) -> None:
    a, b, _ = three_hits(store)
    before = audit_rows(store)
    out = run(db_url, "review", "confirm", str(a), actor=None)
    assert out.exit_code != 0
    assert "--as NAME" in out.output
    out = run(db_url, "review", "confirm", str(a), "4242")
    assert out.exit_code != 0
    assert "no hit with id 4242" in out.output
    run(db_url, "review", "reject", str(b))
    out = run(db_url, "review", "confirm", str(a), str(b))
    assert out.exit_code != 0
    assert f"hit {b} is rejected; only pending hits can be confirmed" in out.output
    assert hit_status(store, a) == "pending"
    assert len(audit_rows(store)) == len(before) + 1  # only the reject was recorded
    run(db_url, "review", "next", "--limit", "1", actor="bob")
    out = run(db_url, "review", "reject", str(a))
    assert out.exit_code != 0
    assert "claimed by bob" in out.output
