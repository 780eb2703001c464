"""FastAPI app: health check and each user's private downloads page behind a signed, expiring link."""

# No `from __future__ import annotations`: FastAPI must see the real dependency types of the local routes.

import html
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from core.settings import Settings
from core.signing import BadToken, verify
from storage.blobs import BlobStore
from storage.db import Database
from storage.repositories import assets as asset_repo


def create_app(settings: Settings) -> FastAPI:
    """The web app for ``settings``; the database and blob store are opened once here."""
    app = FastAPI(title="Persona Studio", docs_url=None, redoc_url=None)
    database = Database(settings.resolved_database_url)
    blobs = BlobStore(settings.blobs_dir)

    def owner_from(token: str) -> int:
        try:
            payload = verify(settings.secret_key, token)
        except BadToken as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        kind, _, value = payload.partition(":")
        if kind != "user" or not value.isdigit():
            raise HTTPException(status_code=403, detail="this link is not valid")
        return int(value)


    Owner = Annotated[int, Depends(owner_from)]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/u/{token}", response_class=HTMLResponse)
    def downloads(token: str, owner_id: Owner) -> str:
        with database.session() as s:
            items = asset_repo.recent(s, owner_id=owner_id, limit=50)
            rows = "".join(
                f'<li><a href="/u/{html.escape(token)}/asset/{a.id}">{a.kind} #{a.id}</a> '
                f"{a.width}×{a.height} · {a.created_at:%Y-%m-%d %H:%M}</li>"
                for a in items
            )
        body = f"<ul>{rows}</ul>" if rows else "<p>Nothing here yet: make something with /imagine.</p>"
        return f"<!doctype html><title>Persona Studio downloads</title><h1>Your downloads</h1>{body}"

    @app.get("/u/{token}/asset/{asset_id}")
    def asset(token: str, asset_id: str, owner_id: Owner) -> FileResponse:
        with database.session() as s:
            found = asset_repo.get_owned(s, asset_id=asset_id, owner_id=owner_id)
            if found is None:
                raise HTTPException(status_code=404, detail="no such item among yours")
            digest, mime, kind = found.blob, found.mime, found.kind
        extension = "mp4" if kind == "video" else (mime.split("/")[-1] or "bin")
        return FileResponse(blobs.path(digest), media_type=mime, filename=f"{asset_id}.{extension}")

    return app
