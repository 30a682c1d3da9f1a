"""Takedown notices: formats, rendering from templates, and export to files."""

FORMATS = ("csv", "json", "text", "eml")
