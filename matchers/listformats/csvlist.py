"""Trawl CSV lists: a header naming hash_type,hash and optionally label,source,category,variant."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from matchers.hashtypes import HASH_TYPES
from matchers.hashtypes.base import shorten
from matchers.listformats.entries import KnownEntry
from matchers.listformats.errors import ListFormatError

NAME = "csv"
MAX_VARIANT_LENGTH = 32
_VARIANT_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-+_")
REQUIRED = ("hash_type", "hash")
OPTIONAL = ("label", "source", "category", "variant")


def header_columns(text: str) -> list[str]:
    """Column names of a header line, normalised (trimmed, lower case)."""
    return [name.strip().lower() for name in next(csv.reader([text]))]


def looks_like(first_line: str) -> bool:
    columns = header_columns(first_line)
    return all(name in columns for name in REQUIRED)


def looks_like_partial_header(first_line: str) -> bool:
    """A header with some Trawl column names: parse as CSV so the error names what is missing."""
    columns = header_columns(first_line)
    return len(columns) > 1 and any(name in columns for name in (*REQUIRED, *OPTIONAL))


def parse(lines: Iterator[tuple[int, str]], path: str) -> Iterator[KnownEntry]:
    """Entries of content lines (header first), raising ListFormatError at the first bad one."""
    header_line, header_text = next(lines)
    columns = header_columns(header_text)
    _check_header(columns, header_text, header_line, path)
    where = {name: columns.index(name) for name in (*REQUIRED, *OPTIONAL) if name in columns}
    others = [(i, name) for i, name in enumerate(columns) if name not in where]
    i_type, i_hash = where["hash_type"], where["hash"]
    i_label, i_source, i_category, i_variant = (where.get(name) for name in OPTIONAL)

    for number, text in lines:
        row = _split(text, path, number)
        if len(row) != len(columns):
            raise ListFormatError(
                path,
                number,
                f"the row has {len(row)} fields but the header has {len(columns)} "
                f"({','.join(columns)}); quote values that contain commas",
                text,
            )
        hash_type = HASH_TYPES.get(row[i_type].strip().lower())
        if hash_type is None:
            raise ListFormatError(
                path,
                number,
                f"unknown hash_type {shorten(row[i_type])}; use one of {', '.join(HASH_TYPES)}",
                row[i_type],
            )
        value = row[i_hash].strip().lower()
        if not hash_type.is_valid(value):
            raise ListFormatError(path, number, hash_type.explain(row[i_hash]), row[i_hash])
        yield KnownEntry(
            hash_type.name,
            value,
            None if i_label is None else row[i_label].strip() or None,
            None if i_source is None else row[i_source].strip() or None,
            None if i_category is None else row[i_category].strip() or None,
            {name: row[i].strip() for i, name in others if row[i].strip()} if others else {},
            number,
            _variant(row[i_variant], path, number) if i_variant is not None else None,
        )


def _variant(text: str, path: str, number: int) -> str | None:
    """A variant name as written (crop-centre-90, trim, ...), or None when the cell is
    empty (the full image's hash)."""
    name = text.strip().lower()
    if not name:
        return None
    if len(name) > MAX_VARIANT_LENGTH or not set(name) <= _VARIANT_CHARACTERS:
        raise ListFormatError(
            path, number,
            f"variant {shorten(text)} is not a variant name: use at most {MAX_VARIANT_LENGTH} "
            "letters, digits and - + _ (e.g. crop-centre-90), or leave it empty for the full "
            "image",
            text,
        )
    return name


def _split(text: str, path: str, number: int) -> list[str]:
    """Fields of one line; the csv module only when quoting is involved (it is slower)."""
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise ListFormatError(
            path,
            number,
            f"badly quoted CSV ({exc}); values may not contain line breaks, and a quote "
            'inside a quoted value is written twice ("")',
            text,
        ) from None


def _check_header(columns: list[str], text: str, number: int, path: str) -> None:
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ListFormatError(
            path,
            number,
            f"the header lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (it has: {', '.join(columns)}); a Trawl CSV header names "
            "at least hash_type,hash",
            text,
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ListFormatError(
            path, number, f"the header names column {', '.join(repeated)} twice", text
        )
    if "" in columns:
        raise ListFormatError(
            path, number, "the header has an empty column name; name every column", text
        )
