"""The `trawl` command: one entry point; each command group lives in its own module.

Errors a user can meet (crawler.errors.USER_ERRORS) become "Error: <sentence>" and an exit
code here, in one place, for every command.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import click

from crawler.cli import (
    crawls,
    database,
    demo,
    hits,
    lists,
    review,
    schedules,
    seeds,
    serve,
    takedown,
    users,
    workers,
)
from crawler.config import ACTOR_ENV, DATABASE_ENV, Config
from crawler.errors import USER_ERRORS, exit_code_of


class UserError(click.ClickException):
    """A user error on its way out: click prints "Error: <message>" and exits with the code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TrawlGroup(click.Group):
    """Maps every user error raised by a command to a message and exit code (also under
    click's test runner, which calls the group without `main()`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            raise UserError(str(exc), exit_code_of(exc)) from None


@click.group(cls=TrawlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", "db_url", envvar=DATABASE_ENV, default=None,
    help=f"Database URL (default: sqlite file trawl.db in the working directory). "
    f"Env: {DATABASE_ENV}.",
)
@click.option(
    "--as", "actor", envvar=ACTOR_ENV, default=None,
    help=f"Who is acting, for the audit trail. Env: {ACTOR_ENV}.",
)
@click.option("-v", "--verbose", is_flag=True,
              help="Also show Scrapy's own log lines (they go to the crawl's log file otherwise).")
@click.version_option(package_name="trawl")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, actor: str | None, verbose: bool) -> None:
    """Trawl: find pages hosting known abuse images, without ever storing an image."""
    try:
        ctx.obj = Config.build(db_url=db_url, actor=actor, verbose=verbose)
    except USER_ERRORS as exc:
        raise UserError(str(exc), exit_code_of(exc)) from None


for module in (database, lists, seeds, crawls, hits, review, takedown, schedules, demo,
               users, serve, workers):
    module.register(cli)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    finally:
        # The interpreter's collections at exit would walk every object the command
        # loaded (Scrapy, SQLAlchemy, a matcher) only to free memory the exit frees.
        gc.freeze()


if __name__ == "__main__":
    main()
