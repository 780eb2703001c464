"""A chat for fault tests: the real delivery lanes, consumer, receipts and redelivery, with a list as the chat.

``RecordingDelivery`` is ``LanedDelivery`` with the smallest possible ``show``: it notes what the chat would
show. Everything that decides whether, when and how often an event is shown is the production code.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bots.delivery_lanes import LanedDelivery
from core import queue
from core.delivery import DeliveryConsumer, DeliveryEvent
from core.jobs import JobService
from core.presenter import Presentation
from core.settings import Settings
from storage.db import Database

PLATFORM = "faults"
CHAT = {"platform": PLATFORM, "chat_id": "1"}


async def _to_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


class RecordingDelivery(LanedDelivery):
    """Delivery into a list: what the chat accepted, in order."""

    platform = PLATFORM

    def __init__(self, *, consumer: DeliveryConsumer, db: Database, jobs: JobService) -> None:
        super().__init__(consumer=consumer, db=db, run_sync=_to_thread, block_ms=200, jobs=jobs)
        self.shown: list[DeliveryEvent] = []

    async def show(self, chat_id: int, event: DeliveryEvent, shown: Presentation) -> None:
        self.shown.append(event)

    def is_permanent(self, exc: Exception) -> bool:
        return False

    def finals(self) -> Counter[str]:
        """How often each job's final event was shown."""
        return Counter(event.job_id for event in list(self.shown) if event.is_final)


@contextmanager
def recording_chat(settings: Settings, db: Database) -> Iterator[RecordingDelivery]:
    """Run a ``RecordingDelivery`` on its own event loop thread (its own Redis connections) until the block ends."""
    redis = queue.connect(settings)
    jobs = JobService(db=db, redis=redis, settings=settings)
    consumer = DeliveryConsumer(redis, platform=PLATFORM, consumer="faults-chat")
    delivery = RecordingDelivery(consumer=consumer, db=db, jobs=jobs)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(delivery.start)
        loop.call_soon(started.set)
        loop.run_forever()

    thread = threading.Thread(target=run, name="faults-chat", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield delivery
    finally:
        asyncio.run_coroutine_threadsafe(delivery.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        redis.close()
