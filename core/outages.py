"""Telling an outage of the queue or the database apart from a job's own failure, and waiting one out.

An outage (Redis or the database unreachable, restarting, or refusing writes for a moment) is nobody's fault
in particular and usually over within seconds: whoever meets one retries with growing pauses for a while and
then leaves the work in a state from which recovery picks it up, rather than failing it as if the job were
wrong or taking the process down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_PAUSE_S = 0.2
MAX_PAUSE_S = 5.0


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says Redis or the database could not be reached (rather than that a request was wrong)."""
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, ReadOnlyError)):
        return True  # ReadOnlyError: a replica that has not been promoted yet, during a failover
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # OperationalError: connection refused or lost, a server shutting down, SQLite's "database is locked".
    return isinstance(exc, (OperationalError, InterfaceError, DisconnectionError))


def through_outage(fn: Callable[[], T], *, within_s: float, what: str, stop: threading.Event | None = None,
                   first_pause_s: float = FIRST_PAUSE_S, max_pause_s: float = MAX_PAUSE_S) -> T:
    """``fn()``, called again after growing pauses while it fails with an outage, for up to ``within_s`` seconds.

    Any other exception is raised at once; when time runs out (or ``stop`` is set) the last outage error is.
    ``what`` names the work in the log.
    """
    deadline = time.monotonic() + within_s
    pause = first_pause_s
    tries = 0
    while True:
        try:
            result = fn()
        except Exception as exc:
            if not is_outage(exc):
                raise
            tries += 1
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                log.warning("%s: still failing after %d tries (%s); giving up", what, tries, exc)
                raise
            if tries == 1:
                log.warning("%s failed (%s); trying again for up to %.0f s", what, exc, within_s)
            wait = min(pause, left)
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
            pause = min(pause * 2, max_pause_s)
            continue
        if tries:
            log.warning("%s went through after %d failed tries", what, tries)
        return result
