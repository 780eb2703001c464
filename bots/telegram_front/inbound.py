"""Reading Telegram messages for the shared inbound path: who they are for, which file they carry, albums, what
we cannot use, and downloading their files within the Bot API's limits.

Forwarded messages are treated as their content: a forwarded photo counts as a photo the user sent, a
forwarded text as text they typed. Consent for a persona is still asked of the user who forwards.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from dataclasses import dataclass, field

from telegram import Bot, Message, MessageEntity

from bots.inbound import ASSET_TAG_RE, MB, Arrival, FileRef, download_within, too_large, upload_limit
from bots.telegram_front.delivery import PLATFORM
from bots.telegram_front.outbound import with_retry
from core.errors import InvalidUpload
from core.messages import Incoming, Upload
from core.settings import Settings

# The cloud Bot API lets a bot download files up to 20 MB; a local Bot API server has no such limit.
BOT_API_DOWNLOAD_BYTES = 20 * MB
# Telegram delivers an album as separate updates sharing a media_group_id, usually within a few hundred ms.
ALBUM_QUIET_S = 1.0

UNSUPPORTED: tuple[tuple[str, str], ...] = (
    ("sticker", "Stickers can't be used here: send a photo, or a command (/help lists them)."),
    ("animation", "GIFs can't be used here: send a photo, or the clip as a video."),
    ("voice", "I can't listen to voice messages: type a command or a sentence instead (/help lists them)."),
    ("video_note", "Round video messages can't be used: send a normal video instead."),
    ("audio", "Audio files can't be used here: send photos or a video."),
    ("location", "Locations can't be used here: describe the place in words, e.g. /imagine Ava in Lisbon at dusk."),
    ("venue", "Places can't be used here: describe the place in words, e.g. /imagine Ava in Lisbon at dusk."),
    ("contact", "Contacts can't be used here: send photos, or a command (/help lists them)."),
    ("poll", "Polls can't be used here: send a command or a sentence (/help lists them)."),
    ("dice", "Dice can't be used here: send a command or a sentence (/help lists them)."),
    ("game", "Games can't be used here: send a command or a sentence (/help lists them)."),
    ("story", "Stories can't be used here: send the photo or video itself."),
    ("paid_media", "Paid media can't be used here: send the photo or video itself."),
)


def download_limit(settings: Settings) -> int:
    """The largest file we download: ``max_upload_mb``, capped at 20 MB unless a local Bot API server runs."""
    limit = upload_limit(settings)
    return limit if settings.telegram_local_api else min(limit, BOT_API_DOWNLOAD_BYTES)


def unsupported_answer(message: Message) -> str | None:
    """A one-line answer saying what to send instead, or None when the message carries something we use."""
    for attribute, answer in UNSUPPORTED:
        if getattr(message, attribute, None):
            return answer
    return None


def file_ref(message: Message) -> FileRef[str] | None:
    """The photo (largest size), video or document the message carries, or None; its source is the file id."""
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return FileRef(largest.file_id, f"photo-{message.message_id}.jpg", largest.file_size, "photo", "image/jpeg")
    if message.video:
        video = message.video
        return FileRef(video.file_id, video.file_name or f"video-{message.message_id}.mp4", video.file_size,
                       "video", video.mime_type or "video/mp4")
    if message.document:
        doc = message.document
        mime = doc.mime_type or ""
        kind = "video" if mime.startswith("video/") else "document"
        return FileRef(doc.file_id, doc.file_name or f"file-{message.message_id}", doc.file_size, kind, mime)
    return None


class TelegramFiles:
    """Downloads the files of messages (``Downloader``), refusing what the Bot API or our limit cannot take."""

    def __init__(self, bot: Bot, settings: Settings) -> None:
        self.bot = bot
        self.local_api = settings.telegram_local_api
        self.limit = download_limit(settings)

    def too_large(self, ref: FileRef[str], size: int) -> InvalidUpload:
        """The refusal for a file over the limit, saying what to do instead."""
        if not self.local_api and self.limit == BOT_API_DOWNLOAD_BYTES:
            return InvalidUpload(f"{ref.filename} is {size / MB:.1f} MB, but Telegram lets bots download only "
                                 "20 MB: send it as a photo (compressed) or a shorter video.")
        return too_large(ref.filename, size, self.limit, advice="Send a smaller file.")

    async def download(self, ref: FileRef[str]) -> Upload:
        """The file's bytes as an ``Upload``; raises ``InvalidUpload`` before downloading anything too large."""
        return await with_retry(functools.partial(download_within, ref, self.limit, functools.partial(self._fetch, ref),
                                                  functools.partial(self.too_large, ref)))

    async def _fetch(self, ref: FileRef[str]) -> bytes:
        remote = await self.bot.get_file(ref.source)
        if remote.file_size is not None and remote.file_size > self.limit:
            raise self.too_large(ref, remote.file_size)
        return bytes(await remote.download_as_bytearray())


def arrival(message: Message, parts: list[Message], text: str, *, bot_id: int) -> Arrival[str]:
    """What the shared inbound path needs of a message (with the other ``parts`` of its album) and its ``text``."""
    user = message.from_user
    assert user is not None  # only messages with a sender are handled
    replied = replied_file(message, bot_id=bot_id)
    return Arrival(
        incoming=Incoming(
            platform=PLATFORM,
            user_id=str(user.id),
            chat_id=str(message.chat.id),
            text=text,
            display_name=user.full_name,
            reply_to_asset=replied_asset(message, bot_id=bot_id),
            message_id=str(message.message_id),
            private=message.chat.type == "private",
        ),
        files=[ref for part in parts if (ref := file_ref(part)) is not None],
        replied_files=[replied] if replied is not None else [],
        unsupported=unsupported_answer(message),
    )


def addressed_text(message: Message, *, bot_username: str, bot_id: int) -> str | None:
    """The text meant for us, with any @mention of the bot removed; None when a group message is not for us.

    In private chats everything is for us. In groups only a command (bare or ``/cmd@thisbot``), a reply to one
    of our messages, or an @mention of the bot.
    """
    text = message.text or message.caption or ""
    if message.chat.type == "private":
        return text
    if text.startswith("/"):
        head = text.split(maxsplit=1)[0]
        if "@" in head:
            return text if head.partition("@")[2].lower() == bot_username.lower() else None
        return text
    mention = f"@{bot_username}".lower()
    entities = {**message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
                **message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])}
    mentioned = any(
        (entity.type == MessageEntity.MENTION and value.lower() == mention)
        or (entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id)
        for entity, value in entities.items()
    )
    if mentioned:
        return re.sub(re.escape(f"@{bot_username}"), "", text, flags=re.IGNORECASE).strip(" ,:")
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return text
    return None


def replied_asset(message: Message, *, bot_id: int) -> str | None:
    """The asset id (``#<id>`` in a caption we sent) of the bot message this one replies to, if any."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return None
    # The last tag: a single result's caption is the reply text (a prompt may hold a hashtag), then "#<id> · …".
    found = ASSET_TAG_RE.findall(replied.caption or replied.text or "")
    return found[-1] if found else None


def replied_file(message: Message, *, bot_id: int) -> FileRef[str] | None:
    """The file of the user's own (or another person's) message this command replies to, if it carries one.

    Our own results are named by their ``#<id>`` tag instead (``replied_asset``), so they are not fetched again.
    """
    replied = message.reply_to_message
    if replied is None or (replied.from_user is not None and replied.from_user.id == bot_id):
        return None
    return file_ref(replied)


@dataclass
class _Album:
    messages: list[Message] = field(default_factory=list)
    last_seen: float = 0.0


class AlbumCollector:
    """Gathers the parts of an album (Telegram sends each photo as its own update) into one list."""

    def __init__(self, *, quiet_s: float = ALBUM_QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._albums: dict[str, _Album] = {}

    @staticmethod
    def key(message: Message) -> str:
        """The album a message belongs to."""
        return f"{message.chat.id}:{message.media_group_id}"

    def collecting(self, message: Message) -> bool:
        """Whether an album this message belongs to is being gathered right now."""
        return self.key(message) in self._albums

    def add(self, message: Message) -> bool:
        """Add a part; True when it starts a new album (the caller then awaits ``collect``)."""
        key = self.key(message)
        album = self._albums.get(key)
        first = album is None
        if album is None:
            album = self._albums[key] = _Album()
        album.messages.append(message)
        album.last_seen = time.monotonic()
        return first

    async def collect(self, key: str) -> list[Message]:
        """The album's parts in order, once no new part arrived for ``quiet_s`` seconds."""
        album = self._albums[key]
        while (left := album.last_seen + self.quiet_s - time.monotonic()) > 0:
            await asyncio.sleep(left)
        del self._albums[key]
        return sorted(album.messages, key=lambda m: m.message_id)
