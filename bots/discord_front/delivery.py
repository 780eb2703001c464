"""Job progress and results into Discord channels: edit status messages in place, send results.

The stream reading, per-channel lanes and acknowledgement rules are ``bots.delivery_lanes``'; this module is how
one event looks in a Discord channel. A refusal left after retries (``Forbidden``: the user closed their DMs or
the bot lost access; a bad request) drops the event, since trying again cannot help.
"""

from __future__ import annotations

import asyncio
import functools

import discord

from bots.delivery_lanes import READ_BLOCK_MS, LanedDelivery
from bots.discord_front.outbound import EditPacer, Outbox, RunSync, buttons_view, clip, reference_to, with_retry
from core.delivery import DeliveryConsumer, DeliveryEvent
from core.jobs import JobService
from core.messages import Button
from core.presenter import Presentation, present
from storage.db import Database
from storage.repositories import jobs as job_repo

PLATFORM = "discord"
TEXT_LIMIT = 2000


class DeliveryPump(LanedDelivery):
    """Shows the Discord stream's events in their channels, one lane per channel, ACKing after Discord accepted."""

    platform = PLATFORM

    def __init__(self, *, client: discord.Client, consumer: DeliveryConsumer, db: Database, outbox: Outbox,
                 pacer: EditPacer, run_sync: RunSync, block_ms: int = READ_BLOCK_MS, backoff_s: float = 1.0,
                 jobs: JobService | None = None) -> None:
        super().__init__(consumer=consumer, db=db, run_sync=run_sync, block_ms=block_ms, jobs=jobs)
        self.client = client
        self.outbox = outbox
        self.pacer = pacer
        self.backoff_s = backoff_s

    def is_permanent(self, exc: Exception) -> bool:
        # What remains after retries is permanent: DMs closed, access lost, a request Discord refuses.
        return isinstance(exc, discord.HTTPException)

    def guild_of(self, channel_id: int) -> discord.Guild | None:
        """The server a channel belongs to; None for a DM."""
        guild = getattr(self.client.get_channel(channel_id), "guild", None)
        return guild if isinstance(guild, discord.Guild) else None

    def upload_limit(self, channel_id: int) -> int:
        """What Discord lets the bot attach in this channel (boosted servers allow more)."""
        guild = self.guild_of(channel_id)
        return guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    async def show(self, channel_id: int, event: DeliveryEvent, shown: Presentation) -> None:
        channel = self.client.get_partial_messageable(channel_id)
        message_id = shown.status_message_id
        if message_id is None:
            # The handler may still be attaching the status message it just sent; look once more.
            await asyncio.sleep(0.2)
            again = await self.run_sync(present, self.db, event)
            message_id = again.status_message_id if again is not None else None
        buttons = shown.status_buttons
        status: int | None = int(message_id) if message_id is not None and message_id.isdigit() else None
        if status is not None:
            await self.pacer.wait(status)
            edit = functools.partial(self._edit, channel, status, shown.status_text, buttons)
            replaced = await with_retry(edit, attempts=None, backoff_s=self.backoff_s)
            if replaced is not None:
                # Later events edit the new message rather than trying the vanished one again.
                status = replaced
                await self.run_sync(_attach, self.db, event.job_id, replaced)
        elif event.is_final:
            sent = await with_retry(lambda: channel.send(clip(shown.status_text, TEXT_LIMIT)), attempts=None,
                                    backoff_s=self.backoff_s)
            status = sent.id
        if not shown.results:
            return
        # In a server, results answer the message that asked for them (or the status line of a slash command).
        in_guild = self.guild_of(channel_id) is not None
        reference = reference_to(channel_id, shown.reply_to or status) if in_guild else None
        limit = self.upload_limit(channel_id)
        for reply in shown.results:
            for part in await self.outbox.plan(reply, upload_limit=limit):
                step = functools.partial(self.outbox.send_part, channel, part, reference=reference)
                await with_retry(step, attempts=None, backoff_s=self.backoff_s)

    async def _edit(self, channel: discord.PartialMessageable, message_id: int, text: str,
                    buttons: list[Button]) -> int | None:
        """Edit the status message; None, or the id of the new message that replaced a vanished one."""
        try:
            await channel.get_partial_message(message_id).edit(content=clip(text, TEXT_LIMIT),
                                                               view=buttons_view(buttons))
            return None
        except discord.NotFound:
            # The status message was deleted (or cannot be reached): show the status as a new message instead.
            view = buttons_view(buttons)
            sent = await (channel.send(clip(text, TEXT_LIMIT), view=view) if view is not None
                          else channel.send(clip(text, TEXT_LIMIT)))
            return sent.id


def _attach(db: Database, job_id: str, message_id: int) -> None:
    with db.session() as session:
        job_repo.update_chat(session, job_id=job_id, status_message_id=str(message_id))
