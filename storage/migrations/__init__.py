"""Alembic migrations of Trawl's schema, configured from storage.db (no alembic.ini)."""
