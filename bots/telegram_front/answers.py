"""Answering a Telegram user (``bots.inbound.Answer``): in the chat a message came from, or to a button press."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import CallbackQuery
from telegram.error import BadRequest

from bots.inbound import ChatReplies
from bots.telegram_front.outbound import Outbox, clip, is_not_modified, keyboard, with_retry
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
        """Stop the button's spinner, then send the replies into the chat; a reply that redraws the pressed
        message (a contact sheet's picks) goes onto that message instead, its words as a toast to the presser."""
        if replies and self._redraws(replies[0]) and await self._redraw(replies[0]):
            return [None, *await super().send(replies[1:])]
        await self.acknowledge()
        return await super().send(replies)

    def _redraws(self, reply: Reply) -> bool:
        return reply.redraws_pressed and bool(reply.buttons) and self.query.message is not None

    async def _redraw(self, reply: Reply) -> bool:
        """Put ``reply``'s buttons on the pressed message, its words in the toast; False when that message can no
        longer be edited (deleted, too old), so the reply goes into the chat as a new message instead."""
        # The sheet shows its picks on its own buttons: a new copy of them under it would leave the sheet's ☆ stale.
        try:
            await with_retry(lambda: self.query.edit_message_reply_markup(keyboard(reply.buttons)))
        except BadRequest as exc:
            if not is_not_modified(exc):  # two quick presses that end where they began change nothing
                return False
        await with_retry(lambda: self.query.answer(clip(reply.text, ALERT_LIMIT) or None))
        return True

    async def refuse(self, text: str) -> None:
        """Someone else's button, or forged/expired data: the presser alone sees it, the chat stays clean."""
        await with_retry(lambda: self.query.answer(clip(text, ALERT_LIMIT), show_alert=True))

    async def acknowledge(self) -> None:
        """Stop the button's spinner."""
        await with_retry(lambda: self.query.answer())
