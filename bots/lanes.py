"""Per-sender lanes for every chat front end: one user's messages, commands and button presses in one chat run
in the order they arrived, while different users (and chats) run in parallel.

The place in a lane is taken synchronously when the event arrives, so a set of photos followed at once by
``/done`` is always seen in that order, however the event loop schedules the work afterwards.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

Work = Callable[[], Awaitable[None]]


class Lanes:
    """Runs submitted work one at a time per key, in submission order."""

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[tuple[Work, asyncio.Future[None]]]] = {}
        self._runners: dict[Hashable, asyncio.Task[None]] = {}

    def submit(self, key: Hashable, work: Work) -> asyncio.Future[None]:
        """Queue ``work`` behind the work already queued for ``key``; the future resolves when it has run."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append((work, done))
        if key not in self._runners:
            self._runners[key] = asyncio.create_task(self._run(key), name=f"lane-{key}")
        return done

    async def _run(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                work, done = queue.popleft()
                try:
                    await work()
                except asyncio.CancelledError:
                    done.cancel()
                    raise
                except Exception as exc:  # the caller's future carries it; the lane goes on
                    if not done.done():
                        done.set_exception(exc)
                else:
                    if not done.done():
                        done.set_result(None)
        finally:
            for _work, done in queue:
                done.cancel()
            del self._queues[key]
            del self._runners[key]

    def busy(self) -> int:
        """How many lanes have work queued or running."""
        return len(self._runners)

    async def drain(self, timeout: float) -> None:
        """Let the work in flight finish for up to ``timeout`` seconds, then cancel what is left."""
        runners = list(self._runners.values())
        if not runners:
            return
        _done, late = await asyncio.wait(runners, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
