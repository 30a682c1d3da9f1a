"""The errors the web app raises, and the RFC 9457 problem each exception becomes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crawler.errors import TrawlError
from crawler.services.users import AccountError, LockedOut, SignInRefused
from storage.errors import NotFoundError, StorageError
from storage.review import UnknownIdError, WorkflowError
from storage.users import LastAdminError, UserExistsError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
API_PREFIX = "/api/"


class WebError(Exception):
    """An error with an HTTP status; `detail` is a sentence for the person or client."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, detail: str, *, field: str | None = None,
                 status: int | None = None, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.errors = errors or []  # one entry per problem (e.g. per line of a file)
        if status is not None:
            self.status = HTTPStatus(status)


class NotSignedIn(WebError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(WebError):
    status = HTTPStatus.FORBIDDEN


class BadInput(WebError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


@dataclass
class Problem:
    """RFC 9457 members (type is about:blank: the status says what kind of problem)."""

    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title,
                                "status": self.status, "detail": self.detail,
                                "instance": instance}
        if self.errors:
            body["errors"] = self.errors
        return body


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        location = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or location
        errors.append({"field": name, "location": location, "message": str(error["msg"])})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid input."
    return Problem(422, detail, errors)


def problem_for(exc: Exception) -> Problem:  # noqa: C901 (one flat case per kind)
    """The status, sentence and headers an exception becomes."""
    match exc:
        case NotSignedIn():
            return Problem(401, exc.detail, headers={"WWW-Authenticate": "Bearer"})
        case WebError():
            errors = exc.errors or (
                [{"field": exc.field, "message": exc.detail}] if exc.field else [])
            return Problem(exc.status, exc.detail, errors)
        case RequestValidationError():
            return _validation_problem(exc)
        case AccountError():
            errors = [{"field": exc.field, "message": str(exc)}] if exc.field else []
            return Problem(422, str(exc), errors)
        case LockedOut():
            return Problem(429, str(exc),
                           headers={"Retry-After": str(int(exc.retry_after.total_seconds()))})
        case SignInRefused():
            return Problem(401, str(exc))
        case TrawlError():
            return Problem(400, str(exc))
        case UserExistsError() | LastAdminError():
            return Problem(409, str(exc))
        case NotFoundError() | UnknownIdError():
            return Problem(404, str(exc))
        case WorkflowError():  # refused by the review workflow: someone's claim, a state
            return Problem(409, str(exc))
        case StorageError():
            logger.warning("database problem: %s", exc)
            return Problem(503, str(exc))
        case StarletteHTTPException():
            detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(
                exc.status_code).phrase
            return Problem(exc.status_code, detail, headers=dict(exc.headers or {}))
    logger.error("unexpected error", exc_info=exc)
    return Problem(500, "Something went wrong inside Trawl; the server log has the details.")


# Every exception class the app's one handler is registered for.
HANDLED = (WebError, RequestValidationError, StarletteHTTPException, TrawlError, StorageError,
           Exception)
