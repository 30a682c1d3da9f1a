"""Request bodies (file uploads above all) are size-limited while they stream in.

A body larger than the limit is refused with 413 as soon as it is known to be too large:
at once when Content-Length says so, else when the bytes received pass the limit, so a
client can never make the server spool more than the limit to disk. Uploaded files are
parsed from Starlette's spooled temporary file, one line at a time.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024


def too_large(limit: int) -> HTTPException:
    """An HTTPException, because FastAPI's body parsing passes only those through."""
    return HTTPException(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"The upload is larger than this server accepts ({limit / MIB:g} MiB): import a "
        "larger file on the server with the CLI (`trawl hashes import FILE --as NAME`), or "
        "raise TRAWL_WEB_MAX_UPLOAD_MB.")


FORM_LIMIT = 2 * MIB  # any body that is not a file upload: forms and JSON


class BodyLimitMiddleware:
    """Raises 413 (answered by the app's one error handler) from the body stream: past
    `limit` for a multipart upload, past FORM_LIMIT for anything else (a form or JSON body
    is parsed in memory, a file is spooled to disk)."""

    def __init__(self, app: ASGIApp, *, limit: int, form_limit: int = FORM_LIMIT) -> None:
        self.app = app
        self.limit = limit
        self.form_limit = min(form_limit, limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        announced = int(declared) if declared and declared.isdigit() else None
        received = 0
        upload = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.limit if upload else self.form_limit

        async def limited_receive() -> Message:
            nonlocal received
            if announced is not None and announced > limit:
                raise too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, limited_receive, send)
