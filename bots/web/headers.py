"""Security and privacy headers on every response.

Links carry their token in the address, so no page may pass its address on (``Referrer-Policy``), be framed by
another site, run scripts other than our own files, or be kept in a shared cache. Files behind a token are
private to the browser that fetched them; the shipped stylesheet and script are versioned and public.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: the pages use one stylesheet and one script file from this server.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "img-src 'self'",
    "media-src 'self'",
    "style-src 'self'",
    "script-src 'self'",
    "connect-src 'none'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "X-Robots-Tag": "noindex, nofollow",
}
NO_STORE = "private, no-store"
STATIC_CACHE = "public, max-age=31536000, immutable"


class SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every response, and ``Cache-Control`` where a route set
    none: ``private, no-store`` (pages, files, errors), a long public cache for ``/static/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    ok = 200 <= int(message["status"]) < 400
                    headers["Cache-Control"] = STATIC_CACHE if static and ok else NO_STORE
            await send(message)

        await self.app(scope, receive, with_headers)
