"""Exceptions that carry a message a user can act on.

StudioError
 ├── UsageError          the command is malformed (bad option, missing argument)
 ├── NotFound            no such persona / asset / job among the user's own
 ├── QuotaExceeded       too many queued or running jobs, or the daily allowance is used
 ├── InvalidUpload       an uploaded file was refused (type, size, pixels, faces ...)
 ├── NotAvailable        the capability is not installed or not enabled on this deployment
 └── Unavailable         a service we depend on (queue, database, store) is unreachable right now
JobCancelled             raised inside a worker when the user cancelled the running job
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class: ``str(error)`` is a one-line answer for the chat."""


class UsageError(StudioError):
    """The command was understood but its arguments are wrong."""


class NotFound(StudioError):
    """The named thing does not exist among the user's own."""


class QuotaExceeded(StudioError):
    """The user has reached a limit; the message says which and when it resets."""


class InvalidUpload(StudioError):
    """An uploaded file was refused before anything else touched it."""


class NotAvailable(StudioError):
    """This deployment cannot do that (yet)."""


class Unavailable(StudioError):
    """Infrastructure is down for a moment: the message says what happened to the user's request."""


class JobCancelled(Exception):
    """The running job was cancelled by its owner; the worker stops at the next progress point."""
