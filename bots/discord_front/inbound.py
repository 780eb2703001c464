"""Reading Discord messages: who they are for, which files they carry, and what we cannot use.

Discord sends several attachments of one message together (up to ten): that is the album, and it reaches the
assistant as one message. Files are checked against the download limit before anything is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from core.errors import InvalidUpload
from core.messages import Upload
from core.settings import Settings

ASSET_TAG_RE = re.compile(r"#([0-9a-f]{6,32})\b")
# Commands that work on a photo or video: sent as a reply to a file, they take that file as their input.
FILE_COMMANDS = ("animate", "swap")
SEND_INSTEAD = "send photos (JPEG, PNG or WebP) or a video"


@dataclass(frozen=True)
class FileRef:
    """An attachment of a message, before it is downloaded."""

    attachment: discord.Attachment
    kind: str  # photo | video | document

    @property
    def filename(self) -> str:
        return self.attachment.filename

    @property
    def size(self) -> int:
        return self.attachment.size

    @property
    def mime(self) -> str:
        return self.attachment.content_type or ""


def download_limit(settings: Settings) -> int:
    """The largest file we fetch from Discord: ``STUDIO_MAX_UPLOAD_MB``."""
    return settings.max_upload_mb * 2**20


def command_name(text: str) -> str | None:
    """"animate" for "/animate #1a2b", None when ``text`` is not a slash command."""
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0][1:].partition("@")[0].lower()


def addressed_text(message: discord.Message, *, bot_id: int) -> str | None:
    """The text meant for us, with the bot's mention removed; None when a server message is not for us.

    In a DM everything is for us. In a server channel only a message that mentions the bot or replies to one of
    its messages, so the bot stays out of conversations it was not asked into.
    """
    text = message.content or ""
    if message.guild is None:
        return text.strip()
    mention = re.compile(rf"<@!?{bot_id}>")
    if any(user.id == bot_id for user in message.mentions) or mention.search(text):
        return mention.sub("", text).strip(" ,:")
    resolved = message.reference.resolved if message.reference is not None else None
    if isinstance(resolved, discord.Message) and resolved.author.id == bot_id:
        return text.strip()
    return None


def unsupported_answer(message: discord.Message) -> str | None:
    """A one-line answer saying what to send instead, or None when the message carries something we use."""
    if message.flags.voice:
        return "I can't listen to voice messages: type a command or a sentence instead (/help lists them)."
    if message.stickers:
        return "Stickers can't be used here: send a photo, or a command (/help lists them)."
    if message.poll is not None:
        return "Polls can't be used here: send a command or a sentence (/help lists them)."
    return None


def kind_of(attachment: discord.Attachment) -> str | None:
    """photo, video, or document (type unknown: the intake checks judge its content); None: not usable."""
    mime = (attachment.content_type or "").split(";")[0].strip().lower()
    if mime.startswith("image/"):
        return "photo"
    if mime.startswith("video/"):
        return "video"
    return "document" if not mime else None


def file_refs(attachments: list[discord.Attachment]) -> tuple[list[FileRef], list[str]]:
    """The attachments we can use, and a one-line refusal for each one we cannot (audio, PDFs, archives ...)."""
    refs: list[FileRef] = []
    refused: list[str] = []
    for attachment in attachments:
        kind = kind_of(attachment)
        if kind is None:
            refused.append(f"{attachment.filename} can't be used here: {SEND_INSTEAD}.")
        else:
            refs.append(FileRef(attachment, kind))
    return refs, refused


def too_large(ref: FileRef, size: int, *, limit: int) -> InvalidUpload:
    """The refusal for a file over ``limit``, saying what to do instead."""
    return InvalidUpload(f"{ref.filename} is {size / 2**20:.1f} MB; the limit is {limit // 2**20} MB. "
                         "Send a smaller or more compressed file.")


async def download(ref: FileRef, *, limit: int) -> Upload:
    """The file's bytes as an ``Upload``; raises ``InvalidUpload`` before downloading anything too large."""
    if ref.size > limit:
        raise too_large(ref, ref.size, limit=limit)
    data = await ref.attachment.read()
    if len(data) > limit:
        raise too_large(ref, len(data), limit=limit)
    return Upload(data=data, filename=ref.filename, kind=ref.kind, mime=ref.mime)


def asset_tag(message: discord.Message) -> str | None:
    """The asset id a message of ours shows: its first file's ``#<id>`` alt text, else the last tag in its text.

    A result's text is the prompt reply and then "#<id> · …" lines; a prompt may hold a hashtag, so the last one.
    """
    for attachment in message.attachments:
        found = ASSET_TAG_RE.findall(attachment.description or "")
        if found:
            return str(found[0])
    found = ASSET_TAG_RE.findall(message.content or "")
    return str(found[-1]) if found else None


def replied_message(message: discord.Message) -> discord.Message | None:
    """The message ``message`` replies to, when Discord sent it along."""
    resolved = message.reference.resolved if message.reference is not None else None
    return resolved if isinstance(resolved, discord.Message) else None


def replied_asset(message: discord.Message, *, bot_id: int) -> str | None:
    """The asset id of the bot message this one replies to, if any."""
    replied = replied_message(message)
    if replied is None or replied.author.id != bot_id:
        return None
    return asset_tag(replied)


def replied_files(message: discord.Message, *, bot_id: int) -> list[discord.Attachment]:
    """The attachments of the user's (or another person's) message this one replies to.

    Our own results are named by their ``#<id>`` tag instead (``replied_asset``), so they are not fetched again.
    """
    replied = replied_message(message)
    if replied is None or replied.author.id == bot_id:
        return []
    return list(replied.attachments)
