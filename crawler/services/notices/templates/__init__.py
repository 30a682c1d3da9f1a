"""Bundled Jinja2 notice templates (a package so that setuptools ships the *.j2 files)."""
