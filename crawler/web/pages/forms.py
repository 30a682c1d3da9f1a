"""What the operations pages share: form values read as the services want them, a refusal
shown on the page it came from, and paging links that keep the filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from crawler.web.pagination import DEFAULT_LIMIT, Page, PageRequest
from crawler.web.problems import BadInput, problem_for
from crawler.web.templating import render


@dataclass
class Shown:
    """A refusal as a page shows it: the sentence, the field, one line per problem."""

    status: int = 200
    error: str | None = None
    error_field: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


def shown(exc: Exception | None) -> Shown:
    if exc is None:
        return Shown()
    problem = problem_for(exc)
    return Shown(problem.status, problem.detail, getattr(exc, "field", None),
                 [e for e in problem.errors if "line" in e])


def page_with(request: Request, template: str, context: dict[str, Any],
              error: Exception | None = None) -> Response:
    """Render an operations page, with a refusal (status, sentence, field) if any."""
    refusal = shown(error)
    return render(request, template, {**context, "error": refusal.error,
                                      "error_field": refusal.error_field,
                                      "line_errors": refusal.errors},
                  status_code=refusal.status)


def optional_int(value: str, field_name: str, *, minimum: int) -> int | None:
    """A number field that may be left empty."""
    text = value.strip()
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        raise BadInput(f"{field_name}: {value!r} is not a whole number.",
                       field=field_name) from None
    if number < minimum:
        raise BadInput(f"{field_name}: must be {minimum} or more.", field=field_name)
    return number


def split_list(value: str) -> list[str]:
    """Comma-separated form values (tags), blanks dropped."""
    return [part for part in (p.strip() for p in value.split(",")) if part]


def page_at(offset: int, limit: int = DEFAULT_LIMIT) -> PageRequest:
    """A page of a table shown on a page (the API takes limit and offset from the query)."""
    return PageRequest(limit=limit, offset=offset)


def pager_links(path: str, page: Page[Any], filters: Mapping[str, Any]
                ) -> tuple[str | None, str | None]:
    """(newer/previous, older/next) links of a paged table, keeping its filters."""
    kept = {k: v for k, v in filters.items() if v not in (None, "", False)}

    def link(offset: int | None) -> str | None:
        return None if offset is None else f"{path}?" + urlencode({**kept, "offset": offset})

    previous = max(0, page.offset - page.limit) if page.offset > 0 else None
    return link(previous), link(page.next_offset)
