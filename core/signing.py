"""Signed, expiring tokens for download links (HMAC-SHA256 over the payload with STUDIO_SECRET_KEY)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class BadToken(ValueError):
    """The token was altered, belongs to something else, or has expired."""


class ExpiredToken(BadToken):
    """The token is genuine but its time is over (pages tell this apart from a forged link)."""


def sign(secret: str, payload: str, *, ttl_s: int, now: float | None = None) -> str:
    """A URL-safe token carrying ``payload`` until ``ttl_s`` seconds from now."""
    expires = int((now or time.time()) + ttl_s)
    body = f"{payload}|{expires}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=") + "." + \
        base64.urlsafe_b64encode(mac).decode().rstrip("=")


def verify(secret: str, token: str, *, now: float | None = None) -> str:
    """The payload of a valid, unexpired token; raises ``BadToken`` otherwise."""
    try:
        body_b64, mac_b64 = token.split(".", 1)
        body = base64.urlsafe_b64decode(body_b64 + "=" * (-len(body_b64) % 4)).decode()
        mac = base64.urlsafe_b64decode(mac_b64 + "=" * (-len(mac_b64) % 4))
        payload, expires = body.rsplit("|", 1)
    except (ValueError, UnicodeDecodeError):
        raise BadToken("malformed link") from None
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:18]
    if not hmac.compare_digest(mac, expected):
        raise BadToken("this link is not valid")
    if int(expires) < (now or time.time()):
        raise ExpiredToken("this link has expired; ask the bot for a new one with /web")
    return payload
