"""Threaded HTTP servers on loopback (port 0) that serve a route table and log every request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """What a route answers: status, body and headers (Content-Length is added)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


# A route gets (path with query, request headers) and returns a Reply or None for 404.
Route = Callable[[str, dict[str, str]], Reply | None]

LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)


def static(body: bytes, content_type: str, *, etag: str | None = None,
           last_modified: str | None = None) -> Route:
    """A fixed resource that answers conditional requests with 304 like a real server."""
    headers: dict[str, str] = {}
    if etag:
        headers["ETag"] = etag
    if last_modified:
        headers["Last-Modified"] = last_modified

    def route(path: str, request_headers: dict[str, str]) -> Reply:
        if etag and request_headers.get("if-none-match") == etag:
            return Reply(304, b"", content_type, headers)
        if last_modified and request_headers.get("if-modified-since") == last_modified:
            return Reply(304, b"", content_type, headers)
        return Reply(200, body, content_type, headers)

    return route


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the SYNs of a crawler opening 8+ connections
    # at once, and each dropped SYN costs a 1 s retransmit.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a crawler aborting an over-size download resets the connection."""


@dataclass(frozen=True)
class LoggedRequest:
    url: str  # the server's base URL + the request path (with query)
    headers: dict[str, str]


class RouteServer:
    """One ThreadingHTTPServer bound to (address, 0), serving exact-path or prefix routes."""

    def __init__(self, address: str, log: list[LoggedRequest]) -> None:
        self.address = address
        self.routes: dict[str, Route] = {}
        self.prefix_routes: dict[str, Route] = {}
        self.log = log
        self._server = _Server((address, 0), self._handler_class())
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def reply(self, path: str, headers: dict[str, str]) -> Reply | None:
        route = self.routes.get(path) or self.routes.get(path.split("?", 1)[0])
        if route is None:
            for prefix, candidate in self.prefix_routes.items():
                if path.startswith(prefix):
                    route = candidate
                    break
        return route(path, headers) if route is not None else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body in separate writes: no 40 ms stalls

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.log.append(LoggedRequest(server.base_url + self.path, headers))
                try:
                    reply = server.reply(self.path, headers) or Reply(404, b"not found")
                except Exception:  # a route bug must show up as a 500, not a hung client
                    reply = Reply(500, b"route failed")
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers_and_body(b"" if reply.status == 304 else reply.body)

            def end_headers_and_body(self, body: bytes) -> None:
                """One write for headers and body: a small response as two writes meets the
                client's delayed ACK and waits ~40 ms per request."""
                headers: list[bytes] = getattr(self, "_headers_buffer", [])
                self.wfile.write(b"".join(headers) + b"\r\n" + body)
                headers.clear()

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: the route log records requests

        return Handler

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sitegen-{self.address}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
