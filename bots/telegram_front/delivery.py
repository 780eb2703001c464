"""Job progress and results into Telegram chats: read the delivery stream, edit status messages, send results.

Each chat has its own lane (an in-order task), so a chat under flood control never holds up the others. An
event is acknowledged only after Telegram accepted everything it caused; transient errors are retried in
place until they pass, and a process stopped meanwhile leaves the event pending for the next start.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest, TelegramError

from bots.telegram_front.outbound import ChatPacer, Outbox, RunSync, clip, is_not_modified, keyboard, with_retry
from core.delivery import DeliveryConsumer, DeliveryEvent, superseded
from core.messages import Button
from core.presenter import Presentation, present
from storage.db import Database

log = logging.getLogger(__name__)

PLATFORM = "telegram"
READ_BLOCK_MS = 1000
READ_COUNT = 100
# Edits of a message that vanished or grew too old to edit: send the status as a new message instead.
_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")


@dataclass
class _Lane:
    items: list[tuple[DeliveryEvent, Presentation]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class DeliveryPump:
    """Shows the Telegram stream's events in their chats, one lane per chat, ACKing after Telegram accepted."""

    def __init__(self, *, consumer: DeliveryConsumer, db: Database, outbox: Outbox, pacer: ChatPacer,
                 run_sync: RunSync, block_ms: int = READ_BLOCK_MS) -> None:
        self.consumer = consumer
        self.db = db
        self.outbox = outbox
        self.pacer = pacer
        self.run_sync = run_sync
        self.block_ms = block_ms
        self._lanes: dict[int, _Lane] = {}
        # Events queued in a lane or being shown: a long outage lets the consumer claim one again while it is
        # still being retried here, and it must not be shown twice.
        self._in_flight: set[str] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading in a background task of the running event loop."""
        self._task = asyncio.create_task(self.run(), name="telegram-delivery")

    async def run(self) -> None:
        """Read and route events until ``stop``; a Redis or database hiccup is logged and retried."""
        while not self._stopping:
            try:
                events = await self.run_sync(self.consumer.read, count=READ_COUNT, block_ms=self.block_ms)
                for event in events:
                    await self._route(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the Telegram delivery stream failed; retrying in 1 s")
                await asyncio.sleep(1.0)

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
        chat_id = _chat_id(shown)
        if shown is None or chat_id is None:
            # The job is gone or was not started from Telegram: nothing can ever show this event.
            await self.run_sync(self.consumer.ack, event)
            return
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = _Lane()
            lane.task = asyncio.create_task(self._drive(chat_id, lane), name=f"telegram-lane-{chat_id}")
        lane.items.append((event, shown))
        self._in_flight.add(event.event_id)

    async def _drive(self, chat_id: int, lane: _Lane) -> None:
        try:
            while lane.items:
                batch, lane.items = lane.items, []
                stale = superseded([event for event, _ in batch])
                for event, shown in batch:
                    try:
                        if event.event_id not in stale and not await self._show_safely(chat_id, event, shown):
                            continue  # left pending: the next start re-reads it
                        await self.run_sync(self.consumer.ack, event)
                    finally:
                        self._in_flight.discard(event.event_id)
        finally:
            if self._lanes.get(chat_id) is lane:
                del self._lanes[chat_id]

    async def _show_safely(self, chat_id: int, event: DeliveryEvent, shown: Presentation) -> bool:
        """Whether the event is finished with (shown, or never showable); False leaves it unacknowledged."""
        try:
            await self._show(chat_id, event, shown)
            return True
        except TelegramError as exc:
            # What remains after retries is permanent: the bot was blocked, the chat is gone, a bad request.
            log.warning("dropping event %s of job %s for chat %s: %s", event.event_id, event.job_id, chat_id, exc)
            return True
        except Exception:
            log.exception("showing event %s of job %s failed; it stays pending", event.event_id, event.job_id)
            return False

    async def _show(self, chat_id: int, event: DeliveryEvent, shown: Presentation) -> None:
        message_id = shown.status_message_id
        if message_id is None:
            # The handler may still be attaching the status message it just sent; look once more.
            await asyncio.sleep(0.2)
            again = await self.run_sync(present, self.db, event)
            message_id = again.status_message_id if again is not None else None
        markup = None if event.is_final else keyboard([Button("Cancel", f"cancel:{event.job_id}")])
        if message_id is not None and message_id.isdigit():
            await self.pacer.wait(chat_id, edit=True)
            await with_retry(lambda: self._edit(chat_id, int(message_id), shown.status_text, markup), attempts=None)
        elif event.is_final:
            await self.pacer.wait(chat_id, edit=False)
            await with_retry(lambda: self.outbox.bot.send_message(chat_id, shown.status_text), attempts=None)
        reply_to = _reply_to(shown) if chat_id < 0 else None
        for reply in shown.results:
            for step in await self.outbox.steps(chat_id, reply, reply_to=reply_to):
                await self.pacer.wait(chat_id, edit=False)
                await with_retry(step, attempts=None)

    async def _edit(self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None) -> object:
        try:
            return await self.outbox.bot.edit_message_text(clip(text, 4096), chat_id=chat_id, message_id=message_id,
                                                           reply_markup=markup)
        except BadRequest as exc:
            if is_not_modified(exc):
                return True
            if any(reason in exc.message.lower() for reason in _GONE):
                sent: Message = await self.outbox.bot.send_message(chat_id, clip(text, 4096), reply_markup=markup)
                return sent
            raise


def _chat_id(shown: Presentation | None) -> int | None:
    if shown is None or shown.chat.get("platform") != PLATFORM:
        return None
    try:
        return int(shown.chat["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _reply_to(shown: Presentation) -> int | None:
    value = shown.chat.get("reply_to")
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None
