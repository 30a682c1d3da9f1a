"""`trawl serve`: the web app and JSON API (uvicorn), on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import click

from crawler.cli.common import pass_config
from crawler.config import DATABASE_ENV, Config
from crawler.errors import TrawlError
from crawler.gctune import steady
from crawler.web.settings import TRUSTED_PROXIES_ENV, WebSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, envvar="TRAWL_HOST",
              help="Address to listen on. Keep the default and put a TLS reverse proxy in "
                   "front (README) to serve other machines. Env: TRAWL_HOST.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT,
              show_default=True, envvar="TRAWL_PORT", help="Port. Env: TRAWL_PORT.")
@click.option("--trust-proxy", "trusted_proxies", default=None, envvar=TRUSTED_PROXIES_ENV,
              metavar="ADDRESSES",
              help="Comma-separated addresses of reverse proxies whose X-Forwarded-Proto and "
                   f"X-Forwarded-For are believed (e.g. 127.0.0.1). Env: {TRUSTED_PROXIES_ENV}.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Serve TLS directly with this certificate (PEM).")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The private key of --certfile (PEM).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              envvar="TRAWL_WEB_WORKERS",
              help="Server processes (one per core serves a team's concurrent requests in "
                   "parallel; sessions and sign-in limits live in the database). "
                   "Env: TRAWL_WEB_WORKERS.")
@pass_config
def serve(config: Config, host: str, port: int, trusted_proxies: str | None,
          certfile: Path | None, keyfile: Path | None, workers: int) -> None:
    """Serve the web app and the JSON API (docs at /api/docs).

    Accounts come from `trawl users add`; there is no sign-up page.

    Example: trawl serve --port 8000, then open http://127.0.0.1:8000/
    """
    import uvicorn

    from crawler.web.app import create_app

    if (certfile is None) != (keyfile is None):
        raise TrawlError("Pass both --certfile and --keyfile to serve TLS, or neither.")
    if not is_loopback(host) and certfile is None:
        click.echo(
            f"Warning: listening on {host} without TLS: passwords, session cookies and API "
            "tokens cross the network readable by anyone on the path. Put Trawl behind a "
            "TLS reverse proxy (see README) or pass --certfile and --keyfile.",
            err=True,
        )
    settings = WebSettings.build(trusted_proxies)
    app: Any = create_app(config, settings)  # opens the database: its errors come first
    factory = False
    if workers > 1:
        # Each server process builds its own app from the environment (uvicorn imports it
        # by name); this one only supervises them.
        app.state.store.close()
        os.environ[DATABASE_ENV] = config.db_url
        os.environ[TRUSTED_PROXIES_ENV] = ",".join(settings.trusted_proxies)
        app, factory = "crawler.web.app:app_from_environment", True
    scheme = "https" if certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Trawl on {scheme}://{shown}:{port}/ with {workers} server process(es) "
               "(Ctrl+C stops it)", err=True)
    steady()  # the server runs with the usual garbage-collector thresholds (crawler.gctune)
    uvicorn.run(
        app, host=host, port=port, factory=factory, workers=workers,
        # Forwarded headers are believed only from --trust-proxy, inside the app.
        proxy_headers=False, server_header=False,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level="info",
    )


def register(cli: click.Group) -> None:
    """Add `trawl serve` to the top-level group."""
    cli.add_command(serve)
