"""`trawl init`: create or migrate the database, restore the audit guards, set up an app role.

This command replaces the `init` of crawler/cli/misc.py (registered in its place at merge).
"""

from __future__ import annotations

import click

from crawler.cli.common import TrawlError, pass_config
from crawler.config import Config
from storage.approle import grant_app_role
from storage.auditguards import repair_audit_guards
from storage.crawls import SYSTEM_ACTOR
from storage.db import StorageError, open_store


@click.command("init")
@click.option(
    "--repair-audit", is_flag=True,
    help="Re-create the audit table's append-only guards (triggers) that are missing, "
    "changed or disabled, and record that in the audit trail.",
)
@click.option(
    "--app-role", metavar="NAME", default=None,
    help="PostgreSQL: create or reset the login role NAME, which owns nothing and may only "
    "add to the audit trail, to run Trawl as (README: 'The audit trail').",
)
@click.option(
    "--app-password", envvar="TRAWL_APP_PASSWORD", default=None,
    help="Password for --app-role. Env: TRAWL_APP_PASSWORD (better than the option: command "
    "lines are visible to other users).",
)
@pass_config
def init_command(
    config: Config, repair_audit: bool, app_role: str | None, app_password: str | None
) -> None:
    """Create the database, or bring an existing one up to the current schema.

    Every command checks that the audit table's guards are in place and refuses to run
    when they are not; --repair-audit restores them. Run it, and --app-role, as the owner
    of the tables.

    Examples: trawl --db postgresql://trawl@db.example/trawl init;
    TRAWL_APP_PASSWORD=... trawl --db postgresql://trawl@db.example/trawl init --app-role
    trawl_app
    """
    if app_password is not None and app_role is None:
        raise TrawlError("--app-password (or TRAWL_APP_PASSWORD) goes with --app-role NAME.")
    actor = config.actor or SYSTEM_ACTOR
    try:
        store = open_store(config.db_url, migrate=True, check_guards=not repair_audit)
    except StorageError as exc:
        raise TrawlError(str(exc)) from None
    try:
        if repair_audit:
            problems = repair_audit_guards(store, actor=actor)
            if problems:
                click.echo(f"Repaired the audit guards: {'; '.join(problems)}.")
                click.echo("The repair is recorded in the audit trail. Entries written while "
                           "the guards were gone may have been changed: compare the trail "
                           "with your last backup.")
            else:
                click.echo("The audit guards are in place; nothing to repair.")
        if app_role is not None:
            role = grant_app_role(store, app_role, actor=actor, password=app_password)
            done = "Created" if role.created else "Reset the rights of"
            click.echo(
                f"{done} the role {role.name}: SELECT and INSERT on audit, read and write on "
                f"{len(role.read_write_tables)} other tables, no ownership"
                + ("; password set." if role.password_set else "; no password set.")
            )
        shown = store.display_url
    except StorageError as exc:
        raise TrawlError(str(exc)) from None
    finally:
        store.close()
    click.echo(f"Database ready: {shown}")
