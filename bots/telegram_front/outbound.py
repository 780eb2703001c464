"""Sending to Telegram: a ``Reply`` becomes messages, photos, albums, videos or documents, paced and retried.

Flood limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): about one
message or edit per second in a chat, 20 messages a minute in a group. ``RetryAfter`` says how long Telegram
wants us to wait; we wait exactly that and try again. Network hiccups are retried with backoff; a
``BadRequest`` or ``Forbidden`` is permanent and raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import PurePath
from typing import Any, TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    Message,
)
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bots.delivery_lanes import RunSync, stored_media
from core import links
from core.messages import Button, Media, Reply
from core.settings import Settings
from storage.blobs import BlobStore
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
Step = Callable[[], Awaitable[Any]]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MEDIA_GROUP_MAX = 10
# What the cloud Bot API accepts from a bot: 10 MB for a photo, 50 MB for any other file. A local Bot API
# server takes up to 2000 MB.
PHOTO_UPLOAD_BYTES = 10 * 2**20
BOT_API_UPLOAD_BYTES = 50 * 2**20
LOCAL_API_UPLOAD_BYTES = 2000 * 2**20
EDIT_INTERVAL_S = 1.0
GROUP_INTERVAL_S = 3.0
MAX_BACKOFF_S = 30.0
KEYBOARD_ROW = 4


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked us to wait, in seconds (PTB gives an int or a timedelta)."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def is_not_modified(exc: BadRequest) -> bool:
    """Whether an edit failed only because the message already shows that text."""
    return "message is not modified" in exc.message.lower()


async def with_retry(make: Callable[[], Awaitable[T]], *, attempts: int | None = 5) -> T:
    """The result of ``make()``, retried after ``RetryAfter`` and network errors; ``None`` attempts: forever."""
    tries, backoff = 0, 1.0
    while True:
        tries += 1
        try:
            return await make()
        except BadRequest:
            raise  # a subclass of NetworkError, but the request itself is wrong: retrying cannot help
        except RetryAfter as exc:
            if attempts is not None and tries >= attempts:
                raise
            wait = retry_after_seconds(exc)
            log.info("Telegram asked to wait %.1f s (flood control)", wait)
        except (TimedOut, NetworkError) as exc:
            if attempts is not None and tries >= attempts:
                raise
            wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_S)
            log.warning("Telegram call failed (%s); retrying in %.0f s", exc, wait)
        await asyncio.sleep(wait)


class ChatPacer:
    """Spaces calls per chat: edits in private chats about one a second, everything in groups 20 a minute."""

    def __init__(self, *, edit_interval_s: float = EDIT_INTERVAL_S, group_interval_s: float = GROUP_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.edit_interval_s = edit_interval_s
        self.group_interval_s = group_interval_s
        # Injectable so the spacing can be checked against a clock that a busy machine cannot disturb.
        self._clock = clock
        self._sleep = sleep
        self._next: dict[tuple[int, bool], float] = {}

    async def wait(self, chat_id: int, *, edit: bool) -> None:
        """Sleep until this chat may take another call; the slot is reserved before sleeping."""
        group = chat_id < 0  # Telegram gives groups, supergroups and channels negative ids
        if group:
            interval, key = self.group_interval_s, (chat_id, False)
        elif edit:
            interval, key = self.edit_interval_s, (chat_id, True)
        else:
            return
        now = self._clock()
        if len(self._next) > 10_000:  # forget chats whose slot is long past
            self._next = {k: v for k, v in self._next.items() if v > now}
        at = max(self._next.get(key, 0.0), now)
        self._next[key] = at + interval
        if at > now:
            await self._sleep(at - now)


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """An inline keyboard whose callback data is each button's action (rows of up to four), or None."""
    if not buttons:
        return None
    # More than four buttons on one row get cut to a few letters on a phone.
    rows = [buttons[start:start + KEYBOARD_ROW] for start in range(0, len(buttons), KEYBOARD_ROW)]
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
                                 for row in rows])


def video_kwargs(media: Media) -> dict[str, Any]:
    """What Telegram shows before a video has loaded (length, aspect) and lets it play while downloading."""
    kwargs: dict[str, Any] = {"supports_streaming": True}
    if media.width > 0 and media.height > 0:
        kwargs.update(width=media.width, height=media.height)
    if media.duration_s is not None and media.duration_s > 0:
        kwargs["duration"] = max(1, round(media.duration_s))  # the Bot API takes whole seconds
    return kwargs


# Links in our messages are private (a gallery, a package, a file): a preview fetcher would open them.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def preview_options(text: str) -> LinkPreviewOptions | None:
    """Link previews off for a message that carries a link; None (Telegram's default) otherwise."""
    return NO_PREVIEW if "://" in text else None


def clip(text: str, limit: int) -> str:
    """``text`` cut to Telegram's ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Outbox:
    """Turns replies into Bot API calls for one chat; media bytes come from the blob store."""

    def __init__(self, bot: Bot, *, settings: Settings, db: Database, blobs: BlobStore, run_sync: RunSync) -> None:
        self.bot = bot
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.run_sync = run_sync
        self.upload_limit = LOCAL_API_UPLOAD_BYTES if settings.telegram_local_api else BOT_API_UPLOAD_BYTES

    async def send(self, chat_id: int, reply: Reply, *, reply_to: int | None = None,
                   attempts: int | None = 5) -> list[Message]:
        """The messages Telegram accepted for ``reply``; each step is retried on its own (no duplicates)."""
        sent: list[Message] = []
        for step in await self.steps(chat_id, reply, reply_to=reply_to):
            result = await with_retry(step, attempts=attempts)
            sent.extend(result if isinstance(result, (list, tuple)) else [result])
        return sent

    async def steps(self, chat_id: int, reply: Reply, *, reply_to: int | None = None) -> list[Step]:
        """The Bot API calls that show ``reply``, in order; run them with ``with_retry`` one by one."""
        markup = keyboard(reply.buttons)
        text = reply.text.strip()
        steps: list[Step] = []
        sendable: list[Media] = []
        stored, missing = await self.run_sync(stored_media, self.blobs, reply.media)
        steps.extend(self._text_step(chat_id, note, None, reply_to) for note in missing)
        for media in stored:
            size = media.size_bytes or self.blobs.size(media.blob)
            if size > self.upload_limit:
                link = await self.run_sync(self.download_link, media.asset_id)
                note = (f"{media.filename} is {size / 2**20:.0f} MB, more than Telegram lets a bot send "
                        f"({self.upload_limit // 2**20} MB). Download it here (valid 7 days): {link}")
                steps.append(self._text_step(chat_id, note, None, reply_to))
            else:
                sendable.append(media)
        if len(sendable) == 1:
            # One file: the reply's text becomes its caption and the buttons sit right under it.
            caption = "\n".join(part for part in (text, sendable[0].caption) if part)
            if len(caption) <= CAPTION_LIMIT:
                steps.append(self._file_step(chat_id, sendable[0], caption, markup, reply_to))
                return steps
            steps.append(self._file_step(chat_id, sendable[0], sendable[0].caption, None, reply_to))
        elif sendable:
            albums = [m for m in sendable if self._album_kind(m)]
            others = [m for m in sendable if not self._album_kind(m)]
            for start in range(0, len(albums), MEDIA_GROUP_MAX):
                chunk = albums[start:start + MEDIA_GROUP_MAX]
                if len(chunk) == 1:
                    steps.append(self._file_step(chat_id, chunk[0], chunk[0].caption, None, reply_to))
                else:
                    steps.append(self._album_step(chat_id, chunk, reply_to))
            steps.extend(self._file_step(chat_id, m, m.caption, None, reply_to) for m in others)
        if text or markup is not None:
            # Albums cannot carry buttons: the text and keyboard follow in their own message.
            steps.append(self._text_step(chat_id, text or "Options:", markup, reply_to))
        return steps

    # ---- single calls -----------------------------------------------------------------------------

    def _text_step(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, reply_to: int | None) -> Step:
        async def step() -> Message:
            return await self.bot.send_message(chat_id, clip(text, TEXT_LIMIT), reply_markup=markup,
                                               link_preview_options=preview_options(text), **_reply_kwargs(reply_to))
        return step

    def _file_step(self, chat_id: int, media: Media, caption: str, markup: InlineKeyboardMarkup | None,
                   reply_to: int | None) -> Step:
        async def step() -> Message:
            data: bytes = await self.run_sync(self.blobs.read_bytes, media.blob)
            kwargs: dict[str, Any] = {"caption": clip(caption, CAPTION_LIMIT) or None, "reply_markup": markup,
                                      "filename": PurePath(media.filename).name, **_reply_kwargs(reply_to)}
            if media.kind == "image" and len(data) <= PHOTO_UPLOAD_BYTES:
                return await self.bot.send_photo(chat_id, data, **kwargs)
            if media.kind == "video":
                return await self.bot.send_video(chat_id, data, **video_kwargs(media), **kwargs)
            return await self.bot.send_document(chat_id, data, **kwargs)
        return step

    def _album_step(self, chat_id: int, items: list[Media], reply_to: int | None) -> Step:
        async def step() -> tuple[Message, ...]:
            group: list[InputMediaPhoto | InputMediaVideo] = []
            for media in items:
                data: bytes = await self.run_sync(self.blobs.read_bytes, media.blob)
                caption = clip(media.caption, CAPTION_LIMIT) or None
                name = PurePath(media.filename).name
                if media.kind == "video":
                    group.append(InputMediaVideo(data, caption=caption, filename=name, **video_kwargs(media)))
                else:
                    group.append(InputMediaPhoto(data, caption=caption, filename=name))
            return await self.bot.send_media_group(chat_id, group, **_reply_kwargs(reply_to))
        return step

    # ---- helpers ----------------------------------------------------------------------------------

    def _album_kind(self, media: Media) -> bool:
        # Photos and videos may share an album; documents cannot join them, and big images go as documents.
        if media.kind == "video":
            return True
        return media.kind == "image" and (media.size_bytes or self.blobs.size(media.blob)) <= PHOTO_UPLOAD_BYTES

    def download_link(self, asset_id: str | None) -> str:
        """A signed link to just this asset's file (blocking: it reads the database)."""
        return links.asset_link(self.settings, self.db, asset_id)


def _reply_kwargs(reply_to: int | None) -> dict[str, Any]:
    # In groups answers quote the message they answer; a deleted original must not make the send fail.
    if reply_to is None:
        return {}
    return {"reply_to_message_id": reply_to, "allow_sending_without_reply": True}
