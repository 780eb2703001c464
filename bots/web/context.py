"""What every route of the web app shares: settings, the database, the blob store, templates and previews."""

from __future__ import annotations

from dataclasses import dataclass

from bots.web.packages import ZipIndex
from bots.web.pages import Pages
from bots.web.previews import Previews
from core.settings import Settings
from storage.blobs import BlobStore
from storage.db import Database


@dataclass(frozen=True)
class WebContext:
    """The app's parts, made once by ``create_app`` and handed to each group of routes."""

    settings: Settings
    database: Database
    blobs: BlobStore
    pages: Pages
    previews: Previews
    zips: ZipIndex
