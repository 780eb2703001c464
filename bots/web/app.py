"""FastAPI app: health check, each user's private downloads page, and single-file links; all signed and revocable."""

# No `from __future__ import annotations`: FastAPI must see the real dependency types of the local routes.

import html
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from core import links
from core.settings import Settings
from core.signing import BadToken
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import Asset
from storage.repositories import assets as asset_repo


def create_app(settings: Settings) -> FastAPI:
    """The web app for ``settings``; the database and blob store are opened once here."""
    app = FastAPI(title="Persona Studio", docs_url=None, redoc_url=None)
    database = Database(settings.resolved_database_url)
    blobs = BlobStore(settings.blobs_dir)

    def grant_from(token: str) -> links.Grant:
        with database.session() as session:
            try:
                return links.check(settings, session, token)
            except BadToken as exc:
                raise HTTPException(status_code=403, detail=str(exc)) from None

    GrantDep = Annotated[links.Grant, Depends(grant_from)]

    def file_of(asset: Asset) -> FileResponse:
        extension = "mp4" if asset.kind == "video" else (asset.mime.split("/")[-1] or "bin")
        return FileResponse(blobs.path(asset.blob), media_type=asset.mime, filename=f"{asset.id}.{extension}")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/u/{token}", response_class=HTMLResponse)
    def downloads(token: str, grant: GrantDep) -> str:
        if grant.asset_id is not None:
            raise HTTPException(status_code=403, detail="this link opens a single file, not a page")
        with database.session() as session:
            items = asset_repo.recent(session, owner_id=grant.owner_id, limit=50)
            rows = "".join(
                f'<li><a href="/u/{html.escape(token)}/asset/{a.id}">{a.kind} #{a.id}</a> '
                f"{a.width}×{a.height} · {a.created_at:%Y-%m-%d %H:%M}</li>"
                for a in items
            )
        body = f"<ul>{rows}</ul>" if rows else "<p>Nothing here yet: make something with /imagine.</p>"
        return f"<!doctype html><title>Persona Studio downloads</title><h1>Your downloads</h1>{body}"

    @app.get("/u/{token}/asset/{asset_id}")
    def page_asset(token: str, asset_id: str, grant: GrantDep) -> FileResponse:
        if grant.asset_id is not None:
            raise HTTPException(status_code=403, detail="this link opens a single file, not a page")
        with database.session() as session:
            found = asset_repo.get_owned(session, asset_id=asset_id, owner_id=grant.owner_id)
            if found is None:
                raise HTTPException(status_code=404, detail="no such item among yours")
            return file_of(found)

    @app.get("/a/{token}")
    def single_asset(token: str, grant: GrantDep) -> FileResponse:
        if grant.asset_id is None:
            raise HTTPException(status_code=403, detail="this link is not valid")
        with database.session() as session:
            found = asset_repo.get_owned(session, asset_id=grant.asset_id, owner_id=grant.owner_id)
            if found is None:
                raise HTTPException(status_code=404, detail="this file was deleted")
            return file_of(found)

    return app
