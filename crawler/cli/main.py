"""The `trawl` command: one entry point; each command group lives in its own module."""

from __future__ import annotations

import sys

import click

from crawler.cli import crawl, hashes, hits, misc, notices, review, schedule, seeds
from crawler.cli.common import TrawlError, pass_config  # noqa: F401  (re-exported for tests)
from crawler.cli.serve import register as register_serve  # issue 12
from crawler.cli.users import register as register_users  # issue 12
from crawler.config import Config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar="TRAWL_DATABASE_URL",
    default=None,
    help="Database URL (default: sqlite file trawl.db in the working directory). "
    "Env: TRAWL_DATABASE_URL.",
)
@click.option(
    "--as", "actor", envvar="TRAWL_USER", default=None,
    help="Who is acting (audit). Env: TRAWL_USER.",
)
@click.version_option(package_name="trawl")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, actor: str | None) -> None:
    """Trawl: find pages hosting known abuse images, without ever storing an image."""
    ctx.obj = Config.build(db_url=db_url, actor=actor)


for module in (misc, hashes, seeds, crawl, hits, review, notices, schedule):
    module.register(cli)
register_users(cli)  # issue 12
register_serve(cli)  # issue 12


def main() -> None:
    """Console-script entry point: every TrawlError becomes a message and exit code 1..."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TrawlError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
