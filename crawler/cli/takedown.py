"""`trawl notices|providers|recheck|stats`: takedown notices per hosting provider and follow-up."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crawler.cli.common import (
    allow_address_option,
    emit,
    format_option,
    opened_store,
    pass_config,
    plain,
    require_actor,
)
from crawler.clock import iso_z
from crawler.services.notices import FORMATS
from storage.policy import DEFAULT_OLDEST_LIVE, DEFAULT_RENOTICE_HOURS

if TYPE_CHECKING:
    from crawler.config import Config
    from storage.notices import SentNotice

RECHECK_ACTOR = "recheck"  # audit actor for re-checks run without --as (e.g. by the scheduler)

_renotice = click.option(
    "--renotice-hours", type=click.FloatRange(min=0, min_open=True),
    envvar="TRAWL_RENOTICE_HOURS", default=DEFAULT_RENOTICE_HOURS, show_default=True,
    help="Hours after a notice is sent before a still-live URL is due for a re-notice. "
         "Env: TRAWL_RENOTICE_HOURS.",
)


@click.group("notices")
def notices() -> None:
    """Takedown notices per hosting provider: export, mark sent, list."""


def _sent_summary(sent: list[SentNotice], *, err: bool) -> None:
    for s in sent:
        skipped = f", {len(s.skipped)} already settled" if s.skipped else ""
        click.echo(f"{s.reference}: sent; {len(s.notified)} URL(s) notified{skipped}; "
                   f"re-notice due {iso_z(s.renotice_due_at)}", err=err)


@notices.command("export")
@click.option("--provider", default=None,
              help="Only this provider (name or slug; 'unattributed' for hits with none).")
@format_option(FORMATS)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one file per notice (<REFERENCE>.<ext>) here instead of stdout.")
@click.option("--due", is_flag=True, help="Only re-notices: notified or live URLs now overdue.")
@click.option("--mark-sent", is_flag=True, help="Also record the exported notices as sent.")
@click.option("--template", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Jinja2 template replacing the bundled one (text and eml).")
@click.option("--legal-basis-file", type=click.Path(dir_okay=False, exists=True,
              path_type=Path), default=None,
              help="Legal-basis paragraph for the notices. Default: env TRAWL_LEGAL_BASIS.")
@click.option("--from", "sender", envvar="TRAWL_NOTICE_FROM", default=None,
              help="Sender of eml notices. Env: TRAWL_NOTICE_FROM.")
@click.option("--org", "organisation", envvar="TRAWL_ORG_NAME", default=None,
              help="Your organisation's name in notices. Env: TRAWL_ORG_NAME.")
@_renotice
@pass_config
def export(config: Config, provider: str | None, fmt: str, out: Path | None, due: bool,
           mark_sent: bool, template: Path | None, legal_basis_file: Path | None,
           sender: str | None, organisation: str | None, renotice_hours: float) -> None:
    """Export notices: confirmed URLs (and overdue re-notices) grouped per hosting provider.

    Each notice gets a reference (TRAWL-YYYYMMDD-<provider>-<n>) to quote in
    `trawl notices mark-sent` once it went out."""
    from crawler.services.notices.export import notices_text, write_notices
    from crawler.services.notices.render import NoticeRenderer, legal_basis
    from storage.notices import mark_sent as record_sent
    from storage.notices import prepare_notices

    actor = require_actor(config)
    renderer = NoticeRenderer(template=template, legal_basis_text=legal_basis(
        legal_basis_file), sender=sender, organisation=organisation)
    with opened_store(config) as store:
        found = prepare_notices(store, actor=actor, provider=provider, due_only=due,
                                now=config.now)
        if out is None:
            click.echo(notices_text(found, fmt, renderer), nl=False)
            written: list[Path] = []
        else:
            written = write_notices(found, fmt, out, renderer)
        sent = (record_sent(store, [n.reference for n in found], actor=actor,
                            renotice_hours=renotice_hours, now=config.now)
                if mark_sent and found else [])
    if not found:
        click.echo("No re-notices are due." if due else
                   "No notices to export: no confirmed hits and no re-notices due.", err=True)
        return
    for notice in found:
        click.echo(f"{notice.reference}: {notice.provider}, {len(notice.items)} URL(s) "
                   f"({notice.kind})", err=True)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    _sent_summary(sent, err=True)


@notices.command("mark-sent")
@click.argument("references", nargs=-1, required=True)
@_renotice
@pass_config
def mark_sent_cmd(config: Config, references: tuple[str, ...], renotice_hours: float) -> None:
    """Record that notices went out (all or nothing); their URLs become notified."""
    from storage.notices import mark_sent as record_sent

    actor = require_actor(config)
    with opened_store(config) as store:
        sent = record_sent(store, list(references), actor=actor,
                           renotice_hours=renotice_hours, now=config.now)
    _sent_summary(sent, err=False)


@notices.command("list")
@click.option("--unsent", is_flag=True, help="Only notices not marked sent yet.")
@format_option()
@pass_config
def list_cmd(config: Config, unsent: bool, fmt: str) -> None:
    """List notices, newest first."""
    from storage.notices import list_notices

    with opened_store(config) as store:
        found = list_notices(store, unsent_only=unsent)
    rows = [{"reference": n.reference, "provider": n.provider, "abuse_email": n.abuse_email,
             "kind": n.kind, "urls": len(n.items), "created_at": n.created_at,
             "created_by": n.created_by, "sent_at": n.sent_at, "sent_by": n.sent_by,
             "hit_ids": [i.hit_id for i in n.items]} for n in found]
    emit(rows, fmt, ("reference", "provider", "kind", "urls", "created_at", "sent_at", "sent_by"))


# --- providers ---------------------------------------------------------------------------


@click.group("providers")
def providers() -> None:
    """Hosting providers: who to send notices to, by IP range and domain."""


@providers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pass_config
def import_cmd(config: Config, file: Path) -> None:
    """Import a provider table (CSV: name,abuse_email,country,ranges,domains; ranges and
    domains separated by spaces or semicolons). Existing providers are updated by name; on
    any problem nothing is imported."""
    from storage.providers import import_provider_file

    actor = require_actor(config)
    with opened_store(config) as store:
        result = import_provider_file(store, file, actor=actor)
    click.echo(f"Imported {len(result.providers)} provider(s) from {file}: {result.added} new, "
               f"{result.updated} updated, {result.ranges} IP range(s), {result.domains} "
               "domain suffix(es).")


@providers.command("list")
@format_option()
@pass_config
def providers_list(config: Config, fmt: str) -> None:
    """List imported providers with their ranges and domains."""
    from storage.providers import list_providers

    with opened_store(config) as store:
        found = list_providers(store)
    if fmt == "json":
        emit(found, fmt)
        return
    emit([{**p.__dict__, "ranges": " ".join(p.ranges), "domains": " ".join(p.domains)}
          for p in found], fmt,
         ("id", "name", "abuse_email", "country", "ranges", "domains", "imported_at"))


# --- recheck and stats ----------------------------------------------------------------------


@click.command("recheck")
@click.option("--hit", "hit_ids", type=int, multiple=True,
              help="Only these hits (repeatable). Default: every notified or live hit.")
@_renotice
@allow_address_option
@format_option(("text", "json"))
@pass_config
def recheck(config: Config, hit_ids: tuple[int, ...], renotice_hours: float,
            allow_addresses: tuple[str, ...], fmt: str) -> None:
    """Fetch notified and live URLs again (in memory) and record removed or still live.

    Internal addresses are refused (recorded inconclusive) unless --allow-address allows them.
    """
    from crawler.services.addresses import address_settings
    from crawler.services.recheck import run_recheck

    settings = address_settings(allow_addresses)
    with opened_store(config) as store:
        summary = run_recheck(store, actor=config.actor or RECHECK_ACTOR,
                              renotice_hours=renotice_hours, now=config.now,
                              hit_ids=list(hit_ids) or None, settings=settings,
                              verbose=config.verbose)
    if fmt == "json":
        click.echo(json.dumps(plain(asdict(summary)), indent=2))
        return
    click.echo(f"Re-checked {summary.checked} hit(s): {len(summary.removed)} removed, "
               f"{len(summary.live)} still live, {len(summary.inconclusive)} inconclusive.")
    for r in summary.removed:
        ttr = ("" if r.time_to_removal_seconds is None
               else f" after {r.time_to_removal_seconds / 3600:.1f} h")
        click.echo(f"  removed  hit {r.hit_id}{ttr}  {r.media_url}")
    for hit_id in summary.live:
        click.echo(f"  live     hit {hit_id}")
    for hit_id, reason in summary.inconclusive:
        click.echo(f"  unknown  hit {hit_id}: {reason} (will be checked again)")


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@click.command("stats")
@click.option("--oldest", type=click.IntRange(min=0), default=DEFAULT_OLDEST_LIVE,
              show_default=True, help="How many of the oldest still-live hits to list.")
@format_option()
@pass_config
def stats(config: Config, oldest: int, fmt: str) -> None:
    """Images per state and tier, notices sent, time to removal per provider, oldest live."""
    from storage.stats import takedown_stats

    with opened_store(config) as store:
        result = takedown_stats(store, now=config.now, oldest=oldest)
    if fmt == "json":
        click.echo(json.dumps(plain(asdict(result)), indent=2))
        return
    click.echo("Images: " + ", ".join(f"{k} {v}" for k, v in result.hits_by_status.items()))
    click.echo("Pending review: " + ", ".join(
        f"{tier} tier {n}" for tier, n in result.pending_by_tier.items()))
    click.echo(f"Notices: {result.notices_sent} sent, {result.notices_unsent} not sent; "
               f"re-notices due {result.renotices_due}")
    click.echo("Crawls started (last {} days): {}".format(
        len(result.crawls_by_day),
        ", ".join(f"{d.day:%m-%d} {d.crawls}" for d in result.crawls_by_day)))
    click.echo("\nTime to removal per provider (hours from first notice):")
    emit([{"provider": p.provider, "notified": p.notified, "removed": p.removed,
           "still_live": p.still_live, "median_h": _hours(p.median_hours),
           "p90_h": _hours(p.p90_hours)} for p in result.providers], "table")
    click.echo("\nOldest still-live images:")
    emit([{"hit": h.hit_id, "status": h.status, "provider": h.provider,
           "notified_at": h.notified_at, "age_h": _hours(h.age_hours),
           "notices": h.notices_sent, "media_url": h.media_url} for h in result.oldest_live],
         "table")


def register(cli: click.Group) -> None:
    cli.add_command(notices)
    cli.add_command(providers)
    cli.add_command(recheck)
    cli.add_command(stats)
