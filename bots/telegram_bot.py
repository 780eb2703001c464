"""The Telegram front end (`studio telegram`): python-telegram-bot handlers around the channel-neutral assistant.

Handlers stay thin: they decide whether a message is for us, gather its files, build an ``Incoming`` and hand
it to the assistant on a worker thread (the assistant is synchronous and talks to the database), then send the
replies. Each sender's messages run in order in their own lane, so an album, then ``/done``, is seen in that
order while other users proceed in parallel. Job progress and results arrive through ``DeliveryPump``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from telegram import BotCommand, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bots.telegram_front.delivery import PLATFORM, DeliveryPump
from bots.telegram_front.inbound import (
    ALBUM_QUIET_S,
    AlbumCollector,
    FileRef,
    addressed_text,
    download,
    download_limit,
    file_ref,
    replied_asset,
    replied_file,
    unsupported_answer,
)
from bots.telegram_front.outbound import ChatPacer, Outbox, clip, with_retry
from core import help
from core.app import Studio
from core.delivery import DeliveryConsumer
from core.errors import InvalidUpload
from core.messages import Incoming, Reply, Upload
from core.settings import Settings

log = logging.getLogger(__name__)

SYNC_THREADS = 8
ALERT_LIMIT = 200  # Telegram's limit for answerCallbackQuery text
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
# Commands that work on a photo or video: sent as a reply to a file, they take that file as their input.
FILE_COMMANDS = ("animate", "swap")
TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class TelegramFrontend:
    """Owns the PTB application, the per-user lanes, the album collector and the delivery pump."""

    def __init__(self, studio: Studio, *, album_quiet_s: float = ALBUM_QUIET_S, pacer: ChatPacer | None = None,
                 sync_threads: int = SYNC_THREADS) -> None:
        if not studio.settings.telegram_token:
            raise ValueError("settings.telegram_token is empty; set STUDIO_TELEGRAM_TOKEN")
        self.studio = studio
        self.settings = studio.settings
        self.albums = AlbumCollector(quiet_s=album_quiet_s)
        self.pacer = pacer or ChatPacer()
        self.executor = ThreadPoolExecutor(sync_threads, thread_name_prefix="telegram-sync")
        self.application = self._build()
        self.outbox = Outbox(self.application.bot, settings=self.settings, db=studio.db, blobs=studio.blobs,
                             run_sync=self.run_sync)
        self.delivery: DeliveryPump | None = None
        self._lanes: dict[tuple[int, int], tuple[asyncio.Lock, int]] = {}

    # ---- application ------------------------------------------------------------------------------

    def _build(self) -> TelegramApp:
        builder = ApplicationBuilder().token(self.settings.telegram_token or "")
        if self.settings.telegram_base_url:
            builder = builder.base_url(self.settings.telegram_base_url)
        if self.settings.telegram_base_file_url:
            builder = builder.base_file_url(self.settings.telegram_base_file_url)
        builder = (builder.local_mode(self.settings.telegram_local_api)
                   .post_init(self._post_init).post_stop(self._post_stop))
        app = builder.build()
        app.add_handler(CallbackQueryHandler(self.on_button))
        # New messages only: edits and channel posts are not conversation turns.
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self.on_message))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: TelegramApp) -> None:
        await with_retry(lambda: app.bot.set_my_commands([BotCommand(name, desc) for name, desc in help.menu()]))
        consumer = await self.run_sync(DeliveryConsumer, self.studio.redis, platform=PLATFORM,
                                       consumer=f"telegram-{app.bot.id}")
        self.delivery = DeliveryPump(consumer=consumer, db=self.studio.db, outbox=self.outbox, pacer=self.pacer,
                                     run_sync=self.run_sync)
        # A plain task, not app.create_task: Application.stop() waits for those, and this one never ends.
        self.delivery.start()

    async def _post_stop(self, app: TelegramApp) -> None:
        if self.delivery is not None:
            await self.delivery.stop()

    def run_polling(self, **kwargs: Any) -> None:
        """Poll Telegram until stopped (Ctrl-C, SIGTERM, or ``application.stop_running()``)."""
        self.application.run_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY], **kwargs)

    def close(self) -> None:
        """Release the worker threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a worker thread, so the event loop never waits on the database or Redis."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    # ---- handlers ---------------------------------------------------------------------------------

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Queue a message for its sender's lane when it is for us (groups: commands, replies, mentions)."""
        message, user = update.message, update.effective_user
        if message is None or user is None or user.is_bot:
            return
        if message.media_group_id and self.albums.collecting(message):
            self.albums.add(message)  # later parts of an album join the first; its lane handles them all
            return
        text = addressed_text(message, bot_username=context.bot.username, bot_id=context.bot.id)
        if text is None:
            return
        if message.media_group_id:
            self.albums.add(message)
        key = (message.chat.id, user.id)
        context.application.create_task(self._in_lane(key, lambda: self._handle_message(message, text)),
                                        update=update)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand a button press to the assistant; refusals (not yours, expired) answer the presser alone."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        chat_id = query.message.chat.id if query.message is not None else user.id
        context.application.create_task(
            self._in_lane((chat_id, user.id), lambda: self._handle_press(update, chat_id)), update=update
        )

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure with the update it came from and answer the user in one line; the bot keeps going."""
        chat = update.effective_chat if isinstance(update, Update) else None
        user = update.effective_user if isinstance(update, Update) else None
        log.error("handling update %s (chat %s, user %s) failed",
                  getattr(update, "update_id", None), chat.id if chat else None, user.id if user else None,
                  exc_info=context.error)
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(SORRY, show_alert=True)
            elif chat is not None:
                await context.bot.send_message(chat.id, SORRY)
        except TelegramError:
            log.warning("could not tell chat %s about the failure", chat.id if chat else None, exc_info=True)

    # ---- lanes ------------------------------------------------------------------------------------

    async def _in_lane(self, key: tuple[int, int], work: Callable[[], Awaitable[None]]) -> None:
        # Tasks are created in update order and queue on the lock in that order (asyncio.Lock is FIFO).
        lock, users = self._lanes.get(key, (asyncio.Lock(), 0))
        self._lanes[key] = (lock, users + 1)
        try:
            async with lock:
                await work()
        finally:
            lock, users = self._lanes[key]
            if users <= 1:
                del self._lanes[key]
            else:
                self._lanes[key] = (lock, users - 1)

    async def _handle_message(self, message: Message, text: str) -> None:
        parts = [message]
        if message.media_group_id:
            parts = await self.albums.collect(self.albums.key(message))
            text = text or next((p.caption for p in parts if p.caption), "")
        chat_id = message.chat.id
        reply_to = message.message_id if chat_id < 0 else None
        answer = unsupported_answer(message)
        if answer is not None:
            await self.outbox.send(chat_id, Reply(text=answer, error=True), reply_to=reply_to)
            return
        reply_asset = replied_asset(message, bot_id=self.application.bot.id)
        refs = [ref for part in parts if (ref := file_ref(part)) is not None]
        if not refs and reply_asset is None and _command_name(text) in FILE_COMMANDS:
            # "/animate" as a reply to a photo someone sent: the command works on that photo.
            replied = replied_file(message, bot_id=self.application.bot.id)
            refs = [replied] if replied is not None else []
        uploads, refused = await self._downloads(refs)
        if refused:
            await self.outbox.send(chat_id, Reply(text="\n".join(refused), error=True), reply_to=reply_to)
            if not uploads:
                return
        if not text and not uploads:
            return  # a service message (pinned, joined ...): nothing to answer
        user = message.from_user
        assert user is not None  # on_message only queues messages with a sender
        incoming = Incoming(
            platform=PLATFORM,
            user_id=str(user.id),
            chat_id=str(chat_id),
            text=text,
            display_name=user.full_name,
            uploads=tuple(uploads),
            reply_to_asset=reply_asset,
            message_id=str(message.message_id),
            private=message.chat.type == "private",
        )
        replies: list[Reply] = await self.run_sync(self.studio.assistant.handle, incoming)
        await self._send_replies(chat_id, replies, reply_to=reply_to)

    async def _downloads(self, refs: list[FileRef]) -> tuple[list[Upload], list[str]]:
        limit = download_limit(self.settings)
        uploads: list[Upload] = []
        refused: list[str] = []
        for ref in refs:
            try:
                uploads.append(await with_retry(functools.partial(
                    download, self.application.bot, ref, limit=limit, local_api=self.settings.telegram_local_api
                )))
            except InvalidUpload as exc:
                refused.append(str(exc))
        return uploads, refused

    async def _handle_press(self, update: Update, chat_id: int) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and user is not None  # on_button only queues presses with both
        incoming = Incoming(
            platform=PLATFORM,
            user_id=str(user.id),
            chat_id=str(chat_id),
            display_name=user.full_name,
            message_id=str(query.message.message_id) if query.message is not None else None,
            private=query.message is not None and query.message.chat.type == "private",
        )
        replies: list[Reply] = await self.run_sync(self.studio.assistant.press, incoming, query.data or "")
        if replies and all(reply.error for reply in replies):
            # Someone else's button, or forged/expired data: tell only the presser, keep the chat clean.
            text = " ".join(reply.text for reply in replies)
            await with_retry(lambda: query.answer(clip(text, ALERT_LIMIT), show_alert=True))
            return
        await with_retry(lambda: query.answer())
        await self._send_replies(chat_id, replies, reply_to=None)

    async def _send_replies(self, chat_id: int, replies: list[Reply], *, reply_to: int | None) -> None:
        for reply in replies:
            sent = await self.outbox.send(chat_id, reply, reply_to=reply_to)
            if reply.job_id and sent:
                await self.run_sync(self.studio.assistant.attach_status_message, reply.job_id,
                                    str(sent[-1].message_id))


def _command_name(text: str) -> str | None:
    """"animate" for "/animate@studio_bot #1a2b", None when ``text`` is not a slash command."""
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0][1:].partition("@")[0].lower()


def run_telegram(settings: Settings) -> None:
    """Run the Telegram bot until interrupted: long polling, the command menu, and job delivery alongside."""
    studio = Studio.build(settings)
    frontend = TelegramFrontend(studio)
    try:
        frontend.run_polling()
    finally:
        frontend.close()
        studio.close()
