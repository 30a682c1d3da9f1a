"""The services' refusals as HTTP statuses, for the operations routes (seeds to notices).

A service says no with its own exception (a SeedError, a ListFormatError naming the line, a
ScheduleError, a WorkflowError); the routes turn it into 404, 409 or 422 naming the field
(and, for a file, the line), so the API and the pages show the service's own sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

from crawler.errors import TrawlError
from crawler.web.problems import BadInput, WebError
from matchers.listformats.errors import ListFormatError
from storage.errors import NotFoundError
from storage.providers import ProviderFileError
from storage.review import UnknownIdError, WorkflowError
from storage.schedules import ScheduleError, ScheduleNotFoundError


class NotFound(WebError):
    status = HTTPStatus.NOT_FOUND


class Conflict(WebError):
    status = HTTPStatus.CONFLICT


def file_problem(exc: ListFormatError | ProviderFileError, field: str) -> BadInput:
    """A malformed upload: 422 with one error per line at fault."""
    if isinstance(exc, ListFormatError):
        entry = {"field": field, "message": exc.problem}
        if exc.line is not None:
            entry["line"] = str(exc.line)
        return BadInput(str(exc), field=field, errors=[entry])
    errors = [{"field": field, "line": str(line), "message": message}
              for line, message in exc.errors]
    return BadInput(str(exc), field=field, errors=errors)


@contextmanager
def refusals(field: str | None = None) -> Iterator[None]:
    """Inside the block, a service's refusal becomes a WebError: a missing row 404, a
    refused workflow step 409, bad input 422 naming `field`."""
    try:
        yield
    except (ListFormatError, ProviderFileError) as exc:
        raise file_problem(exc, field or "file") from None
    except (ScheduleNotFoundError, NotFoundError, UnknownIdError) as exc:
        raise NotFound(str(exc)) from None
    except WorkflowError as exc:
        raise Conflict(str(exc)) from None
    except (TrawlError, ScheduleError) as exc:
        raise BadInput(str(exc), field=field) from None
