"""Sending to Discord: a ``Reply`` becomes messages with attachments and buttons, paced and retried.

Discord's limits (https://discord.com/developers/docs/resources/message): 2000 characters of content, ten
attachments a message, five buttons a row, ``custom_id`` up to 100 characters, and an upload limit per file
that depends on the server (10 MiB, more in boosted servers; an interaction says its own). discord.py keeps
Discord's rate-limit buckets and waits out a 429 itself; what reaches us is a server error or a network
failure (transient: retried with backoff) or a refusal such as ``Forbidden`` (permanent: raised).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, TypeVar

import aiohttp
import discord

from bots.delivery_lanes import RunSync, stored_media
from core import links
from core.messages import Button, Media, Reply
from core.settings import Settings
from storage.blobs import BlobStore
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

TEXT_LIMIT = 2000
FILES_PER_MESSAGE = 10
DESCRIPTION_LIMIT = 1024  # an attachment's alt text
LABEL_LIMIT = 80
# Discord allows five a row; four keeps labels readable on a phone and matches the other front ends.
BUTTONS_PER_ROW = 4
MAX_ROWS = 5
EDIT_INTERVAL_S = 1.0
MAX_BACKOFF_S = 30.0


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_options(text: str | None) -> dict[str, Any]:
    """``suppress_embeds`` for a message that carries a link: links in our messages are private (a gallery, a
    package, a file), and Discord's embed fetcher would open them."""
    return {"suppress_embeds": True} if text and "://" in text else {}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # one line longer than a message: cut it hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


class StaticButtons(discord.ui.View):
    """Buttons that are only drawn: presses are dispatched by ``custom_id`` in ``on_interaction``.

    So discord.py keeps no per-message view in memory, and a button sent before a restart still works after it.
    """

    def __init__(self, buttons: Sequence[Button]) -> None:
        super().__init__(timeout=None)
        for index, button in enumerate(buttons[: BUTTONS_PER_ROW * MAX_ROWS]):
            self.add_item(discord.ui.Button(label=clip(button.label, LABEL_LIMIT), custom_id=button.action,
                                            style=discord.ButtonStyle.secondary, row=index // BUTTONS_PER_ROW))

    def is_dispatchable(self) -> bool:
        return False

    def is_finished(self) -> bool:
        return True


def buttons_view(buttons: Sequence[Button]) -> discord.ui.View | None:
    """A view drawing ``buttons`` in rows of four (custom_id = the assistant's action), or None."""
    return StaticButtons(buttons) if buttons else None


@dataclass
class Part:
    """One Discord message of a reply: its text, up to ten files and the reply's buttons."""

    content: str = ""
    media: list[Media] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again later can succeed (server errors, network failures, rate limits)."""
    if isinstance(exc, discord.DiscordServerError | discord.RateLimited | aiohttp.ClientError | TimeoutError):
        return True
    # A 429 that discord.py could not handle itself (no Via header: an edge proxy refusing us) passes too.
    return isinstance(exc, discord.HTTPException) and (exc.status >= 500 or exc.status == 429)


async def with_retry(make: Callable[[], Awaitable[T]], *, attempts: int | None = 5, backoff_s: float = 1.0) -> T:
    """The result of ``make()``, retried after transient failures; ``None`` attempts: until it succeeds."""
    tries, wait = 0, backoff_s
    while True:
        tries += 1
        try:
            return await make()
        except Exception as exc:
            if not is_transient(exc) or (attempts is not None and tries >= attempts):
                raise
            log.warning("Discord call failed (%s); retrying in %.1f s", exc, wait)
        await asyncio.sleep(wait)
        wait = min(wait * 2, MAX_BACKOFF_S)


class EditPacer:
    """Spaces edits of one message about a second apart; sends are left to discord.py's buckets."""

    def __init__(self, *, interval_s: float = EDIT_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval_s = interval_s
        # Injectable so the spacing can be checked against a clock that a busy machine cannot disturb.
        self._clock = clock
        self._sleep = sleep
        self._next: dict[int, float] = {}

    async def wait(self, message_id: int) -> None:
        """Sleep until ``message_id`` may be edited again; the slot is reserved before sleeping."""
        now = self._clock()
        if len(self._next) > 10_000:  # forget messages whose slot is long past
            self._next = {k: v for k, v in self._next.items() if v > now}
        at = max(self._next.get(message_id, 0.0), now)
        self._next[message_id] = at + self.interval_s
        if at > now:
            await self._sleep(at - now)


class Outbox:
    """Turns replies into Discord messages; media bytes come from the blob store."""

    def __init__(self, *, settings: Settings, db: Database, blobs: BlobStore, run_sync: RunSync) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.run_sync = run_sync

    async def plan(self, reply: Reply, *, upload_limit: int) -> list[Part]:
        """The messages that show ``reply``: text first, files in tens, links for files over ``upload_limit``."""
        sendable: list[Media] = []
        stored, notes = await self.run_sync(stored_media, self.blobs, reply.media)
        for media in stored:
            size = media.size_bytes or self.blobs.size(media.blob)
            if size > upload_limit:
                link = await self.run_sync(self.download_link, media.asset_id)
                notes.append(f"{PurePath(media.filename).name} is {size / 2**20:.0f} MB, more than Discord lets a "
                             f"bot send here ({upload_limit // 2**20} MB). Download it here (valid 7 days): {link}")
            else:
                sendable.append(media)
        chunks = self._chunks(sendable, upload_limit)
        texts = split_text(reply.text.strip()) or [""]
        parts = [Part(content=piece) for piece in texts[:-1]]
        last = texts[-1]
        if chunks:
            for index, chunk in enumerate(chunks):
                captions = "\n".join(m.caption for m in chunk if m.caption)
                lead = last if index == 0 else ""
                content = "\n".join(p for p in (lead, captions) if p)
                if len(content) > TEXT_LIMIT:  # the captions are also each file's alt text: nothing is lost
                    content = clip(lead, TEXT_LIMIT) if lead else clip(captions, TEXT_LIMIT)
                parts.append(Part(content=content, media=chunk, buttons=list(reply.buttons) if index == 0 else []))
        else:
            parts.append(Part(content=last, buttons=list(reply.buttons)))
        parts.extend(Part(content=clip(note, TEXT_LIMIT)) for note in notes)
        kept = [p for p in parts if p.content or p.media or p.buttons]
        for part in kept:
            if part.buttons and not part.content and not part.media:
                part.content = "Options:"
        return kept

    def _chunks(self, media: list[Media], upload_limit: int) -> list[list[Media]]:
        # Ten files a message, and together within the upload limit (Discord checks the whole request).
        chunks: list[list[Media]] = []
        total = 0
        for item in media:
            size = item.size_bytes or self.blobs.size(item.blob)
            if not chunks or len(chunks[-1]) >= FILES_PER_MESSAGE or total + size > upload_limit:
                chunks.append([])
                total = 0
            chunks[-1].append(item)
            total += size
        return chunks

    async def files(self, part: Part) -> list[discord.File]:
        """Fresh ``discord.File`` objects for ``part`` (a file object is spent once it was sent)."""
        out = []
        for media in part.media:
            data: bytes = await self.run_sync(self.blobs.read_bytes, media.blob)
            out.append(discord.File(io.BytesIO(data), filename=PurePath(media.filename).name,
                                    description=clip(media.caption, DESCRIPTION_LIMIT) or None))
        return out

    async def send_part(self, channel: discord.abc.Messageable, part: Part, *,
                        reference: discord.MessageReference | None = None) -> discord.Message:
        """Post one part into ``channel`` (no retries: the caller decides)."""
        kwargs: dict[str, Any] = {"content": part.content or None, "files": await self.files(part),
                                  **embed_options(part.content)}
        view = buttons_view(part.buttons)
        if view is not None:
            kwargs["view"] = view
        if reference is not None:
            kwargs["reference"] = reference
            kwargs["mention_author"] = False
        return await channel.send(**kwargs)

    async def send(self, channel: discord.abc.Messageable, reply: Reply, *, upload_limit: int,
                   reference: discord.MessageReference | None = None, attempts: int | None = 5,
                   backoff_s: float = 1.0) -> list[discord.Message]:
        """The messages Discord accepted for ``reply``; each part is retried on its own (no duplicates)."""
        sent = []
        for part in await self.plan(reply, upload_limit=upload_limit):
            step = functools.partial(self.send_part, channel, part, reference=reference)
            sent.append(await with_retry(step, attempts=attempts, backoff_s=backoff_s))
        return sent

    def download_link(self, asset_id: str | None) -> str:
        """A signed link to just this asset's file (blocking: it reads the database)."""
        return links.asset_link(self.settings, self.db, asset_id)


def reference_to(channel_id: int, message_id: int | None) -> discord.MessageReference | None:
    """A reply reference that does not fail when the original message was deleted meanwhile."""
    if message_id is None:
        return None
    return discord.MessageReference(message_id=message_id, channel_id=channel_id, fail_if_not_exists=False)
