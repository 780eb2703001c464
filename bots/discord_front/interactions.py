"""Answering one interaction (a slash command, a context-menu command or a button press): ``Responder`` is the
``bots.inbound.Answer`` for interactions.

Discord wants an acknowledgement within three seconds, once. The answer is sent directly when it is ready in
time; otherwise the interaction is deferred a little before the deadline and the answer edits the deferred
message or follows it up. Refusals and private things go ephemeral (only the user sees them); a job's status
message never does, because delivery edits it later through the channel, where ephemeral messages cannot be
reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import discord

from bots.discord_front.outbound import Outbox, Part, buttons_view, embed_options
from core.messages import Reply

log = logging.getLogger(__name__)

ACK_BUDGET_S = 2.0


class Responder:
    """Sends the replies to one interaction, deferring it if they take longer than ``budget_s`` to arrive."""

    def __init__(self, interaction: discord.Interaction, *, outbox: Outbox, private: bool,
                 budget_s: float = ACK_BUDGET_S) -> None:
        self.interaction = interaction
        self.outbox = outbox
        # In a server, private answers (persona lists, links, settings) are shown to the user alone; in a DM
        # there is nobody else to hide them from.
        self.private = private and interaction.guild_id is not None
        self.budget_s = budget_s
        self.received = time.monotonic()
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._deferring: asyncio.Task[None] | None = None  # held here: the loop keeps tasks only weakly
        self._deferred_thinking = False  # a "thinking…" message stands waiting for the first answer
        self._original_used = False

    @property
    def component(self) -> bool:
        return self.interaction.type is discord.InteractionType.component

    def start(self) -> None:
        """Arm the deferral: if nothing was sent after ``budget_s``, acknowledge so the interaction stays valid."""
        left = max(0.0, self.budget_s - (time.monotonic() - self.received))
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(left, self._start_deferring)

    def _start_deferring(self) -> None:
        self._deferring = asyncio.get_running_loop().create_task(self._defer())

    async def _defer(self) -> None:
        async with self._lock:
            if self.interaction.response.is_done():
                return
            try:
                if self.component:
                    await self.interaction.response.defer()  # no visible change; answers follow as new messages
                else:
                    await self.interaction.response.defer(thinking=True, ephemeral=self.private)
                    self._deferred_thinking = True
            except Exception:  # nobody awaits this task: whatever happens is logged here
                log.warning("could not defer interaction %s", self.interaction.id, exc_info=True)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def ephemeral_for(self, reply: Reply) -> bool:
        """Whether ``reply`` is shown to the user alone."""
        if reply.job_id:
            return False
        return reply.error or self.private

    async def send(self, replies: Sequence[Reply]) -> list[str | None]:
        """Send every reply; returns the id of each one's first message (None when ephemeral)."""
        shown: list[str | None] = []
        async with self._lock:
            self._stop_timer()
            limit = self.interaction.filesize_limit
            for reply in replies:
                if self.redraws(reply):
                    await self._redraw_pressed(reply)
                    shown.append(None)
                    continue
                ephemeral = self.ephemeral_for(reply)
                first: int | None = None
                for part in await self.outbox.plan(reply, upload_limit=limit):
                    message_id = await self._send_part(part, ephemeral=ephemeral)
                    first = first if first is not None else message_id
                shown.append(None if ephemeral or first is None else str(first))
            if not self.interaction.response.is_done():
                # Nothing to show (an empty answer): still acknowledge, or Discord reports that the app failed.
                await self.interaction.response.send_message("Done.", ephemeral=True)
            await self._finish()
        return shown

    def redraws(self, reply: Reply) -> bool:
        """Whether ``reply`` goes onto the message whose button was pressed rather than into a new message."""
        return (reply.redraws_pressed and bool(reply.buttons) and self.component
                and self.interaction.message is not None and not self.interaction.message.flags.ephemeral)

    async def _redraw_pressed(self, reply: Reply) -> None:
        """The pressed message gets ``reply``'s buttons (a contact sheet shows its picks on the sheet itself, not
        in a new copy of its buttons under it, which left the sheet's ☆ stale); the text goes to the presser."""
        message = self.interaction.message
        assert message is not None  # checked by ``redraws``
        view = buttons_view(reply.buttons)
        response = self.interaction.response
        if not response.is_done():
            await response.edit_message(view=view)  # UPDATE_MESSAGE: acknowledges and redraws in one call
        else:  # deferred meanwhile: the message is edited through the interaction's webhook
            await self.interaction.followup.edit_message(message.id, view=view)
        if reply.text:
            await self.interaction.followup.send(content=reply.text, ephemeral=True, **embed_options(reply.text))

    async def refuse(self, text: str) -> None:
        """Tell the user alone (ephemeral in a server), in one line: a refusal, or that handling failed."""
        await self.send([Reply(text=text, error=True)])

    async def acknowledge(self) -> None:
        """Acknowledge without a visible answer (a button whose press needs no message)."""
        async with self._lock:
            self._stop_timer()
            if not self.interaction.response.is_done():
                await self.interaction.response.defer()
            await self._finish()

    async def _finish(self) -> None:
        if self._deferred_thinking and not self._original_used:
            # Nothing took the "thinking…" message's place (every answer went elsewhere): remove it.
            self._original_used = True
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException:
                log.info("could not remove the deferred answer of interaction %s", self.interaction.id)

    async def _send_part(self, part: Part, *, ephemeral: bool) -> int | None:
        files = await self.outbox.files(part)
        kwargs: dict[str, Any] = {"content": part.content or None, **embed_options(part.content)}
        view = buttons_view(part.buttons)
        response = self.interaction.response
        if not response.is_done():
            if view is not None:
                kwargs["view"] = view
            result = await response.send_message(files=files, ephemeral=ephemeral, **kwargs)
            return result.message_id if result is not None else None
        # An edit cannot turn embeds off, so a message with a private link goes out as a follow-up (the
        # "thinking…" placeholder is then removed by ``_finish``).
        if (self._deferred_thinking and not self._original_used and ephemeral == self.private
                and not kwargs.get("suppress_embeds")):
            self._original_used = True
            edited = await self.interaction.edit_original_response(attachments=files, view=view, **kwargs)
            return edited.id
        if view is not None:
            kwargs["view"] = view
        message = await self.interaction.followup.send(files=files, ephemeral=ephemeral, wait=True, **kwargs)
        return message.id
