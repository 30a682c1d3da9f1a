"""Limit/offset pagination: one page of items and the offset of the next, if any.

A page is fetched as limit + 1 rows, so whether a next page exists costs no COUNT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int

    @property
    def fetch(self) -> int:
        """How many rows to ask storage for: one more than shown."""
        return self.limit + 1


def page_request(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page."),
    offset: int = Query(0, ge=0, description="Items to skip (the previous next_offset)."),
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    """One page: `next_offset` is null on the last page."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


def make_page(rows: Sequence[T], request: PageRequest) -> Page[T]:
    """A Page from up to `request.fetch` rows (the extra row only says there is more)."""
    more = len(rows) > request.limit
    return Page[T](items=list(rows[: request.limit]), limit=request.limit,
                   offset=request.offset,
                   next_offset=request.offset + request.limit if more else None)
