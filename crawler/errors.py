"""The errors a user can meet: sentences saying what was wrong and what to do.

Every layer has one base for them: `TrawlError` here (crawler), `storage.db.StorageError`
(storage) and `matchers.listformats.errors.ListFormatError` (matchers, which knows nothing
above it). `USER_ERRORS` names the three; the CLI turns them into a message and an exit
code in one place (crawler.cli.main), the web app into problem+json in one handler.
"""

from __future__ import annotations

from matchers.listformats.errors import ListFormatError
from storage.errors import StorageError


class TrawlError(Exception):
    """An error a user can meet; `str()` is the sentence to show, `exit_code` the status."""

    exit_code = 1


class StoppedBySignal(TrawlError):
    """The command was stopped by a signal (exit code 130, as shells report SIGINT)."""

    exit_code = 130


USER_ERRORS: tuple[type[Exception], ...] = (TrawlError, StorageError, ListFormatError)


def exit_code_of(exc: BaseException) -> int:
    """The exit status for a user error: its own `exit_code`, else 1."""
    code = getattr(exc, "exit_code", 1)
    return code if isinstance(code, int) and code > 0 else 1
