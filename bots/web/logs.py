"""Tokens never reach a log: every link carries its token in the path (``/x/<token>``), and access logs write
paths. ``redact`` cuts tokens out of any text; ``RedactTokens`` applies it to log records, and
``protect_access_log`` puts it on the server's access logger.
"""

from __future__ import annotations

import logging
import re

# The three link prefixes (gallery page, single file, export package) followed by a token.
_TOKEN_IN_PATH = re.compile(r"(/[uax]/)[^/\s?#\"']+")
REDACTED = "…"
ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access")


def redact(text: str) -> str:
    """``text`` with every link token replaced by an ellipsis: ``/x/<token>/zip`` → ``/x/…/zip``."""
    return _TOKEN_IN_PATH.sub(lambda match: match.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message and arguments so that no link token is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(value) if isinstance(value, str) else value
                           for key, value in record.args.items()}
        return True


def protect_access_log() -> None:
    """Put ``RedactTokens`` on the web server's access loggers (once, however often the app is created).

    A logger's filters survive the server's own logging set-up (``dictConfig`` replaces handlers, not filters).
    """
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())
