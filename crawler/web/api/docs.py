"""/api/docs: Swagger UI served by the app itself (assets from the fastapi-offline wheel).

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline script;
both break the CSP. This page loads the same Swagger UI files from this server and starts
it from static/api-docs.js.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from crawler.web.templating import render

DOCS_ASSETS_PATH = "/api/docs/assets"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")

router = APIRouter(include_in_schema=False)


def swagger_assets_dir() -> Path:
    """The folder of Swagger UI's files inside the installed fastapi-offline package."""
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in SWAGGER_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline at {folder} lacks {missing}: reinstall Trawl's "
                           "dependencies (pip install -e .).")
    return folder


@router.get("/api/docs")
def api_docs(request: Request) -> Response:
    return render(request, "api_docs.html", {"assets": DOCS_ASSETS_PATH})
