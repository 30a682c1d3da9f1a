"""Downloader middlewares: seed scope (incl. redirects) and conditional image re-fetches."""
