"""Storage's user-facing errors (importable without loading SQLAlchemy)."""

from __future__ import annotations


class StorageError(Exception):
    """A database problem a user can meet and fix (bad URL, unreachable server, old schema,
    a refused workflow step). The message is a sentence naming the database (password
    hidden) or the row, and what to do."""


class NotFoundError(StorageError, LookupError):
    """A row the caller named by id does not exist."""
