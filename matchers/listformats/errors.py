"""ListFormatError: a known-hash list that cannot be imported, and exactly where and why."""

from __future__ import annotations


class ListFormatError(ValueError):
    """A list file is malformed; nothing from it was imported.

    The message is a sentence for the analyst running the import: it names the file, the
    line (1-based, as an editor shows it) and the offending value, and says what to fix.
    """

    def __init__(self, path: str, line: int | None, problem: str, value: str | None = None):
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}. Nothing was imported from this file.")
        self.path = path
        self.line = line
        self.value = value
        self.problem = problem
