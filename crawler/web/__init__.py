"""`trawl serve`: the team's web app and JSON API over the same services as the CLI."""

from crawler.web.app import create_app

__all__ = ["create_app"]
