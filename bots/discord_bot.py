"""The Discord front end (`studio discord`): discord.py events and slash commands around the channel-neutral assistant.

Handlers stay thin: they decide whether a message is for us, gather its files, build an ``Incoming`` and hand
it to the assistant on a worker thread (the assistant is synchronous and talks to the database), then send the
replies. Each sender's messages and interactions run in order in their own lane per channel, so a set of photos
and then ``/done`` are seen in that order while other users proceed in parallel. Slash commands are turned into
the same text grammar; buttons carry the assistant's action strings as ``custom_id`` and are dispatched from
``on_interaction``, so they keep working after a restart. Job progress and results arrive through ``DeliveryPump``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import discord
import yarl
from discord import app_commands

from bots.discord_front.commands import PUBLIC_COMMANDS, build_tree
from bots.discord_front.delivery import PLATFORM, READ_BLOCK_MS, DeliveryPump
from bots.discord_front.inbound import (
    FILE_COMMANDS,
    FileRef,
    addressed_text,
    command_name,
    download,
    download_limit,
    file_refs,
    replied_asset,
    replied_files,
    unsupported_answer,
)
from bots.discord_front.interactions import ACK_BUDGET_S, Responder
from bots.discord_front.lanes import Lanes, Work
from bots.discord_front.outbound import EditPacer, Outbox, reference_to, with_retry
from bots.discord_front.suggestions import suggestions
from core.app import Studio
from core.delivery import DeliveryConsumer
from core.errors import InvalidUpload
from core.messages import Incoming, Reply, Upload
from core.settings import Settings

log = logging.getLogger(__name__)

SYNC_THREADS = 8
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
SHUTDOWN_GRACE_S = 5.0
DEFAULT_UPLOAD_BYTES = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES  # DMs and servers without boosts
# After READY, discord.py waits this long for more servers to arrive before it calls the client ready.
GUILD_READY_TIMEOUT_S = 2.0


def intents() -> discord.Intents:
    """Server and DM messages with their text (the privileged message-content intent), nothing else."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


def use_endpoints(settings: Settings) -> None:
    """Point discord.py at ``STUDIO_DISCORD_BASE_URL`` / ``STUDIO_DISCORD_GATEWAY_URL`` when they are set.

    Both are class attributes in discord.py, so this holds for every client in the process.
    """
    if settings.discord_base_url:
        discord.http.Route.BASE = settings.discord_base_url.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class StudioClient(discord.Client):
    """The discord.py client; every event goes to the ``DiscordFrontend`` that owns it."""

    def __init__(self, frontend: DiscordFrontend, *, guild_ready_timeout_s: float = GUILD_READY_TIMEOUT_S) -> None:
        # Prompts are echoed back into channels: they must never ping @everyone or anyone else.
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(),
                         guild_ready_timeout=guild_ready_timeout_s)
        self.frontend = frontend

    async def setup_hook(self) -> None:
        await self.frontend.setup()

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%s), %d server(s)", self.user, getattr(self.user, "id", None),
                 len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        self.frontend.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.frontend.on_interaction(interaction)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        # Only reached by failures outside the guarded handlers (those answer the user themselves).
        log.exception("Discord event %s failed", event_method)


class DiscordFrontend:
    """Owns the discord.py client, the command tree, the per-user lanes and the delivery pump."""

    def __init__(self, studio: Studio, *, ack_budget_s: float = ACK_BUDGET_S, pacer: EditPacer | None = None,
                 sync_threads: int = SYNC_THREADS, retry_backoff_s: float = 1.0,
                 guild_ready_timeout_s: float = GUILD_READY_TIMEOUT_S, delivery_block_ms: int = READ_BLOCK_MS) -> None:
        if not studio.settings.discord_token:
            raise ValueError("settings.discord_token is empty; set STUDIO_DISCORD_TOKEN")
        use_endpoints(studio.settings)
        self.studio = studio
        self.settings = studio.settings
        self.ack_budget_s = ack_budget_s
        self.pacer = pacer or EditPacer()
        self.retry_backoff_s = retry_backoff_s
        self.delivery_block_ms = delivery_block_ms
        self.executor = ThreadPoolExecutor(sync_threads, thread_name_prefix="discord-sync")
        self.client = StudioClient(self, guild_ready_timeout_s=guild_ready_timeout_s)
        self.tree = build_tree(self.client, self)
        self.tree.error(self._on_tree_error)
        self.outbox = Outbox(settings=self.settings, db=studio.db, blobs=studio.blobs, run_sync=self.run_sync)
        self.delivery: DeliveryPump | None = None
        self.synced: list[app_commands.AppCommand] = []
        self.lanes = Lanes()
        self._delivery_start: asyncio.Task[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------------

    async def setup(self) -> None:
        """After login, before the gateway connects: sync the commands, then start delivery once ready."""
        await self._sync_commands()
        self._delivery_start = asyncio.create_task(self._start_delivery(), name="discord-delivery-start")

    async def _sync_commands(self) -> None:
        guild_id = self.settings.discord_guild_id
        try:
            if guild_id:
                # One server: the commands appear there at once (global ones can take a while to show).
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                self.synced = await with_retry(functools.partial(self.tree.sync, guild=guild), attempts=3)
            else:
                self.synced = await with_retry(self.tree.sync, attempts=3)
            log.info("synced %d slash commands %s", len(self.synced),
                     f"to server {guild_id}" if guild_id else "globally")
        except discord.Forbidden:
            log.error("Discord refused the command sync for server %s: invite the bot with the "
                      "applications.commands scope; the commands registered before stay", guild_id)
        except discord.HTTPException:
            log.exception("syncing the slash commands failed; the ones registered before stay")

    async def _start_delivery(self) -> None:
        await self.client.wait_until_ready()  # server channels known: uploads sized and replies threaded right
        user = self.client.user
        assert user is not None  # set by login
        consumer = await self.run_sync(DeliveryConsumer, self.studio.redis, platform=PLATFORM,
                                       consumer=f"discord-{user.id}")
        self.delivery = DeliveryPump(client=self.client, consumer=consumer, db=self.studio.db, outbox=self.outbox,
                                     pacer=self.pacer, run_sync=self.run_sync, backoff_s=self.retry_backoff_s,
                                     block_ms=self.delivery_block_ms)
        self.delivery.start()

    async def run(self) -> None:
        """Log in, sync, connect and handle events until ``stop`` (reconnecting after network failures)."""
        async with self.client:
            await self.client.start(self.settings.discord_token or "")

    async def stop(self) -> None:
        """Stop delivery, give handlers in flight a moment to answer, then disconnect."""
        if self._delivery_start is not None and not self._delivery_start.done():
            self._delivery_start.cancel()  # stopped before the gateway was ready: nothing was read yet
            await asyncio.gather(self._delivery_start, return_exceptions=True)
        if self.delivery is not None:
            await self.delivery.stop()
        await self.lanes.drain(SHUTDOWN_GRACE_S)
        await self.client.close()

    def close(self) -> None:
        """Release the worker threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a worker thread, so the event loop never waits on the database or Redis."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    @property
    def bot_id(self) -> int:
        user = self.client.user
        assert user is not None  # events arrive only after login
        return user.id

    # ---- events -----------------------------------------------------------------------------------

    def on_message(self, message: discord.Message) -> None:
        """Queue a message for its sender's lane when it is for us (servers: mentions and replies to us)."""
        if message.author.bot or message.webhook_id is not None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return  # joins, pins, boosts: not conversation turns
        text = addressed_text(message, bot_id=self.bot_id)
        if text is None:
            return
        reference = reference_to(message.channel.id, message.id) if message.guild is not None else None

        async def sorry() -> None:
            await self._send(message.channel, [Reply(text=SORRY, error=True)], reference=reference, upload_limit=0)

        what = f"message {message.id} (channel {message.channel.id}, user {message.author.id})"
        self.lanes.submit((message.channel.id, message.author.id),
                          lambda: self._guarded(what, lambda: self._handle_message(message, text), sorry))

    def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button presses; slash commands and autocomplete go through the command tree."""
        if interaction.type is not discord.InteractionType.component:
            return
        message = interaction.message
        responder = Responder(interaction, outbox=self.outbox, budget_s=self.ack_budget_s,
                              private=message is not None and message.flags.ephemeral)
        responder.start()
        what = f"button press {interaction.id} (channel {interaction.channel_id}, user {interaction.user.id})"
        self.lanes.submit((interaction.channel_id or 0, interaction.user.id),
                          lambda: self._guarded(what, lambda: self._handle_press(interaction, responder),
                                                lambda: responder.fail(SORRY)))

    async def run_command(self, interaction: discord.Interaction, text: str, *, name: str,
                          attachments: Sequence[discord.Attachment] = (),
                          reply_to_asset: str | None = None) -> None:
        """Handle a slash or context-menu command as the text it stands for (``CommandHost``)."""
        # Files take a while to fetch: show "thinking…" at once rather than after the budget.
        responder = Responder(interaction, outbox=self.outbox, budget_s=0.0 if attachments else self.ack_budget_s,
                              private=name.split()[0] not in PUBLIC_COMMANDS)
        responder.start()
        what = f"/{name} {interaction.id} (channel {interaction.channel_id}, user {interaction.user.id})"
        await self.lanes.submit(
            (interaction.channel_id or 0, interaction.user.id),
            lambda: self._guarded(what, lambda: self._handle_command(interaction, responder, text, attachments,
                                                                     reply_to_asset), lambda: responder.fail(SORRY)))

    async def suggest(self, interaction: discord.Interaction, what: str,
                      current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete choices for the user who is typing (``CommandHost``)."""
        pairs: list[tuple[str, str]] = await self.run_sync(
            suggestions, self.studio.db, platform=PLATFORM, platform_user_id=str(interaction.user.id), what=what,
            current=current)
        return [app_commands.Choice(name=label, value=value) for label, value in pairs]

    async def refuse(self, interaction: discord.Interaction, text: str) -> None:
        """Answer ``text`` to the user alone (``CommandHost``)."""
        await Responder(interaction, outbox=self.outbox, private=True).send([Reply(text=text, error=True)])

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """A command the tree could not run (unknown, or options it could not convert): log and answer in one line."""
        log.error("slash command %s (interaction %s, user %s) failed", getattr(interaction.command, "name", "?"),
                  interaction.id, interaction.user.id, exc_info=error)
        if interaction.type is discord.InteractionType.autocomplete:
            return
        text = ("That command changed since your app loaded it; try again in a moment."
                if isinstance(error, app_commands.CommandNotFound) else SORRY)
        try:
            await Responder(interaction, outbox=self.outbox, private=True).send([Reply(text=text, error=True)])
        except discord.HTTPException:
            log.warning("could not tell user %s about the failure", interaction.user.id, exc_info=True)

    # ---- the one error handler ---------------------------------------------------------------------

    async def _guarded(self, what: str, work: Work, answer: Work) -> None:
        """Run ``work``; any failure is logged with ``what`` and answered in one line, and the bot goes on."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling %s failed", what)
            try:
                await answer()
            except Exception:
                log.warning("could not tell the user about the failure of %s", what, exc_info=True)

    # ---- handlers ---------------------------------------------------------------------------------

    async def _handle_message(self, message: discord.Message, text: str) -> None:
        channel = message.channel
        in_guild = message.guild is not None
        reference = reference_to(channel.id, message.id) if in_guild else None
        limit = message.guild.filesize_limit if message.guild is not None else DEFAULT_UPLOAD_BYTES
        answer = unsupported_answer(message)
        if answer is not None:
            await self._send(channel, [Reply(text=answer, error=True)], reference=reference, upload_limit=limit)
            return
        refs, refused = file_refs(list(message.attachments))
        reply_asset = replied_asset(message, bot_id=self.bot_id)
        if not refs and not refused and reply_asset is None and command_name(text) in FILE_COMMANDS:
            # "/animate" as a reply to a photo someone sent: the command works on that photo.
            refs, refused = file_refs(replied_files(message, bot_id=self.bot_id))
        uploads, too_big = await self._downloads(refs)
        refused += too_big
        if refused:
            await self._send(channel, [Reply(text="\n".join(refused), error=True)], reference=reference,
                             upload_limit=limit)
            if not uploads:
                return
        if not text and not uploads:
            return  # an embed or a sticker-less empty message: nothing to answer
        incoming = Incoming(
            platform=PLATFORM,
            user_id=str(message.author.id),
            chat_id=str(channel.id),
            text=text,
            display_name=message.author.display_name,
            uploads=tuple(uploads),
            reply_to_asset=reply_asset,
            message_id=str(message.id),
            private=not in_guild,
        )
        replies: list[Reply] = await self.run_sync(self.studio.assistant.handle, incoming)
        await self._send(channel, replies, reference=reference, upload_limit=limit)

    async def _handle_press(self, interaction: discord.Interaction, responder: Responder) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        incoming = Incoming(
            platform=PLATFORM,
            user_id=str(interaction.user.id),
            chat_id=str(interaction.channel_id),
            display_name=interaction.user.display_name,
            message_id=str(interaction.message.id) if interaction.message is not None else None,
            private=interaction.guild_id is None,
        )
        replies: list[Reply] = await self.run_sync(self.studio.assistant.press, incoming, custom_id)
        if replies and all(reply.error for reply in replies):
            # Someone else's button, or forged/expired data: tell only the presser, keep the channel clean.
            await responder.send([Reply(text=" ".join(reply.text for reply in replies), error=True)])
            return
        if not replies:
            await responder.acknowledge()
            return
        await self._attach(await responder.send(replies))

    async def _handle_command(self, interaction: discord.Interaction, responder: Responder, text: str,
                              attachments: Sequence[discord.Attachment], reply_to_asset: str | None) -> None:
        refs, refused = file_refs(list(attachments))
        uploads, too_big = await self._downloads(refs)
        refused += too_big
        if refused:
            await responder.send([Reply(text="\n".join(refused), error=True)])
            return
        incoming = Incoming(
            platform=PLATFORM,
            user_id=str(interaction.user.id),
            chat_id=str(interaction.channel_id),
            text=text,
            display_name=interaction.user.display_name,
            uploads=tuple(uploads),
            reply_to_asset=reply_to_asset,
            # Private answers to a slash command are ephemeral in a server: nobody else sees them.
            private=interaction.guild_id is None or responder.private,
        )
        replies: list[Reply] = await self.run_sync(self.studio.assistant.handle, incoming)
        await self._attach(await responder.send(replies))

    async def _downloads(self, refs: list[FileRef]) -> tuple[list[Upload], list[str]]:
        limit = download_limit(self.settings)
        uploads: list[Upload] = []
        refused: list[str] = []
        for ref in refs:
            try:
                uploads.append(await with_retry(functools.partial(download, ref, limit=limit)))
            except InvalidUpload as exc:
                refused.append(str(exc))
        return uploads, refused

    async def _send(self, channel: discord.abc.Messageable, replies: list[Reply], *,
                    reference: discord.MessageReference | None, upload_limit: int) -> None:
        for reply in replies:
            sent = await self.outbox.send(channel, reply, upload_limit=upload_limit, reference=reference,
                                          backoff_s=self.retry_backoff_s)
            if reply.job_id and sent:
                await self.run_sync(self.studio.assistant.attach_status_message, reply.job_id, str(sent[0].id))

    async def _attach(self, sent: list[tuple[Reply, int | None]]) -> None:
        for reply, message_id in sent:
            if reply.job_id and message_id is not None:
                await self.run_sync(self.studio.assistant.attach_status_message, reply.job_id, str(message_id))


async def serve(frontend: DiscordFrontend) -> None:
    """Run ``frontend`` until SIGINT, SIGTERM or SIGHUP, then shut it down cleanly."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stopping.set)
    runner = asyncio.create_task(frontend.run(), name="discord-client")
    waiter = asyncio.create_task(stopping.wait(), name="discord-stop-signal")
    try:
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        await frontend.stop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    await runner  # a login failure or a refused intent surfaces here


def run_discord(settings: Settings) -> None:
    """Run the Discord bot until interrupted: the gateway, slash commands, and job delivery alongside."""
    studio = Studio.build(settings)
    frontend = DiscordFrontend(studio)
    try:
        asyncio.run(serve(frontend))
    finally:
        frontend.close()
        studio.close()
