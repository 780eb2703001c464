"""The Discord front end (`studio discord`): discord.py events and slash commands around the channel-neutral assistant.

Handlers stay thin: they decide whether an event is for us and hand it to the shared inbound path
(``bots.inbound``), which runs each sender's turns in order in their own lane per channel, fetches the files,
calls the synchronous assistant on a worker thread and sends the replies. Slash commands reach the assistant as
the grammar's typed commands (``Assistant.handle_command``), never as text; buttons carry the assistant's action
strings as ``custom_id`` and are dispatched from ``on_interaction``, so they keep working after a restart. Job
progress and results arrive through ``DeliveryPump``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Sequence
from typing import Any

import discord
import yarl
from discord import app_commands

from bots.discord_front.answers import ChannelAnswer
from bots.discord_front.commands import PUBLIC_COMMANDS, Build, build_tree
from bots.discord_front.delivery import PLATFORM, READ_BLOCK_MS, DeliveryPump
from bots.discord_front.inbound import DiscordFiles, addressed_text, arrival, file_refs
from bots.discord_front.interactions import ACK_BUDGET_S, Responder
from bots.discord_front.outbound import EditPacer, Outbox, reference_to, with_retry
from bots.discord_front.suggestions import suggestions
from bots.inbound import SORRY, Arrival, InboundPath
from bots.sync_bridge import SYNC_THREADS, SyncBridge
from core.app import Studio
from core.delivery import DeliveryConsumer
from core.messages import Incoming
from core.settings import Settings

log = logging.getLogger(__name__)

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
    """Owns the discord.py client, the command tree, the inbound path and the delivery pump."""

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
        self.bridge = SyncBridge(threads=sync_threads, name="discord-sync")
        self.client = StudioClient(self, guild_ready_timeout_s=guild_ready_timeout_s)
        self.tree = build_tree(self.client, self)
        self.tree.error(self._on_tree_error)
        self.outbox = Outbox(settings=self.settings, db=studio.db, blobs=studio.blobs, run_sync=self.bridge.run)
        self.inbound = InboundPath(assistant=studio.assistant, downloader=DiscordFiles(self.settings),
                                   bridge=self.bridge)
        self.delivery: DeliveryPump | None = None
        self.synced: list[app_commands.AppCommand] = []
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
        consumer = await self.bridge.run(DeliveryConsumer, self.studio.redis, platform=PLATFORM,
                                         consumer=f"discord-{user.id}")
        self.delivery = DeliveryPump(client=self.client, consumer=consumer, db=self.studio.db, outbox=self.outbox,
                                     pacer=self.pacer, run_sync=self.bridge.run, backoff_s=self.retry_backoff_s,
                                     block_ms=self.delivery_block_ms, jobs=self.studio.jobs)
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
        await self.inbound.drain()
        await self.client.close()

    def close(self) -> None:
        """Release the worker threads."""
        self.bridge.close()

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
        guild = message.guild
        answer = ChannelAnswer(self.outbox, message.channel, backoff_s=self.retry_backoff_s,
                               upload_limit=guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_BYTES,
                               reference=reference_to(message.channel.id, message.id) if guild is not None else None)

        async def read() -> Arrival[discord.Attachment]:
            return arrival(message, text, bot_id=self.bot_id)

        self.inbound.message((message.channel.id, message.author.id),
                             f"message {message.id} (channel {message.channel.id}, user {message.author.id})",
                             answer, read)

    def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button presses; slash commands and autocomplete go through the command tree."""
        if interaction.type is not discord.InteractionType.component:
            return
        message = interaction.message
        responder = Responder(interaction, outbox=self.outbox, budget_s=self.ack_budget_s,
                              private=message is not None and message.flags.ephemeral)
        responder.start()
        incoming = _incoming(interaction, message_id=str(message.id) if message is not None else None,
                             private=interaction.guild_id is None)
        self.inbound.press(*_turn("button press", interaction), responder, incoming,
                           str(dict(interaction.data or {}).get("custom_id", "")))

    async def run_command(self, interaction: discord.Interaction, build: Build, *, name: str,
                          attachments: Sequence[discord.Attachment] = (),
                          reply_to_asset: str | None = None) -> None:
        """Hand a slash or context-menu command to the assistant as the command ``build`` makes (``CommandHost``)."""
        # Files take a while to fetch: show "thinking…" at once rather than after the budget.
        responder = Responder(interaction, outbox=self.outbox, budget_s=0.0 if attachments else self.ack_budget_s,
                              private=name.split()[0] not in PUBLIC_COMMANDS)
        responder.start()
        files, refused = file_refs(list(attachments))
        # Private answers to a slash command are ephemeral in a server: nobody else sees them.
        incoming = _incoming(interaction, reply_to_asset=reply_to_asset,
                             private=interaction.guild_id is None or responder.private)
        await self.inbound.command(*_turn(f"/{name}", interaction), responder, incoming, build, files, refused)

    async def suggest(self, interaction: discord.Interaction, what: str,
                      current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete choices for the user who is typing (``CommandHost``)."""
        pairs = await self.bridge.run(suggestions, self.studio.db, platform=PLATFORM,
                                      platform_user_id=str(interaction.user.id), what=what, current=current)
        return [app_commands.Choice(name=label, value=value) for label, value in pairs]

    async def refuse(self, interaction: discord.Interaction, text: str) -> None:
        """Answer ``text`` to the user alone (``CommandHost``)."""
        await Responder(interaction, outbox=self.outbox, private=True).refuse(text)

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """A command the tree could not run (unknown, or options it could not convert): log and answer in one line."""
        log.error("slash command %s (interaction %s, user %s) failed", getattr(interaction.command, "name", "?"),
                  interaction.id, interaction.user.id, exc_info=error)
        if interaction.type is discord.InteractionType.autocomplete:
            return
        text = ("That command changed since your app loaded it; try again in a moment."
                if isinstance(error, app_commands.CommandNotFound) else SORRY)
        try:
            await self.refuse(interaction, text)
        except discord.HTTPException:
            log.warning("could not tell user %s about the failure", interaction.user.id, exc_info=True)


def _incoming(interaction: discord.Interaction, **fields: Any) -> Incoming:
    """Who acted in ``interaction`` and where, with the other ``Incoming`` fields given."""
    return Incoming(platform=PLATFORM, user_id=str(interaction.user.id), chat_id=str(interaction.channel_id),
                    display_name=interaction.user.display_name, **fields)


def _turn(kind: str, interaction: discord.Interaction) -> tuple[tuple[int, int], str]:
    """The lane of ``interaction`` (its user in its channel) and how the logs name it."""
    return ((interaction.channel_id or 0, interaction.user.id),
            f"{kind} {interaction.id} (channel {interaction.channel_id}, user {interaction.user.id})")


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
