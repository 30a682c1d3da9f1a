"""`trawl init`: create or migrate the database, restore the audit guards, set up an app role."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from crawler.cli.common import opened_store, pass_config
from crawler.config import Config
from crawler.errors import TrawlError

if TYPE_CHECKING:
    from storage.db import Store


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

    The only command that creates a database; every other one refuses a URL that holds
    none, so a typo never leaves an empty database behind. Every command also checks that
    the audit table's guards are in place and refuses to run when they are not;
    --repair-audit restores them. Run it, and --app-role, as the owner of the tables.

    Examples: trawl --db postgresql://trawl@db.example/trawl init;
    TRAWL_APP_PASSWORD=... trawl --db postgresql://trawl@db.example/trawl init --app-role
    trawl_app
    """
    from storage.auditguards import repair_audit_guards
    from storage.crawls import SYSTEM_ACTOR
    from storage.db import open_store

    if app_password is not None and app_role is None:
        raise TrawlError("--app-password (or TRAWL_APP_PASSWORD) goes with --app-role NAME.")
    actor = config.actor or SYSTEM_ACTOR
    if not repair_audit:
        with opened_store(config, create=True) as store:
            shown = store.display_url
            _app_role(store, app_role, app_password, actor)
        click.echo(f"Database ready: {shown}")
        return
    store = open_store(config.db_url, create=False, check_guards=False)
    try:
        problems = repair_audit_guards(store, actor=actor)
        if problems:
            click.echo(f"Repaired the audit guards: {'; '.join(problems)}.")
            click.echo("The repair is recorded in the audit trail. Entries written while the "
                       "guards were gone may have been changed: compare the trail with your "
                       "last backup.")
        else:
            click.echo("The audit guards are in place; nothing to repair.")
        _app_role(store, app_role, app_password, actor)
        shown = store.display_url
    finally:
        store.close()
    click.echo(f"Database ready: {shown}")


def _app_role(store: Store, name: str | None, password: str | None, actor: str) -> None:
    """--app-role: a PostgreSQL login that owns nothing and may only add to the audit."""
    from storage.approle import grant_app_role

    if name is None:
        return
    role = grant_app_role(store, name, actor=actor, password=password)
    done = "Created" if role.created else "Reset the rights of"
    click.echo(
        f"{done} the role {role.name}: SELECT and INSERT on audit, read and write on "
        f"{len(role.read_write_tables)} other tables, no ownership"
        + ("; password set." if role.password_set else "; no password set.")
    )


def register(cli: click.Group) -> None:
    cli.add_command(init_command)
