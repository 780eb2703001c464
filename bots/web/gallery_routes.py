"""The gallery (``/u/<token>``, the link ``/web`` sends): the page, each item's file and thumbnail; and the
single-file link (``/a/<token>``) sent in place of a result too big for the chat.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from bots.web import errors
from bots.web.blob_access import blob_file, blob_response, open_blob
from bots.web.context import WebContext
from bots.web.errors import PageError, notice_page
from bots.web.fetchers import is_preview_fetcher
from bots.web.gallery import Filters, created_at, load_page, prompt_of
from bots.web.pages import placeholder
from bots.web.previews import GRID_SIDE, fitted
from core import links
from core.signing import BadToken, ExpiredToken
from storage.models import Asset, Persona
from storage.repositories import assets as asset_repo
from storage.states import AssetOrigin

PREVIEW_CACHE = "private, max-age=86400"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
              "video/quicktime": "mov", "video/webm": "webm"}
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def content_type(asset: Asset) -> str:
    """The asset's MIME type; rows written without one fall back on their kind."""
    if asset.mime:
        return asset.mime
    return "video/mp4" if asset.kind == "video" else "application/octet-stream"


def download_name(asset: Asset, persona: str | None) -> str:
    """A file name that says what it is: ``ava-2026-11-30-<id>.png``, ``upload-…`` for the user's own file."""
    mime = content_type(asset)
    extension = EXTENSIONS.get(mime) or mime.split("/")[-1] or "bin"
    if asset.origin == AssetOrigin.UPLOADED:
        stem = "upload"
    else:
        stem = _NOT_SLUG.sub("-", (persona or "").lower()).strip("-") or "persona-studio"
    return f"{stem}-{created_at(asset):%Y-%m-%d}-{asset.id}.{extension}"


def check_link(web: WebContext, token: str, *, single_file: bool) -> links.Grant:
    """What a gallery (or single-file) token opens; raises ``PageError`` saying why it does not."""
    with web.database.session() as session:
        try:
            grant = links.check(web.settings, session, token)
        except ExpiredToken:
            raise PageError(errors.LINK_EXPIRED) from None
        except links.Revoked:
            raise PageError(errors.LINK_REVOKED) from None
        except BadToken:
            raise PageError(errors.LINK_INVALID) from None
    if single_file and grant.asset_id is None:
        raise PageError(errors.LINK_INVALID)
    if not single_file and grant.asset_id is not None:
        raise PageError(errors.SINGLE_FILE)
    return grant


def _owned(web: WebContext, *, asset_id: str, owner_id: int) -> tuple[Asset, str | None]:
    """The asset (detached) and its persona's name, if ``owner_id`` owns it."""
    with web.database.session() as session:
        asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=owner_id)
        if asset is None or asset.kind not in ("image", "video"):
            raise PageError(errors.ITEM_GONE)
        persona = session.get(Persona, asset.persona_id) if asset.persona_id is not None else None
        name = persona.name if persona is not None and persona.owner_id == owner_id else None
        session.expunge(asset)
    # A row whose file left the store is answered by the store's own BlobNotFound (a page, logged once).
    return asset, name


def _file(web: WebContext, request: Request, asset: Asset, persona: str | None, *, inline: bool) -> Response:
    return blob_response(web.blobs, asset.blob, request, media_type=content_type(asset),
                         filename=download_name(asset, persona), inline=inline)


def gallery_routes(web: WebContext) -> APIRouter:
    """The routes under ``/u/<token>`` and ``/a/<token>``."""
    router = APIRouter()

    @router.get("/u/{token}")
    def gallery_page(token: str, request: Request, show: str | None = None, persona: str | None = None,
                     kind: str | None = None, page: str | None = None) -> Response:
        if is_preview_fetcher(request):
            return notice_page(web.pages, errors.PRIVATE)
        grant = check_link(web, token, single_file=False)
        filters = Filters.parse(show=show, persona=persona, kind=kind, page=page)
        base = f"/u/{token}"
        with web.database.session() as session:
            shown = load_page(session, owner_id=grant.owner_id, filters=filters)
            prompts = {item.id: prompt_of(item, shown.sources) for item in shown.items}

            def url(**changes: object) -> str:
                query = urlencode(shown.filters.query(**changes))
                return f"{base}?{query}" if query else base

            return web.pages.render("gallery.html", shown=shown, filters=shown.filters, base=base, url=url,
                                    prompts=prompts, created_at=created_at, fitted=fitted, side=GRID_SIDE,
                                    posters=web.previews.makes_posters)

    @router.api_route("/u/{token}/asset/{asset_id}", methods=["GET", "HEAD"])
    def gallery_file(token: str, asset_id: str, request: Request, view: str | None = None) -> Response:
        grant = check_link(web, token, single_file=False)
        asset, persona = _owned(web, asset_id=asset_id, owner_id=grant.owner_id)
        return _file(web, request, asset, persona, inline=view is not None)

    @router.get("/u/{token}/thumb/{asset_id}")
    def gallery_thumb(token: str, asset_id: str) -> Response:
        grant = check_link(web, token, single_file=False)
        asset, _ = _owned(web, asset_id=asset_id, owner_id=grant.owner_id)
        if asset.kind == "video":
            made = web.previews.poster(asset.blob, GRID_SIDE, lambda: blob_file(web.blobs, asset.blob),
                                       asset.duration_s)
        else:
            made = web.previews.image(asset.blob, GRID_SIDE, lambda: open_blob(web.blobs, asset.blob))
        if made is None:
            return placeholder(asset.kind)
        return FileResponse(made, media_type="image/webp", headers={"Cache-Control": PREVIEW_CACHE})

    @router.api_route("/a/{token}", methods=["GET", "HEAD"])
    def single_file(token: str, request: Request, view: str | None = None) -> Response:
        grant = check_link(web, token, single_file=True)
        assert grant.asset_id is not None
        asset, persona = _owned(web, asset_id=grant.asset_id, owner_id=grant.owner_id)
        return _file(web, request, asset, persona, inline=view is not None)

    return router
