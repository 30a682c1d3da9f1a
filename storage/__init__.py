"""Trawl's database: SQLAlchemy models, Alembic migrations, and plain-dataclass queries.

Names are loaded on first use, so importing a light module (storage.errors, storage.clock)
does not load SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from storage.errors import NotFoundError, StorageError

_LAZY = {"Store": "storage.db", "open_store": "storage.db"}

__all__ = ["NotFoundError", "StorageError", "Store", "open_store"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'storage' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
