"""Takedown notices: rendering (text, e-mail) and export formats (CSV, JSON)."""
