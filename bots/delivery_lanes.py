"""Reading a front end's delivery stream into one in-order lane per chat; the chat-specific part is ``show``.

Each chat (a Telegram chat, a Discord channel) has its own lane, an asyncio task that shows its events in
order, so a chat under flood control never holds up the others. An event is acknowledged only after the chat
accepted everything it caused; ``show`` retries transient errors in place, and a process stopped meanwhile
leaves the event pending for the next start. What ``show`` still raises afterwards is sorted by
``is_permanent``: permanent failures (the bot was blocked, a bad request) are logged and the event dropped,
anything else leaves it pending.

Delivery heals itself. A Redis or database error in a lane is waited out (``LANE_PATIENCE_S``) and, when it
lasts longer, the lane lets go of that event (it stays pending and is read again) and carries on with the
next; an error while reading makes the consumer re-read its own pending events once the read works again.
A final event is shown once: the job row records that it was (``core.delivery.mark_delivered``), so a copy
read again or published again is acknowledged without being shown, and progress of a job that has ended since
is never shown over its result. Every ``STUDIO_DELIVERY_REDELIVER_INTERVAL_S`` the loop asks
``Recovery.redeliver_lost`` to publish again the final events that never reached a chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.delivery import DeliveryConsumer, DeliveryEvent, mark_delivered, receipt, superseded
from core.jobs import JobService
from core.messages import Media
from core.outages import is_outage
from core.presenter import Presentation, present
from core.recovery import Recovery
from storage.blobs import BlobStore
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
RunSync = Callable[..., Awaitable[Any]]  # runs a blocking call off the event loop
READ_BLOCK_MS = 1000
READ_COUNT = 100
# Pauses after a failed read (Redis or the database away): first and longest.
READ_RETRY_S = (0.5, 5.0)
# How long a lane keeps trying to record an event it has shown (acknowledge it, mark the job delivered)
# before it lets go of the event and carries on; a blip of a few seconds never reaches the log as an error.
LANE_PATIENCE_S = 30.0


def stored_media(blobs: BlobStore, media: Sequence[Media]) -> tuple[list[Media], list[str]]:
    """The media whose files are in the store, and a note for each that is missing (blocking: it asks the
    store). A missing file is logged once by the store and told to the user once, instead of holding up the
    event through retries that cannot bring it back; a store out of reach raises, and the event waits."""
    present: list[Media] = []
    notes: list[str] = []
    for item in media:
        if blobs.stat(item.blob) is not None:
            present.append(item)
            continue
        blobs.missing(item.blob)
        name = f"#{item.asset_id}" if item.asset_id else item.filename
        notes.append(f"{name} could not be sent: its file is missing from storage.")
    return present, notes


@dataclass
class _Lane:
    items: list[tuple[DeliveryEvent, Presentation]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class LanedDelivery:
    """Routes a stream's events into per-chat lanes; subclasses say where an event goes and how it is shown.

    ``jobs`` enables the periodic redelivery sweep (front ends pass their ``JobService``).
    """

    platform = ""

    def __init__(self, *, consumer: DeliveryConsumer, db: Database, run_sync: RunSync,
                 block_ms: int = READ_BLOCK_MS, jobs: JobService | None = None,
                 lane_patience_s: float = LANE_PATIENCE_S) -> None:
        self.consumer = consumer
        self.db = db
        self.run_sync = run_sync
        self.block_ms = block_ms
        self.jobs = jobs
        self.lane_patience_s = lane_patience_s
        self._lanes: dict[int, _Lane] = {}
        # Events a lane holds (still being retried through an outage): taken over again after the consumer's
        # idle time, they must not be queued a second time and shown twice.
        self._in_flight: set[str] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._next_sweep = 0.0

    # ---- what a front end supplies ------------------------------------------------------------------

    def destination(self, shown: Presentation) -> int | None:
        """The chat ``shown`` goes to, or None when the job was not started from this front end."""
        if shown.chat.get("platform") != self.platform:
            return None
        try:
            return int(shown.chat["chat_id"])
        except (KeyError, TypeError, ValueError):
            return None

    async def show(self, chat_id: int, event: DeliveryEvent, shown: Presentation) -> None:
        """Edit the status message and send the results, retrying transient errors."""
        raise NotImplementedError

    def is_permanent(self, exc: Exception) -> bool:
        """Whether a failure left after ``show``'s retries means the event can never be shown."""
        raise NotImplementedError

    # ---- the loop ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading in a background task of the running event loop."""
        self._task = asyncio.create_task(self.run(), name=f"{self.platform}-delivery")

    async def run(self) -> None:
        """Read and route events until ``stop``; a Redis or database outage is waited out and reading resumes
        with this consumer's own pending events, so nothing read before the failure is left behind."""
        pause, longest = READ_RETRY_S
        failures = 0
        while not self._stopping:
            try:
                await self._sweep_if_due()
                events = await self.run_sync(self.consumer.read, count=READ_COUNT, block_ms=self.block_ms)
                for event in events:
                    await self._route(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if is_outage(exc):
                    log.warning("reading the %s delivery stream failed (%s); retrying in %.1f s", self.platform,
                                exc, pause)
                else:
                    log.exception("reading the %s delivery stream failed; retrying in %.1f s", self.platform, pause)
                # Events read but not yet routed are pending under this consumer: read them again first.
                self.consumer.rewind()
                await asyncio.sleep(pause)
                pause = min(pause * 2, longest)
                continue
            if failures:
                log.warning("reading the %s delivery stream works again after %d failures", self.platform, failures)
                failures, pause = 0, READ_RETRY_S[0]

    async def _sweep_if_due(self) -> None:
        if self.jobs is None or time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.jobs.settings.delivery_redeliver_interval_s
        try:
            await self.run_sync(Recovery(self.jobs).redeliver_lost, self.platform)
        except Exception as exc:  # the next sweep tries again; reading must go on meanwhile
            log.warning("looking for undelivered %s results failed: %s", self.platform, exc)

    async def stop(self) -> None:
        """Stop reading and abandon lanes mid-way: their unacknowledged events are re-read on the next start."""
        self._stopping = True
        if self._task is not None:
            # Let the read in flight finish: cancelling the await would not stop the blocked XREADGROUP on its
            # thread, and whatever it fetched would sit unseen in this consumer's pending list.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.block_ms / 1000 + 5)
            except TimeoutError:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()

    @property
    def busy(self) -> bool:
        """Whether any chat still has events queued or being shown."""
        return bool(self._lanes)

    async def idle(self) -> None:
        """Wait until every lane has emptied (tests and shutdown use this)."""
        while self._lanes:
            await asyncio.sleep(0.05)

    async def _route(self, event: DeliveryEvent) -> None:
        if event.event_id in self._in_flight:
            return
        shown = await self.run_sync(present, self.db, event)
        chat_id = self.destination(shown) if shown is not None else None
        if shown is None or chat_id is None:
            # The job is gone or was not started from this front end: nothing can ever show this event.
            await self.run_sync(self.consumer.ack, event)
            return
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = _Lane()
            lane.task = asyncio.create_task(self._drive(chat_id, lane), name=f"{self.platform}-lane-{chat_id}")
        lane.items.append((event, shown))
        self._in_flight.add(event.event_id)

    async def _drive(self, chat_id: int, lane: _Lane) -> None:
        try:
            while lane.items:
                batch, lane.items = lane.items, []
                stale = superseded([event for event, _ in batch])
                for event, shown in batch:
                    try:
                        await self._deliver(chat_id, event, shown, skip=event.event_id in stale)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        # Redis or the database stayed away: let go of the event (it stays pending and is read
                        # again) and go on with the next; this lane is not allowed to die of it.
                        log.warning("delivering event %s of job %s to %s chat %s failed (%s); it stays pending",
                                    event.event_id, event.job_id, self.platform, chat_id, exc,
                                    exc_info=not is_outage(exc))
                        self.consumer.rewind()
                    finally:
                        self._in_flight.discard(event.event_id)
        finally:
            if self._lanes.get(chat_id) is lane:
                del self._lanes[chat_id]

    async def _deliver(self, chat_id: int, event: DeliveryEvent, shown: Presentation, *, skip: bool) -> None:
        """Show one event unless it is stale, then record that it was: the job (final events), then the stream."""
        if not skip:
            now = await self._patiently(receipt, self.db, event.job_id)
            skip = now is None or now.makes_stale(event)
        if not skip and not await self._show_safely(chat_id, event, shown):
            return  # left pending: read again on the next start or taken over after the idle time
        if event.is_final:
            await self._patiently(mark_delivered, self.db, event.job_id)
        await self._patiently(self.consumer.ack, event)

    async def _patiently(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` off the loop, tried again with growing pauses through an outage of up to the lane's
        patience; other errors, and an outage that lasts longer, are raised."""
        deadline = time.monotonic() + self.lane_patience_s
        pause = 0.2
        while True:
            try:
                result: T = await self.run_sync(fn, *args)
                return result
            except Exception as exc:
                if not is_outage(exc) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _show_safely(self, chat_id: int, event: DeliveryEvent, shown: Presentation) -> bool:
        """Whether the event is finished with (shown, or never showable); False leaves it unacknowledged."""
        try:
            await self.show(chat_id, event, shown)
            return True
        except Exception as exc:
            if self.is_permanent(exc):
                log.warning("dropping event %s of job %s for %s chat %s: %s", event.event_id, event.job_id,
                            self.platform, chat_id, exc)
                return True
            log.exception("showing event %s of job %s failed; it stays pending", event.event_id, event.job_id)
            return False
