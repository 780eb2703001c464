"""Job progress and results into Discord channels: read the delivery stream, edit status messages, send results.

Each channel has its own lane (an in-order task), so a channel under a rate limit never holds up the others. An
event is acknowledged only after Discord accepted everything it caused; transient errors (5xx, network) are
retried in place until they pass, and a process stopped meanwhile leaves the event pending for the next start.
A refusal (``Forbidden``: the user closed their DMs or the bot lost access; a bad request) is logged and the
event dropped, since trying again cannot help.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field

import discord

from bots.discord_front.outbound import EditPacer, Outbox, RunSync, buttons_view, clip, reference_to, with_retry
from core.delivery import DeliveryConsumer, DeliveryEvent, superseded
from core.messages import Button
from core.presenter import Presentation, present
from storage.db import Database
from storage.repositories import jobs as job_repo

log = logging.getLogger(__name__)

PLATFORM = "discord"
READ_BLOCK_MS = 1000
READ_COUNT = 100
TEXT_LIMIT = 2000


@dataclass
class _Lane:
    items: list[tuple[DeliveryEvent, Presentation]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class DeliveryPump:
    """Shows the Discord stream's events in their channels, one lane per channel, ACKing after Discord accepted."""

    def __init__(self, *, client: discord.Client, consumer: DeliveryConsumer, db: Database, outbox: Outbox,
                 pacer: EditPacer, run_sync: RunSync, block_ms: int = READ_BLOCK_MS, backoff_s: float = 1.0) -> None:
        self.client = client
        self.consumer = consumer
        self.db = db
        self.outbox = outbox
        self.pacer = pacer
        self.run_sync = run_sync
        self.block_ms = block_ms
        self.backoff_s = backoff_s
        self._lanes: dict[int, _Lane] = {}
        # Events a lane holds (still being retried through an outage): taken over again after the consumer's idle
        # time, they must not be queued a second time and shown twice.
        self._in_flight: set[str] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading in a background task of the running event loop."""
        self._task = asyncio.create_task(self.run(), name="discord-delivery")

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
                log.exception("reading the Discord delivery stream failed; retrying in 1 s")
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

    async def _route(self, event: DeliveryEvent) -> None:
        if event.event_id in self._in_flight:
            return
        shown = await self.run_sync(present, self.db, event)
        channel_id = _channel_id(shown)
        if shown is None or channel_id is None:
            # The job is gone or was not started from Discord: nothing can ever show this event.
            await self.run_sync(self.consumer.ack, event)
            return
        lane = self._lanes.get(channel_id)
        if lane is None:
            lane = self._lanes[channel_id] = _Lane()
            lane.task = asyncio.create_task(self._drive(channel_id, lane), name=f"discord-lane-{channel_id}")
        lane.items.append((event, shown))
        self._in_flight.add(event.event_id)

    async def _drive(self, channel_id: int, lane: _Lane) -> None:
        try:
            while lane.items:
                batch, lane.items = lane.items, []
                stale = superseded([event for event, _ in batch])
                for event, shown in batch:
                    try:
                        if event.event_id not in stale and not await self._show_safely(channel_id, event, shown):
                            continue  # left pending: the next start re-reads it
                        await self.run_sync(self.consumer.ack, event)
                    finally:
                        self._in_flight.discard(event.event_id)
        finally:
            if self._lanes.get(channel_id) is lane:
                del self._lanes[channel_id]

    async def _show_safely(self, channel_id: int, event: DeliveryEvent, shown: Presentation) -> bool:
        """Whether the event is finished with (shown, or never showable); False leaves it unacknowledged."""
        try:
            await self._show(channel_id, event, shown)
            return True
        except discord.HTTPException as exc:
            # What remains after retries is permanent: DMs closed, access lost, a request Discord refuses.
            log.warning("dropping event %s of job %s for channel %s: %s %s", event.event_id, event.job_id,
                        channel_id, exc.status, exc.text)
            return True
        except Exception:
            log.exception("showing event %s of job %s failed; it stays pending", event.event_id, event.job_id)
            return False

    def guild_of(self, channel_id: int) -> discord.Guild | None:
        """The server a channel belongs to; None for a DM."""
        guild = getattr(self.client.get_channel(channel_id), "guild", None)
        return guild if isinstance(guild, discord.Guild) else None

    def upload_limit(self, channel_id: int) -> int:
        """What Discord lets the bot attach in this channel (boosted servers allow more)."""
        guild = self.guild_of(channel_id)
        return guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    async def _show(self, channel_id: int, event: DeliveryEvent, shown: Presentation) -> None:
        channel = self.client.get_partial_messageable(channel_id)
        message_id = shown.status_message_id
        if message_id is None:
            # The handler may still be attaching the status message it just sent; look once more.
            await asyncio.sleep(0.2)
            again = await self.run_sync(present, self.db, event)
            message_id = again.status_message_id if again is not None else None
        buttons = [] if event.is_final else [Button("Cancel", f"cancel:{event.job_id}")]
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
        reference = reference_to(channel_id, _reply_to(shown) or status) if in_guild else None
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


def _channel_id(shown: Presentation | None) -> int | None:
    if shown is None or shown.chat.get("platform") != PLATFORM:
        return None
    try:
        return int(shown.chat["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _reply_to(shown: Presentation) -> int | None:
    value = shown.chat.get("reply_to")
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None
