"""Job progress and results into Telegram chats: edit status messages in place, send results.

The stream reading, per-chat lanes and acknowledgement rules are ``bots.delivery_lanes``'; this module is how
one event looks in a Telegram chat.
"""

from __future__ import annotations

import asyncio

from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest, TelegramError

from bots.delivery_lanes import READ_BLOCK_MS, LanedDelivery
from bots.telegram_front.outbound import ChatPacer, Outbox, RunSync, clip, is_not_modified, keyboard, with_retry
from core.delivery import DeliveryConsumer, DeliveryEvent
from core.jobs import JobService
from core.presenter import Presentation, present
from storage.db import Database

PLATFORM = "telegram"
# Edits of a message that vanished or grew too old to edit: send the status as a new message instead.
_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")


class DeliveryPump(LanedDelivery):
    """Shows the Telegram stream's events in their chats, one lane per chat, ACKing after Telegram accepted."""

    platform = PLATFORM

    def __init__(self, *, consumer: DeliveryConsumer, db: Database, outbox: Outbox, pacer: ChatPacer,
                 run_sync: RunSync, block_ms: int = READ_BLOCK_MS, jobs: JobService | None = None) -> None:
        super().__init__(consumer=consumer, db=db, run_sync=run_sync, block_ms=block_ms, jobs=jobs)
        self.outbox = outbox
        self.pacer = pacer

    def is_permanent(self, exc: Exception) -> bool:
        # What remains after retries is permanent: the bot was blocked, the chat is gone, a bad request.
        return isinstance(exc, TelegramError)

    async def show(self, chat_id: int, event: DeliveryEvent, shown: Presentation) -> None:
        message_id = shown.status_message_id
        if message_id is None:
            # The handler may still be attaching the status message it just sent; look once more.
            await asyncio.sleep(0.2)
            again = await self.run_sync(present, self.db, event)
            message_id = again.status_message_id if again is not None else None
        markup = keyboard(shown.status_buttons)
        if message_id is not None and message_id.isdigit():
            await self.pacer.wait(chat_id, edit=True)
            await with_retry(lambda: self._edit(chat_id, int(message_id), shown.status_text, markup), attempts=None)
        elif event.is_final:
            await self.pacer.wait(chat_id, edit=False)
            await with_retry(lambda: self.outbox.bot.send_message(chat_id, shown.status_text), attempts=None)
        reply_to = shown.reply_to if chat_id < 0 else None
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
