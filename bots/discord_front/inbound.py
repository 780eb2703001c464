"""Reading Discord messages for the shared inbound path: who they are for, which files they carry, what we cannot
use, and downloading their attachments.

Discord sends several attachments of one message together (up to ten): that is the album, and it reaches the
assistant as one message. Files are checked against the download limit before anything is fetched.
"""

from __future__ import annotations

import functools
import re

import discord

from bots.discord_front.delivery import PLATFORM
from bots.discord_front.outbound import with_retry
from bots.inbound import ASSET_TAG_RE, Arrival, FileRef, download_within, too_large, upload_limit
from core.messages import Incoming, Upload
from core.settings import Settings

SEND_INSTEAD = "send photos (JPEG, PNG or WebP) or a video"

AttachmentRef = FileRef[discord.Attachment]


class DiscordFiles:
    """Downloads attachments (``Downloader``) up to ``STUDIO_MAX_UPLOAD_MB``, checked before anything is fetched."""

    def __init__(self, settings: Settings) -> None:
        self.limit = upload_limit(settings)

    async def download(self, ref: AttachmentRef) -> Upload:
        """The file's bytes as an ``Upload``; raises ``InvalidUpload`` before downloading anything too large."""
        refusal = functools.partial(too_large, ref.filename, limit=self.limit,
                                    advice="Send a smaller or more compressed file.")
        return await with_retry(functools.partial(download_within, ref, self.limit, ref.source.read, refusal))


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


def file_refs(attachments: list[discord.Attachment]) -> tuple[list[AttachmentRef], list[str]]:
    """The attachments we can use, and a one-line refusal for each one we cannot (audio, PDFs, archives ...)."""
    refs: list[AttachmentRef] = []
    refused: list[str] = []
    for attachment in attachments:
        kind = kind_of(attachment)
        if kind is None:
            refused.append(f"{attachment.filename} can't be used here: {SEND_INSTEAD}.")
        else:
            refs.append(FileRef(attachment, attachment.filename, attachment.size, kind,
                                attachment.content_type or ""))
    return refs, refused


def arrival(message: discord.Message, text: str, *, bot_id: int) -> Arrival[discord.Attachment]:
    """What the shared inbound path needs of a message and its ``text``."""
    files, refused = file_refs(list(message.attachments))
    replied_files, replied_refused = file_refs(replied_attachments(message, bot_id=bot_id))
    return Arrival(
        incoming=Incoming(
            platform=PLATFORM,
            user_id=str(message.author.id),
            chat_id=str(message.channel.id),
            text=text,
            display_name=message.author.display_name,
            reply_to_asset=replied_asset(message, bot_id=bot_id),
            message_id=str(message.id),
            private=message.guild is None,
        ),
        files=files, refused=refused, replied_files=replied_files, replied_refused=replied_refused,
        unsupported=unsupported_answer(message),
    )


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


def replied_attachments(message: discord.Message, *, bot_id: int) -> list[discord.Attachment]:
    """The attachments of the user's (or another person's) message this one replies to.

    Our own results are named by their ``#<id>`` tag instead (``replied_asset``), so they are not fetched again.
    """
    replied = replied_message(message)
    if replied is None or replied.author.id == bot_id:
        return []
    return list(replied.attachments)
