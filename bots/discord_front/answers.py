"""Answering a Discord message in its channel (``bots.inbound.Answer``); interactions have ``Responder``."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bots.discord_front.outbound import Outbox
from core.messages import Reply


class ChannelAnswer:
    """Answers in the message's channel, quoting it in a server (answers there never ping anyone)."""

    def __init__(self, outbox: Outbox, channel: discord.abc.Messageable, *, upload_limit: int,
                 reference: discord.MessageReference | None, backoff_s: float) -> None:
        self.outbox = outbox
        self.channel = channel
        self.upload_limit = upload_limit
        self.reference = reference
        self.backoff_s = backoff_s

    async def send(self, replies: Sequence[Reply]) -> list[str | None]:
        """Send each reply; its first message is the one a job's status edits."""
        shown: list[str | None] = []
        for reply in replies:
            sent = await self.outbox.send(self.channel, reply, upload_limit=self.upload_limit,
                                          reference=self.reference, backoff_s=self.backoff_s)
            shown.append(str(sent[0].id) if sent else None)
        return shown

    async def refuse(self, text: str) -> None:
        """A refusal in the channel, where the message was sent."""
        await self.send([Reply(text=text, error=True)])

    async def acknowledge(self) -> None:
        """Nothing to do: a message needs no acknowledgement."""
