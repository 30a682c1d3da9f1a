"""`trawl init`: create the database, or bring an existing one to the current schema."""

from __future__ import annotations

import click

from crawler.cli.common import opened_store, pass_config
from crawler.config import Config


@click.command("init")
@pass_config
def init_command(config: Config) -> None:
    """Create the database, or bring an existing one up to the current schema.

    The only command that creates a database; every other one refuses a URL that holds
    none, so a typo never leaves an empty database behind.

    Example: trawl --db postgresql://trawl@db.example/trawl init
    """
    with opened_store(config, create=True) as store:
        shown = store.display_url
    click.echo(f"Database ready: {shown}")


def register(cli: click.Group) -> None:
    cli.add_command(init_command)
