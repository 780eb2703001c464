"""The web app: private pages behind signed, expiring, revocable links, and ``/health``.

| address | what it is |
|---|---|
| ``/x/<token>`` | an export package: previews per preset, Save and Copy per file, "Download all (zip)" |
| ``/u/<token>`` | the user's gallery (the ``/web`` link): results by persona and kind, uploads apart |
| ``/a/<token>`` | one file, sent in place of a result too big for the chat |
| ``/health`` | ``{"status": "ok"}``, the only JSON |

Pages are Jinja2 templates (``templates/``) with one stylesheet and one small script (``static/``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from bots.web.context import WebContext
from bots.web.errors import CatchErrors, install_error_pages
from bots.web.export_routes import export_routes
from bots.web.gallery_routes import gallery_routes
from bots.web.headers import SecurityHeaders
from bots.web.logs import protect_access_log
from bots.web.packages import ZipIndex
from bots.web.pages import STATIC, Pages
from bots.web.previews import Previews, find_ffmpeg
from core.settings import Settings
from storage.blobs import open_blob_store
from storage.db import Database


def create_app(settings: Settings, *, posters: bool = True) -> FastAPI:
    """The web app for ``settings``; the database and blob store are opened once here.

    ``posters=False`` makes no video poster frames even where ffmpeg is found (video tiles show a placeholder).
    """
    protect_access_log()
    blobs = open_blob_store(settings)
    binary = find_ffmpeg() if posters else None
    pages = Pages()
    web = WebContext(settings=settings, database=Database(settings.resolved_database_url), blobs=blobs,
                     pages=pages, zips=ZipIndex(blobs),
                     previews=Previews(settings.resolved_data_dir / "cache" / "previews", ffmpeg=binary))
    app = FastAPI(title="Persona Studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    install_error_pages(app, pages)
    # The last one added runs first: headers go on everything, the error page included.
    app.add_middleware(CatchErrors, pages=pages)
    app.add_middleware(SecurityHeaders)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/")
    def home() -> HTMLResponse:
        return pages.render("home.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(export_routes(web))
    app.include_router(gallery_routes(web))
    return app
