"""FastAPI app: health check, each user's private downloads page, single-file links and export packages; all
signed and revocable."""

# No `from __future__ import annotations`: FastAPI must see the real dependency types of the local routes.

import html
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from bots.web.streaming import blob_response
from core import links
from core.settings import Settings
from core.signing import BadToken, ExpiredToken
from storage.blobs import open_blob_store
from storage.db import Database
from storage.models import Asset
from storage.repositories import assets as asset_repo
from storage.repositories import exports as export_repo

STYLE = "<style>li{margin:1em 0}img,video{display:block;max-width:min(100%,480px);height:auto}</style>"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4"}


def content_type(asset: Asset) -> str:
    """The asset's MIME type; rows written without one fall back on their kind."""
    if asset.mime:
        return asset.mime
    return "video/mp4" if asset.kind == "video" else "application/octet-stream"


def item_html(url: str, asset: Asset) -> str:
    """One list entry: the video playable in place (or the image shown), then its link and details."""
    details = f"{asset.width}×{asset.height}" if asset.width and asset.height else ""
    if asset.kind == "video":
        if asset.duration_s:
            details = f"{round(asset.duration_s, 1):g} s" + (f" · {details}" if details else "")
        size = f' width="{asset.width}" height="{asset.height}"' if asset.width and asset.height else ""
        preview = (f'<video controls playsinline preload="metadata"{size}>'
                   f'<source src="{url}" type="{html.escape(content_type(asset))}"></video>')
    else:
        preview = f'<img src="{url}" loading="lazy" alt="{asset.kind} #{asset.id}">'
    when = f"{asset.created_at:%Y-%m-%d %H:%M}"
    return (f'<li>{preview}<a href="{url}">{asset.kind} #{asset.id}</a> '
            f"{' · '.join(part for part in (details, when) if part)}</li>")


def message_page(status: int, title: str, text: str) -> HTMLResponse:
    """A short page saying why a link does not open, and what to do instead."""
    return HTMLResponse(
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>{STYLE}"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>",
        status_code=status,
    )


EXPIRED = (410, "This download has expired", "Export packages are kept for a limited time. Send /export again in "
           "the chat for a new one.")
REVOKED = (403, "This download link was revoked", "Its owner cancelled every link sent so far (/web revoke). "
           "Send /export again in the chat for a new one.")
UNKNOWN = (404, "No such download", "This link is not valid: check that it was copied whole, or ask the bot for "
           "a new one with /export.")


# Chat apps fetch links posted in a chat to draw a preview; that is not somebody downloading the package.
PREVIEW_AGENTS = ("telegrambot", "discordbot", "twitterbot", "facebookexternalhit", "slackbot", "whatsapp")


def counts_as_download(request: Request) -> bool:
    """Whether this request is a person's download: from the first byte (a resumed or split download counts
    once), and not a chat app drawing a link preview."""
    agent = request.headers.get("user-agent", "").lower()
    if any(name in agent for name in PREVIEW_AGENTS):
        return False
    ranges = request.headers.get("range", "").replace(" ", "").lower()
    return not ranges or ranges.startswith("bytes=0-")


def create_app(settings: Settings) -> FastAPI:
    """The web app for ``settings``; the database and blob store are opened once here."""
    app = FastAPI(title="Persona Studio", docs_url=None, redoc_url=None)
    database = Database(settings.resolved_database_url)
    blobs = open_blob_store(settings)

    def grant_from(token: str) -> links.Grant:
        with database.session() as session:
            try:
                return links.check(settings, session, token)
            except BadToken as exc:
                raise HTTPException(status_code=403, detail=str(exc)) from None

    GrantDep = Annotated[links.Grant, Depends(grant_from)]

    def file_of(asset: Asset, request: Request) -> Response:
        mime = content_type(asset)
        extension = "mp4" if mime == "video/mp4" else (EXTENSIONS.get(mime) or mime.split("/")[-1] or "bin")
        # A link downloads the file; the page's <video> and <img> elements play and show it all the same
        # (Range requests are answered, so players can seek).
        return blob_response(blobs, asset.blob, request, media_type=mime, filename=f"{asset.id}.{extension}")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/u/{token}", response_class=HTMLResponse)
    def downloads(token: str, grant: GrantDep) -> str:
        if grant.asset_id is not None:
            raise HTTPException(status_code=403, detail="this link opens a single file, not a page")
        with database.session() as session:
            items = asset_repo.recent(session, owner_id=grant.owner_id, limit=50, origins=None)
            rows = "".join(item_html(f"/u/{html.escape(token)}/asset/{a.id}", a) for a in items)
        body = f"<ul>{rows}</ul>" if rows else "<p>Nothing here yet: make something with /imagine.</p>"
        return (f"<!doctype html><meta charset=utf-8><title>Persona Studio downloads</title>{STYLE}"
                f"<h1>Your downloads</h1>{body}")

    @app.get("/u/{token}/asset/{asset_id}", response_model=None)
    def page_asset(token: str, asset_id: str, grant: GrantDep, request: Request) -> Response:
        if grant.asset_id is not None:
            raise HTTPException(status_code=403, detail="this link opens a single file, not a page")
        with database.session() as session:
            found = asset_repo.get_owned(session, asset_id=asset_id, owner_id=grant.owner_id)
            if found is None:
                raise HTTPException(status_code=404, detail="no such item among yours")
            return file_of(found, request)

    @app.get("/a/{token}", response_model=None)
    def single_asset(token: str, grant: GrantDep, request: Request) -> Response:
        if grant.asset_id is None:
            raise HTTPException(status_code=403, detail="this link is not valid")
        with database.session() as session:
            found = asset_repo.get_owned(session, asset_id=grant.asset_id, owner_id=grant.owner_id)
            if found is None:
                raise HTTPException(status_code=404, detail="this file was deleted")
            return file_of(found, request)

    @app.get("/x/{token}", response_model=None)
    def export_package(token: str, request: Request) -> Response:
        with database.session() as session:
            try:
                grant = links.check_export(settings, session, token)
            except ExpiredToken:
                return message_page(*EXPIRED)
            except links.Revoked:
                return message_page(*REVOKED)
            except BadToken:
                return message_page(*UNKNOWN)
            package = export_repo.get_owned(session, package_id=grant.package_id, owner_id=grant.owner_id)
            if package is None:
                return message_page(*UNKNOWN)
            if package.revoked:
                return message_page(*REVOKED)
            if export_repo.is_expired(package):
                return message_page(*EXPIRED)
            if package.blob is None:
                return message_page(*UNKNOWN)
            blob, name = package.blob, f"{package.platform}-{package.id}.zip"
        # Streamed in chunks with Range answered, so large packages can resume.
        response = blob_response(blobs, blob, request, media_type="application/zip", filename=name)
        if response.status_code in (200, 206) and counts_as_download(request):
            with database.session() as session:
                export_repo.count_download(session, package_id=package.id)
        return response

    return app
