"""Trawl's database: SQLAlchemy models, Alembic migrations, and plain-dataclass queries."""

from __future__ import annotations

from storage.db import NotFoundError, StorageError, Store, open_store

__all__ = ["NotFoundError", "StorageError", "Store", "open_store"]
