"""Reading Telegram messages: who they are for, which file they carry, albums, and what we cannot use.

Forwarded messages are treated as their content: a forwarded photo counts as a photo the user sent, a
forwarded text as text they typed. Consent for a persona is still asked of the user who forwards.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from telegram import Bot, Message, MessageEntity

from core.errors import InvalidUpload
from core.messages import Upload
from core.settings import Settings

# The cloud Bot API lets a bot download files up to 20 MB; a local Bot API server has no such limit.
BOT_API_DOWNLOAD_BYTES = 20 * 2**20
# Telegram delivers an album as separate updates sharing a media_group_id, usually within a few hundred ms.
ALBUM_QUIET_S = 1.0
ASSET_TAG_RE = re.compile(r"#([0-9a-f]{6,32})\b")

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


@dataclass(frozen=True)
class FileRef:
    """A file attached to a message, before it is downloaded."""

    file_id: str
    size: int | None
    filename: str
    kind: str  # photo | document | video
    mime: str


def download_limit(settings: Settings) -> int:
    """The largest file we download: ``max_upload_mb``, capped at 20 MB unless a local Bot API server runs."""
    limit = settings.max_upload_mb * 2**20
    return limit if settings.telegram_local_api else min(limit, BOT_API_DOWNLOAD_BYTES)


def unsupported_answer(message: Message) -> str | None:
    """A one-line answer saying what to send instead, or None when the message carries something we use."""
    for attribute, answer in UNSUPPORTED:
        if getattr(message, attribute, None):
            return answer
    return None


def file_ref(message: Message) -> FileRef | None:
    """The photo (largest size), video or document the message carries, or None."""
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return FileRef(largest.file_id, largest.file_size, f"photo-{message.message_id}.jpg", "photo", "image/jpeg")
    if message.video:
        video = message.video
        return FileRef(video.file_id, video.file_size, video.file_name or f"video-{message.message_id}.mp4",
                       "video", video.mime_type or "video/mp4")
    if message.document:
        doc = message.document
        mime = doc.mime_type or ""
        kind = "video" if mime.startswith("video/") else "document"
        return FileRef(doc.file_id, doc.file_size, doc.file_name or f"file-{message.message_id}", kind, mime)
    return None


def too_large(ref: FileRef, size: int, *, limit: int, local_api: bool) -> InvalidUpload:
    """The refusal for a file over ``limit``, saying what to do instead."""
    mb = size / 2**20
    if not local_api and limit == BOT_API_DOWNLOAD_BYTES:
        return InvalidUpload(f"{ref.filename} is {mb:.1f} MB, but Telegram lets bots download only 20 MB: "
                             "send it as a photo (compressed) or a shorter video.")
    return InvalidUpload(f"{ref.filename} is {mb:.1f} MB; the limit is {limit // 2**20} MB. Send a smaller file.")


async def download(bot: Bot, ref: FileRef, *, limit: int, local_api: bool) -> Upload:
    """The file's bytes as an ``Upload``; raises ``InvalidUpload`` before downloading anything too large."""
    if ref.size is not None and ref.size > limit:
        raise too_large(ref, ref.size, limit=limit, local_api=local_api)
    remote = await bot.get_file(ref.file_id)
    if remote.file_size is not None and remote.file_size > limit:
        raise too_large(ref, remote.file_size, limit=limit, local_api=local_api)
    data = bytes(await remote.download_as_bytearray())
    if len(data) > limit:
        raise too_large(ref, len(data), limit=limit, local_api=local_api)
    return Upload(data=data, filename=ref.filename, kind=ref.kind, mime=ref.mime)


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


def replied_file(message: Message, *, bot_id: int) -> FileRef | None:
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
