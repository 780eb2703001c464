"""Answering a Discord message in its channel (``bots.inbound.Answer``); interactions have ``Responder``."""

from __future__ import annotations

import discord

from bots.discord_front.outbound import Outbox
from bots.inbound import ChatReplies
from core.messages import Reply


class ChannelAnswer(ChatReplies):
    """Answers in the message's channel, quoting it in a server (answers there never ping anyone)."""

    def __init__(self, outbox: Outbox, channel: discord.abc.Messageable, *, upload_limit: int,
                 reference: discord.MessageReference | None, backoff_s: float) -> None:
        self.outbox = outbox
        self.channel = channel
        self.upload_limit = upload_limit
        self.reference = reference
        self.backoff_s = backoff_s

    async def send_one(self, reply: Reply) -> str | None:
        """Send ``reply``; its first message is the one a job's status edits."""
        sent = await self.outbox.send(self.channel, reply, upload_limit=self.upload_limit, reference=self.reference,
                                      backoff_s=self.backoff_s)
        return str(sent[0].id) if sent else None
