"""`trawl serve`: the team's web app and JSON API over the same services as the CLI.

The app factory is crawler.web.app.create_app; importing this package loads nothing else,
so the CLI (and every crawl process it starts) does not pay for FastAPI.
"""
