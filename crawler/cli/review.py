"""`trawl review`: claim a batch of pending hits, confirm or reject them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from crawler.cli.common import (
    emit,
    format_option,
    opened_store,
    pass_config,
    require_actor,
)
from storage.policy import (
    DEFAULT_CLAIM_LIMIT,
    DEFAULT_CLAIM_MINUTES,
    DEFAULT_CONFIRMATIONS_REQUIRED,
)

if TYPE_CHECKING:
    from crawler.config import Config
    from storage.review import Decision

QUEUE_COLUMNS = ("id", "tier", "hash_type", "distance", "list", "label", "media_url", "page_url",
                 "confirmations", "claimed_until")
DECISION_COLUMNS = ("id", "from_state", "to_state", "confirmations", "required", "counted")


@click.group("review")
def review() -> None:
    """Claim pending hits and decide them (confirm or reject); every decision is audited."""


@review.command("next")
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_CLAIM_LIMIT,
              show_default=True, help="How many pending hits to claim.")
@click.option("--claim-minutes", type=click.FloatRange(min=0, min_open=True),
              envvar="TRAWL_CLAIM_MINUTES", default=DEFAULT_CLAIM_MINUTES, show_default=True,
              help="How long the claim holds before others may take the hits. "
                   "Env: TRAWL_CLAIM_MINUTES.")
@format_option()
@pass_config
def next_(config: Config, limit: int, claim_minutes: float, fmt: str) -> None:
    """Claim a batch of pending hits for you, so no other analyst gets the same ones."""
    from storage.review import claim_next

    actor = require_actor(config)
    with opened_store(config) as store:
        items = claim_next(store, actor=actor, limit=limit, claim_minutes=claim_minutes,
                           now=config.now)
    if fmt == "table" and not items:
        click.echo("No pending hits to review.")
        return
    emit(items, fmt, QUEUE_COLUMNS)


def _decide(config: Config, ids: tuple[int, ...], decision: Decision, note: str | None,
            required: int, fmt: str) -> None:
    from storage.review import decide

    actor = require_actor(config)
    with opened_store(config) as store:
        results = decide(store, list(ids), actor=actor, decision=decision, note=note,
                         required=required, now=config.now)
    if fmt == "json":
        emit(results, fmt)
        return
    for r in results:
        if not r.counted:
            click.echo(f"hit {r.id}: you already voted to {decision}; still {r.to_state} "
                       f"({r.confirmations} of {r.required} confirmations)")
        elif r.to_state == "pending":
            click.echo(f"hit {r.id}: pending ({r.confirmations} of {r.required} confirmations; "
                       "needs another analyst)")
        else:
            click.echo(f"hit {r.id}: {r.from_state} -> {r.to_state}")


_ids = click.argument("ids", nargs=-1, required=True, type=int)
_note = click.option("--note", default=None, help="Why (kept in the audit trail).")


@review.command("confirm")
@_ids
@_note
@click.option("--required", type=click.IntRange(min=1), envvar="TRAWL_CONFIRMATIONS_REQUIRED",
              default=DEFAULT_CONFIRMATIONS_REQUIRED, show_default=True,
              help="Distinct analysts who must confirm before a hit is confirmed "
                   "(2 = two-person rule). Env: TRAWL_CONFIRMATIONS_REQUIRED.")
@format_option(("text", "json"))
@pass_config
def confirm(config: Config, ids: tuple[int, ...], note: str | None, required: int,
            fmt: str) -> None:
    """Confirm hits as true matches (all or nothing: one refusal changes none)."""
    _decide(config, ids, "confirm", note, required, fmt)


@review.command("reject")
@_ids
@_note
@format_option(("text", "json"))
@pass_config
def reject(config: Config, ids: tuple[int, ...], note: str | None, fmt: str) -> None:
    """Reject hits as false positives; the same image never queues again for that hash."""
    _decide(config, ids, "reject", note, DEFAULT_CONFIRMATIONS_REQUIRED, fmt)


def register(cli: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    cli.add_command(review)
