"""Running the synchronous assistant (database, Redis, blob store) from a front end's event loop.

Every chat front end is asyncio; the assistant and the repositories block. They run on one small thread pool
per process, so the event loop keeps reading updates and sending answers while a database call waits.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Enough for several users' turns at once; each holds at most one database connection while it runs.
SYNC_THREADS = 8


class SyncBridge:
    """Runs blocking calls on a thread pool and awaits their results."""

    def __init__(self, *, threads: int = SYNC_THREADS, name: str = "sync") -> None:
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a worker thread, so the event loop never waits on the database or Redis."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Release the threads; calls not started yet are dropped."""
        self.executor.shutdown(wait=False, cancel_futures=True)
