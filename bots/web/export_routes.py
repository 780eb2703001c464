"""Export package links (``/x/<token>``): the package page, each file alone (to save or play in place), its
preview, and the whole zip.

A download is counted when the zip is fetched from its first byte by something other than a chat app drawing
a link preview; looking at the page or saving single files is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from bots.web import errors
from bots.web.blob_access import blob_exists, blob_file, blob_response, blob_size, content_disposition
from bots.web.context import WebContext
from bots.web.errors import PageError, notice_page
from bots.web.fetchers import is_preview_fetcher
from bots.web.packages import BrokenPackage, Member, PackageFile, PackageView, manifest_of, package_view
from bots.web.pages import placeholder
from bots.web.previews import WIDE_SIDE, fitted
from core import links
from core.signing import BadToken, ExpiredToken
from storage.repositories import exports as export_repo

PREVIEW_CACHE = "private, max-age=86400"


def counts_as_download(request: Request) -> bool:
    """Whether this request is a person's download: from the first byte (a resumed or split download counts
    once), and not a chat app drawing a link preview."""
    if is_preview_fetcher(request):
        return False
    ranges = request.headers.get("range", "").replace(" ", "").lower()
    return not ranges or ranges.startswith("bytes=0-")


@dataclass(frozen=True)
class OpenPackage:
    """A package a valid link opens, read out of its row."""

    package_id: str
    platform: str
    blob: str
    expires_at: datetime | None
    view: PackageView


def open_package(web: WebContext, token: str) -> OpenPackage:
    """The package ``token`` opens; raises ``PageError`` saying why not (expired, revoked, unknown)."""
    with web.database.session() as session:
        try:
            grant = links.check_export(web.settings, session, token)
        except ExpiredToken:
            raise PageError(errors.EXPIRED) from None
        except links.Revoked:
            raise PageError(errors.REVOKED) from None
        except BadToken:
            raise PageError(errors.UNKNOWN) from None
        package = export_repo.get_owned(session, package_id=grant.package_id, owner_id=grant.owner_id)
        if package is None:
            raise PageError(errors.UNKNOWN)
        if package.revoked:
            raise PageError(errors.REVOKED)
        if export_repo.is_expired(package):
            raise PageError(errors.EXPIRED)
        if package.blob is None or not blob_exists(web.blobs, package.blob):
            raise PageError(errors.EXPIRED if package.blob is None else errors.BROKEN)
        blob, platform, stored = package.blob, package.platform, dict(package.manifest or {})
        expires, package_id = export_repo.expires_at(package), package.id
    try:
        web.zips.members(blob)  # a zip that cannot be read is damaged, whatever the row says
        view = package_view(manifest_of(stored, web.zips, blob), platform=platform)
    except BrokenPackage:
        raise PageError(errors.BROKEN) from None
    return OpenPackage(package_id=package_id, platform=platform, blob=blob, expires_at=expires, view=view)


def _file(package: OpenPackage, index: str) -> PackageFile:
    if not index.isdigit() or int(index) >= len(package.view.files):
        raise PageError(errors.NO_FILE)
    return package.view.files[int(index)]


def export_routes(web: WebContext) -> APIRouter:
    """The routes under ``/x/<token>``."""
    router = APIRouter()

    @router.get("/x/{token}")
    def export_page(token: str, request: Request) -> Response:
        if is_preview_fetcher(request):
            return notice_page(web.pages, errors.PRIVATE)
        package = open_package(web, token)
        view = package.view
        enlarged = [f.upscaled for f in view.files if f.upscaled]
        trimmed = [f for f in view.files if f.trimmed_from_s]
        return web.pages.render(
            "export.html", view=view, base=f"/x/{token}", expires_at=package.expires_at,
            zip_bytes=blob_size(web.blobs, package.blob), zip_name=f"{package.platform}-{package.package_id}.zip",
            posters=web.previews.makes_posters, preview_side=WIDE_SIDE, fitted=fitted,
            enlarged=enlarged, trimmed=trimmed,
        )

    # HEAD too: download managers ask for the size before they fetch.
    @router.api_route("/x/{token}/zip", methods=["GET", "HEAD"])
    def export_zip(token: str, request: Request) -> Response:
        package = open_package(web, token)
        if request.method == "GET" and counts_as_download(request):
            with web.database.session() as session:
                export_repo.count_download(session, package_id=package.package_id)
        return blob_response(web.blobs, package.blob, request, media_type="application/zip",
                             filename=f"{package.platform}-{package.package_id}.zip")

    @router.api_route("/x/{token}/file/{index}", methods=["GET", "HEAD"])
    def export_file(token: str, index: str, request: Request, view: str | None = None) -> Response:
        package = open_package(web, token)
        chosen = _file(package, index)
        member = _member(web, package, chosen)
        if member.stored:
            return blob_response(web.blobs, package.blob, request, media_type=chosen.media_type,
                                 filename=chosen.download_name, inline=view is not None, offset=member.offset,
                                 length=member.size)
        # Not stored as is (not what the packager writes for media): unpack it whole.
        content = web.zips.read_member(package.blob, chosen.path)
        disposition = content_disposition(chosen.download_name, inline=view is not None)
        return Response(content, media_type=chosen.media_type, headers={"Content-Disposition": disposition})

    @router.get("/x/{token}/preview/{index}")
    def export_preview(token: str, index: str) -> Response:
        package = open_package(web, token)
        chosen = _file(package, index)
        member = _member(web, package, chosen)
        key = f"{package.blob}-{chosen.index}"
        if chosen.kind == "video":
            made = web.previews.poster(
                key, WIDE_SIDE,
                lambda: blob_file(web.blobs, package.blob, offset=member.offset, length=member.size,
                                  scratch=web.previews.scratch),
                chosen.duration_s)
        else:
            made = web.previews.image(key, WIDE_SIDE, lambda: web.zips.open_member(package.blob, chosen.path))
        if made is None:
            return placeholder(chosen.kind)
        return FileResponse(made, media_type="image/webp", headers={"Cache-Control": PREVIEW_CACHE})

    return router


def _member(web: WebContext, package: OpenPackage, chosen: PackageFile) -> Member:
    try:
        members = web.zips.members(package.blob)
    except BrokenPackage:
        raise PageError(errors.BROKEN) from None
    member = members.get(chosen.path)
    if member is None:
        raise PageError(errors.BROKEN)
    return member
