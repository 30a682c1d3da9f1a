"""`trawl demo`: crawl a generated loopback site and report the known images found and missed."""

from __future__ import annotations

from pathlib import Path

import click

from crawler.errors import TrawlError


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("trawl-demo"), show_default=True,
              help="Where the demo database and hash lists go (demo.db is recreated).")
@click.option("--time-budget", type=click.FloatRange(min=5), default=90.0, show_default=True,
              help="Stop the demo crawl after this many seconds.")
def demo_command(directory: Path, time_budget: float) -> None:
    """Crawl a generated site on 127.0.0.1 and show the known images found and missed.

    Everything is synthetic and local: the site (pages, images in several formats, edited
    copies of "known" images, a second image host on 127.0.0.2) is generated on the fly,
    the known-hash list is written to --dir, the real `trawl crawl` runs against it, and a
    second list imported after the crawl is matched with `trawl rematch` logic. Exits 0
    when every expected hit is found and nothing else is. The demo keeps its own
    database (DIR/demo.db, recreated each run); --db is not used.

    Example: trawl demo --dir /tmp/trawl-demo
    """
    from crawler.services.demo import run_demo

    report = run_demo(directory, echo=click.echo, time_budget=time_budget)
    if not report.ok:
        raise TrawlError(
            f"The demo did not get the expected result: {len(report.missed)} expected hits "
            f"missed, {len(report.unexpected)} unexpected hits, {len(report.leaked)} files "
            "holding image bytes (details above)."
        )


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
