"""/api/v1/providers (takedown): hosting providers, and importing the provider table."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Request, UploadFile
from pydantic import BaseModel, ConfigDict

from crawler.web.api.lists import TOO_LARGE, upload_name
from crawler.web.auth import User, require_role, store_of
from crawler.web.pagination import Page, PageRequest, make_page, page_request
from crawler.web.refusals import refusals
from crawler.web.schemas import PROBLEM_RESPONSES, UtcTime
from storage.db import Store
from storage.providers import (
    ProviderFileError,
    ProviderImportResult,
    import_providers,
    list_providers,
    parse_provider_file,
)

router = APIRouter(prefix="/api/v1", tags=["providers"], responses=PROBLEM_RESPONSES)
takedown = require_role("takedown")
COPY_BLOCK = 1024 * 1024


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    slug: str
    abuse_email: str | None
    country: str | None
    ranges: list[str]
    domains: list[str]
    imported_at: UtcTime


class ProviderImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    added: int
    updated: int
    ranges: int
    domains: int
    providers: list[str]


def import_provider_upload(store: Store, upload: UploadFile, *, actor: str) -> ProviderImportResult:
    """Import an uploaded provider table with `trawl providers import`'s parser: every
    problem is named with its line, and on any problem nothing is imported. The parser
    reads a file, so the upload is copied under the file's own name into a private
    temporary folder, removed afterwards (a provider table holds no crawled content)."""
    shown = f"{upload_name(upload)} (uploaded)"
    with tempfile.TemporaryDirectory(prefix="trawl-providers-") as folder:
        path = Path(folder) / "providers.csv"
        with path.open("wb") as out:
            while block := upload.file.read(COPY_BLOCK):
                out.write(block)
        with refusals("file"):
            try:
                specs = parse_provider_file(path)
            except ProviderFileError as exc:  # named as the person knows the file
                raise ProviderFileError(shown, exc.errors) from None
            return import_providers(store, specs, actor=actor, source_file=shown)


@router.get("/providers", response_model=Page[ProviderOut], summary="Hosting providers")
def get_providers(request: Request, page: PageRequest = Depends(page_request),
                  user: User = Depends(takedown)) -> Page[ProviderOut]:
    rows = list_providers(store_of(request))
    return make_page([ProviderOut.model_validate(r)
                      for r in rows[page.offset: page.offset + page.fetch]], page)


@router.post("/providers", response_model=ProviderImportOut, status_code=201,
             responses=TOO_LARGE,
             summary="Import a provider table (CSV; all or nothing, 422 names the lines)")
def import_provider_table(
    request: Request,
    file: UploadFile = File(description="CSV: name,abuse_email,country,ranges,domains."),
    user: User = Depends(takedown),
) -> ProviderImportOut:
    result = import_provider_upload(store_of(request), file, actor=user.name)
    return ProviderImportOut.model_validate(result)
