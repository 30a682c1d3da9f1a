"""The app factory: one Store, the routers, the security headers and the error handler."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from crawler.config import Config
from crawler.web.api import audit as api_audit
from crawler.web.api import docs as api_docs
from crawler.web.api import hits as api_hits
from crawler.web.api import me as api_me
from crawler.web.api import stats as api_stats
from crawler.web.api import users as api_users
from crawler.web.api.operations import OPERATIONS_API_ROUTERS
from crawler.web.auth import CallerCache
from crawler.web.errors import handle_error
from crawler.web.headers import SecurityHeadersMiddleware
from crawler.web.pages import audit, dashboard, hits, login, review, users
from crawler.web.pages.operations import OPERATIONS_PAGE_ROUTERS
from crawler.web.problems import HANDLED, PROBLEM_MEDIA_TYPE
from crawler.web.settings import WebSettings
from crawler.web.templating import compile_templates
from crawler.web.uploads import BodyLimitMiddleware
from storage.db import Store, open_store
from storage.domains import preload as preload_suffix_list

STATIC_DIR = Path(__file__).resolve().parent / "static"
OPENAPI_URL = "/api/openapi.json"
# While the app serves, the interpreter offers the GIL to a waiting thread after 1 ms
# instead of Python's 5 ms: with several requests in flight in one process, a request's
# thread back from the database waits for the GIL behind one busy with Python (rendering
# a page). Alternated bench_web runs did not show it to matter (bench/RESULTS.md, web app,
# 2026-12-01 branch web5: 1,000,000 items, 10 analysts, 2 processes, load 17-19: queue
# page p95 139 and 106 ms at 1 ms against 141 and 118 at 5 ms, confirm 108 and 93
# against 95 and 95); an earlier comment's figures were not in RESULTS.md and were not
# reproduced. TRAWL_BENCH_SWITCH_INTERVAL in bench_web.py measures it again.
GIL_SWITCH_INTERVAL_SECONDS = 0.001

PAGE_ROUTERS = (login.router, dashboard.router, users.router, audit.router, review.router,
                hits.router, *OPERATIONS_PAGE_ROUTERS)
API_ROUTERS = (api_me.router, api_users.router, api_audit.router, api_docs.router,
               api_hits.router, api_stats.router, *OPERATIONS_API_ROUTERS)


def app_from_environment() -> FastAPI:
    """The app as `trawl serve --workers N` starts it in each server process: the database
    URL, actor and trusted proxies from the environment the command set."""
    return create_app(Config.build(), WebSettings.build())


def create_app(config: Config, web: WebSettings | None = None) -> FastAPI:
    """The web app over the configured database (opened, and migrated, here).

    Raises storage.errors.StorageError, a sentence, when the database cannot be opened
    (or does not exist yet: `trawl init` makes it).
    """
    settings = web or WebSettings()
    store = open_store(config.db_url, create=False)  # `trawl init` creates databases

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_warm_up, store, app)
        interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        try:
            yield
        finally:
            sys.setswitchinterval(interval)
            store.close()

    app = FastAPI(
        title="Trawl",
        summary="Crawled images matching known hash lists: review, takedown, accounts.",
        version="1",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # crawler/web/api/docs.py serves it without a CDN or inline script
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.config = config
    app.state.settings = settings
    app.state.caller_cache = CallerCache()
    for router in (*PAGE_ROUTERS, *API_ROUTERS):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount(api_docs.DOCS_ASSETS_PATH,
              StaticFiles(directory=api_docs.swagger_assets_dir()), name="api-docs-assets")
    for exc_class in HANDLED:
        app.add_exception_handler(exc_class, handle_error)
    _document_problems(app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.trusted_proxies:
        # Outermost, so the headers, cookies and rate limit see the proxy's view.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app


def _warm_up(store: Store, app: FastAPI) -> None:
    """What each server process would otherwise do in its first requests, some of them at
    once: load the Public Suffix List (pages of hits name unattributed hosts by registered
    domain), compile the pages, set up the ORM, connect to the database and build the
    routes."""
    preload_suffix_list()
    compile_templates()
    store.warm_up()
    _build_routes(app)


def _build_routes(app: FastAPI) -> None:
    """Match a path no route has against every route: FastAPI builds an included router's
    routes (their parameter models) when a request first goes through it, ~1 s in all on
    a loaded 2-core machine, paid by the first requests of each server process."""
    scope = {"type": "http", "method": "GET", "path": "/.trawl-warm-up", "root_path": "",
             "headers": [], "query_string": b""}
    for route in app.router.routes:
        route.matches(scope)


def _document_problems(app: FastAPI) -> None:
    """Error responses are application/problem+json in the OpenAPI document, as sent."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[:1] in ("4", "5") and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
