"""Every refusal and failure is a short page in the site's style that says what to do next; only ``/health``
answers JSON.

Routes raise ``PageError`` with one of the messages below; unknown addresses, wrong methods and bad parameters
come through Starlette's own exceptions; anything unexpected is caught by ``CatchErrors``, logged (with the
token cut out of the address) and answered with the "something went wrong" page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.web.logs import redact
from bots.web.pages import Pages
from storage.blobs import BlobNotFound, BlobStoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """A page that explains a refusal: its status, headline and what to do."""

    status: int
    title: str
    text: str


class PageError(Exception):
    """Stop handling the request and answer with ``notice``'s page."""

    def __init__(self, notice: Notice) -> None:
        super().__init__(notice.title)
        self.notice = notice


ANOTHER_LINK = "Send /web in the chat for a new link to your gallery."
NOT_FOUND = Notice(404, "Nothing here",
                   "This address leads nowhere: check that the link was copied whole. " + ANOTHER_LINK)
WRONG_METHOD = Notice(405, "That does not work here", "Open this address in a browser as it is. " + ANOTHER_LINK)
BAD_REQUEST = Notice(400, "This address has a mistake in it",
                     "Open the link exactly as the bot sent it. " + ANOTHER_LINK)
SERVER_ERROR = Notice(500, "Something went wrong on our side",
                      "It was not something you did. Try again in a minute; if it keeps happening, send /web in "
                      "the chat for a fresh link.")

# What a chat app's link-preview fetcher gets instead of a private page.
PRIVATE = Notice(200, "A private page", "Open this link in your browser to see it.")

# Export packages (/x/...).
EXPIRED = Notice(410, "This download has expired",
                 "Export packages are kept for a limited time. Send /export again in the chat for a new one.")
REVOKED = Notice(403, "This download link was revoked",
                 "Its owner cancelled every link sent so far (/web revoke). Send /export again in the chat for a "
                 "new one.")
UNKNOWN = Notice(404, "No such download",
                 "This link is not valid: check that it was copied whole, or ask the bot for a new one with "
                 "/export.")
BROKEN = Notice(500, "This package cannot be opened",
                "Its files are damaged on our side. Send /export again in the chat to make it anew.")
NO_FILE = Notice(404, "No such file in this package",
                 "Go back to the package page and choose a file there.")

# Gallery and single-file links (/u/..., /a/...).
LINK_EXPIRED = Notice(410, "This link has expired",
                      "Gallery links work for a day, single-file links for a week. " + ANOTHER_LINK)
LINK_REVOKED = Notice(403, "This link was revoked",
                      "Its owner cancelled every link sent so far (/web revoke). " + ANOTHER_LINK)
LINK_INVALID = Notice(403, "This link is not valid",
                      "Check that it was copied whole. " + ANOTHER_LINK)
SINGLE_FILE = Notice(403, "This link opens one file only",
                     "It was sent for one large result and opens nothing else. " + ANOTHER_LINK)
# The blob store behind every file.
STORE_UNAVAILABLE = Notice(503, "Downloads are briefly unavailable",
                           "The file store cannot be reached right now. Your files are kept: try again in a few "
                           "minutes.")
FILE_MISSING = Notice(404, "This file is missing",
                      "The link is fine, but the file is no longer in storage. Ask the bot for the result again, "
                      "or make it anew.")
ITEM_GONE = Notice(404, "This file is no longer here",
                   "It was deleted, or it is not among yours. Go back to your gallery and choose another.")


def notice_page(pages: Pages, notice: Notice) -> HTMLResponse:
    """The page for ``notice``."""
    return pages.render("message.html", status=notice.status, notice=notice)


def _for_status(status: int) -> Notice:
    if status == 404:
        return NOT_FOUND
    if status == 405:
        return WRONG_METHOD
    if status >= 500:
        return SERVER_ERROR
    return BAD_REQUEST


def install_error_pages(app: FastAPI, pages: Pages) -> None:
    """Answer ``PageError``, HTTP errors and invalid parameters with pages."""

    async def page_error(_request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, PageError)
        return notice_page(pages, exc.notice)

    async def http_error(_request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, StarletteHTTPException)
        notice = _for_status(exc.status_code)
        response = notice_page(pages, Notice(exc.status_code, notice.title, notice.text))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def invalid(_request: Request, _exc: Exception) -> HTMLResponse:
        return notice_page(pages, BAD_REQUEST)

    async def store_down(_request: Request, exc: Exception) -> HTMLResponse:
        log.warning("blob store unavailable: %s", exc)
        response = notice_page(pages, STORE_UNAVAILABLE)
        response.headers["Retry-After"] = "60"
        return response

    async def file_missing(_request: Request, _exc: Exception) -> HTMLResponse:
        return notice_page(pages, FILE_MISSING)

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(BlobStoreUnavailable, store_down)
    app.add_exception_handler(BlobNotFound, file_missing)


class CatchErrors:
    """ASGI middleware: an exception no route handled becomes the "something went wrong" page (status 500).

    It sits inside the security headers, so the error page carries them too; the traceback goes to the log
    with the address's token cut out.
    """

    def __init__(self, app: ASGIApp, *, pages: Pages) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("error answering %s %s", scope.get("method", ""), redact(scope.get("path", "")))
            if started:
                raise  # half a response went out already: the server closes the connection
            await notice_page(self.pages, SERVER_ERROR)(scope, receive, send)
