"""Rendering pages: the Jinja2 templates and stylesheet shipped beside this module, and the small formatting
helpers templates use (sizes, dates, lengths)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


PLACEHOLDER_CACHE = "public, max-age=86400"


def placeholder(kind: str) -> FileResponse:
    """The stand-in tile for a preview that cannot be made (a video without ffmpeg, an unreadable file)."""
    name = "video.svg" if kind == "video" else "image.svg"
    return FileResponse(STATIC / name, media_type="image/svg+xml", headers={"Cache-Control": PLACEHOLDER_CACHE})


def filesize(size: int | None) -> str:
    """``1.2 MB``, ``340 KB``; "" when unknown."""
    if not size:
        return ""
    if size >= 2**20:
        return f"{size / 2**20:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def when(moment: datetime | None) -> str:
    """``30 Nov 2026, 14:05 UTC``."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def day(moment: datetime | None) -> str:
    """``30 Nov 2026``."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%-d %b %Y")


def iso(moment: datetime | None) -> str:
    """The machine-readable form for ``<time datetime>``."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def time_left(moment: datetime | None, now: datetime | None = None) -> str:
    """How long until ``moment``, rounded: ``3 days``, ``5 hours``, ``12 minutes``."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds <= 60:
        return "less than a minute"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size * (2 if size > 60 else 1):
            count = round(seconds / size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "a few minutes"


def seconds(value: float | None) -> str:
    """``4 s``, ``1.5 s``."""
    if value is None:
        return ""
    return f"{round(value, 1):g} s"


class Pages:
    """The template environment; ``render`` gives an HTML response."""

    def __init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(filesize=filesize, when=when, day=day, iso=iso, time_left=time_left,
                                seconds=seconds)
        self.env.globals["static"] = self.static_url
        # A content hash in each static URL lets browsers keep the files for a long time and still get a new
        # stylesheet the moment it changes.
        self._versions = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
                          for path in STATIC.iterdir() if path.is_file()}

    def static_url(self, name: str) -> str:
        """The URL of a shipped static file, with its version."""
        return f"/static/{name}?v={self._versions[name]}"

    def html(self, template: str, **context: Any) -> str:
        """The page ``template`` rendered with ``context``."""
        return self.env.get_template(template).render(**context)

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """The page ``template`` as a response."""
        return HTMLResponse(self.html(template, **context), status_code=status)
