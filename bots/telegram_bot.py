"""The Telegram front end (`studio telegram`): python-telegram-bot handlers around the channel-neutral assistant.

Handlers stay thin: they decide whether an update is for us and hand it to the shared inbound path
(``bots.inbound``), which runs each sender's turns in order in their own lane, fetches the files, calls the
synchronous assistant on a worker thread and sends the replies. What is Telegram's own is here and in
``telegram_front``: the application, albums (gathered into one message), group-chat manners, the Bot API's
download limit, and answering a button press with an alert. Job progress and results arrive through
``DeliveryPump``.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bots.inbound import SORRY, Arrival, InboundPath
from bots.sync_bridge import SYNC_THREADS, SyncBridge
from bots.telegram_front.answers import ChatAnswer, PressAnswer
from bots.telegram_front.delivery import PLATFORM, DeliveryPump
from bots.telegram_front.inbound import ALBUM_QUIET_S, AlbumCollector, TelegramFiles, addressed_text, arrival
from bots.telegram_front.outbound import ChatPacer, Outbox, with_retry
from core import help
from core.app import Studio
from core.delivery import DeliveryConsumer
from core.messages import Incoming
from core.settings import Settings

log = logging.getLogger(__name__)

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class TelegramFrontend:
    """Owns the PTB application, the inbound path, the album collector and the delivery pump."""

    def __init__(self, studio: Studio, *, album_quiet_s: float = ALBUM_QUIET_S, pacer: ChatPacer | None = None,
                 sync_threads: int = SYNC_THREADS) -> None:
        if not studio.settings.telegram_token:
            raise ValueError("settings.telegram_token is empty; set STUDIO_TELEGRAM_TOKEN")
        self.studio = studio
        self.settings = studio.settings
        self.albums = AlbumCollector(quiet_s=album_quiet_s)
        self.pacer = pacer or ChatPacer()
        self.bridge = SyncBridge(threads=sync_threads, name="telegram-sync")
        self.application = self._build()
        self.outbox = Outbox(self.application.bot, settings=self.settings, db=studio.db, blobs=studio.blobs,
                             run_sync=self.bridge.run)
        self.inbound = InboundPath(assistant=studio.assistant, bridge=self.bridge,
                                   downloader=TelegramFiles(self.application.bot, self.settings))
        self.delivery: DeliveryPump | None = None

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
        consumer = await self.bridge.run(DeliveryConsumer, self.studio.redis, platform=PLATFORM,
                                         consumer=f"telegram-{app.bot.id}")
        self.delivery = DeliveryPump(consumer=consumer, db=self.studio.db, outbox=self.outbox, pacer=self.pacer,
                                     run_sync=self.bridge.run, jobs=self.studio.jobs)
        # A plain task, not app.create_task: Application.stop() waits for those, and this one never ends.
        self.delivery.start()

    async def _post_stop(self, app: TelegramApp) -> None:
        await self.inbound.drain()  # turns in flight answer while the bot can still send
        if self.delivery is not None:
            await self.delivery.stop()

    def run_polling(self, **kwargs: Any) -> None:
        """Poll Telegram until stopped (Ctrl-C, SIGTERM, or ``application.stop_running()``)."""
        self.application.run_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY], **kwargs)

    def close(self) -> None:
        """Release the worker threads."""
        self.bridge.close()

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
        chat_id = message.chat.id
        answer = ChatAnswer(self.outbox, chat_id, reply_to=message.message_id if chat_id < 0 else None)
        self.inbound.message((chat_id, user.id), f"update {update.update_id} (chat {chat_id}, user {user.id})",
                             answer, lambda: self._read(message, text))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand a button press to the assistant; refusals (not yours, expired) answer the presser alone."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        chat_id = query.message.chat.id if query.message is not None else user.id
        incoming = Incoming(
            platform=PLATFORM,
            user_id=str(user.id),
            chat_id=str(chat_id),
            display_name=user.full_name,
            message_id=str(query.message.message_id) if query.message is not None else None,
            private=query.message is not None and query.message.chat.type == "private",
        )
        self.inbound.press((chat_id, user.id), f"update {update.update_id} (chat {chat_id}, user {user.id})",
                           PressAnswer(self.outbox, query, chat_id), incoming, query.data or "")

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a failure of the handlers above and answer the user in one line; the bot keeps going.

        Turns themselves fail inside the inbound path, which logs and answers them the same way.
        """
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

    async def _read(self, message: Message, text: str) -> Arrival[str]:
        parts = [message]
        if message.media_group_id:
            parts = await self.albums.collect(self.albums.key(message))
            text = text or next((p.caption for p in parts if p.caption), "")
        return arrival(message, parts, text, bot_id=self.application.bot.id)


def run_telegram(settings: Settings) -> None:
    """Run the Telegram bot until interrupted: long polling, the command menu, and job delivery alongside."""
    studio = Studio.build(settings)
    frontend = TelegramFrontend(studio)
    try:
        frontend.run_polling()
    finally:
        frontend.close()
        studio.close()
