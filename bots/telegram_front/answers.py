"""Answering a Telegram user (``bots.inbound.Answer``): in the chat a message came from, or to a button press."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import CallbackQuery

from bots.inbound import ChatReplies
from bots.telegram_front.outbound import Outbox, clip, with_retry
from core.messages import Reply

ALERT_LIMIT = 200  # Telegram's limit for answerCallbackQuery text


class ChatAnswer(ChatReplies):
    """Answers in the chat, quoting the message answered where one is given (in groups)."""

    def __init__(self, outbox: Outbox, chat_id: int, *, reply_to: int | None = None) -> None:
        self.outbox = outbox
        self.chat_id = chat_id
        self.reply_to = reply_to

    async def send_one(self, reply: Reply) -> str | None:
        """Send ``reply``; its last message is the one a job's status edits."""
        sent = await self.outbox.send(self.chat_id, reply, reply_to=self.reply_to)
        return str(sent[-1].message_id) if sent else None


class PressAnswer(ChatAnswer):
    """Answers a button press: refusals as an alert to the presser alone, everything else in the chat."""

    def __init__(self, outbox: Outbox, query: CallbackQuery, chat_id: int) -> None:
        super().__init__(outbox, chat_id)
        self.query = query

    async def send(self, replies: Sequence[Reply]) -> list[str | None]:
        """Stop the button's spinner, then send the replies into the chat."""
        await self.acknowledge()
        return await super().send(replies)

    async def refuse(self, text: str) -> None:
        """Someone else's button, or forged/expired data: the presser alone sees it, the chat stays clean."""
        await with_retry(lambda: self.query.answer(clip(text, ALERT_LIMIT), show_alert=True))

    async def acknowledge(self) -> None:
        """Stop the button's spinner."""
        await with_retry(lambda: self.query.answer())
