"""One inbound path for every chat app: a message, a typed command or a button press, in its sender's lane,
through the assistant, and the answers back.

A front end supplies what is its own: reading a platform message into an ``Arrival`` (who sent it, where, the
text meant for us, its files), fetching a file (``Downloader``) and answering (``Answer``: into the chat, as a
Telegram alert, as a Discord interaction response). Everything between is here, once: the order of a user's
turns (``Lanes``), the checks of a file before and after it is fetched, ``/animate`` sent as a reply to a photo,
the synchronous assistant on its threads (``SyncBridge``), attaching a job's status message so delivery can
edit it, and the one-line apology when something breaks.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from bots.lanes import Lanes, Work
from bots.sync_bridge import SyncBridge
from core.assistant import Assistant
from core.errors import InvalidUpload, StudioError
from core.grammar import Command
from core.messages import Incoming, Reply, Upload
from core.settings import Settings

log = logging.getLogger(__name__)

S = TypeVar("S")

MB = 2**20
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
# Commands that work on a photo or video: sent as a reply to a file, they take that file as their input.
FILE_COMMANDS = ("animate", "swap", "verify", "wardrobe")
# Every result names its asset as "#<id>" (in its caption, or a Discord attachment's alt text).
ASSET_TAG_RE = re.compile(r"#([0-9a-f]{6,32})\b")
# On shutdown, turns in flight get this long to answer before they are cancelled.
SHUTDOWN_GRACE_S = 5.0


# ---- what a front end supplies ----------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef(Generic[S]):
    """A file attached to a message, before it is downloaded; ``source`` is what the platform fetches it by."""

    source: S
    filename: str
    size: int | None  # as the platform announced it; None when it did not say
    kind: str  # photo | video | document
    mime: str

    def upload(self, data: bytes) -> Upload:
        """The fetched bytes as the assistant takes them."""
        return Upload(data=data, filename=self.filename, kind=self.kind, mime=self.mime)


@dataclass(frozen=True)
class Arrival(Generic[S]):
    """A chat message as the shared path needs it, read from the platform's message by its front end."""

    incoming: Incoming  # who, where, the text meant for us, the result it replies to; no files yet
    files: Sequence[FileRef[S]] = ()
    refused: Sequence[str] = ()  # one line for each attached file that cannot be used
    # The files of the message this one replies to: "/animate" sent as a reply to a photo works on that photo.
    replied_files: Sequence[FileRef[S]] = ()
    replied_refused: Sequence[str] = ()
    unsupported: str | None = None  # what to send instead of content we cannot use (a sticker, a voice note)


class Downloader(Protocol[S]):
    """Fetches a platform's files."""

    async def download(self, ref: FileRef[S]) -> Upload:
        """The file's bytes; raises ``InvalidUpload`` (saying what to send instead) for a file over the limit."""
        ...


class Answer(Protocol):
    """How a front end answers one message, command or button press."""

    async def send(self, replies: Sequence[Reply]) -> list[str | None]:
        """Show ``replies``; for each, the id of the message a job's progress can edit (None: there is none)."""
        ...

    async def refuse(self, text: str) -> None:
        """A one-line refusal or apology, shown to the user alone where the platform can."""
        ...

    async def acknowledge(self) -> None:
        """Answered without a message (a button press whose result needs none)."""
        ...


class ChatReplies:
    """The ``Answer`` to a chat message, where it was sent: each reply in turn, a refusal as one more reply.

    A front end says how one reply is sent (``send_one``).
    """

    async def send_one(self, reply: Reply) -> str | None:
        """Send ``reply``; the id of the message a job's status edits, None when nothing was sent."""
        raise NotImplementedError

    async def send(self, replies: Sequence[Reply]) -> list[str | None]:
        """Send the replies in order."""
        return [await self.send_one(reply) for reply in replies]

    async def refuse(self, text: str) -> None:
        """A refusal where the message was sent."""
        await self.send_one(Reply(text=text, error=True))

    async def acknowledge(self) -> None:
        """Nothing to do: a message needs no acknowledgement."""


# ---- files ------------------------------------------------------------------------------------------


def upload_limit(settings: Settings) -> int:
    """The largest file a front end fetches: ``STUDIO_MAX_UPLOAD_MB``."""
    return settings.max_upload_mb * MB


def too_large(filename: str, size: int, limit: int, *, advice: str) -> InvalidUpload:
    """The refusal for a file over ``limit``, ending with what to do instead."""
    return InvalidUpload(f"{filename} is {size / MB:.1f} MB; the limit is {limit // MB} MB. {advice}")


async def download_within(ref: FileRef[S], limit: int, fetch: Callable[[], Awaitable[bytes]],
                          refusal: Callable[[int], InvalidUpload]) -> Upload:
    """``fetch()``'s bytes as an ``Upload``; ``refusal(size)`` is raised before fetching a file announced as too
    large, and after a fetch that turned out too large (an announced size can be missing or wrong)."""
    if ref.size is not None and ref.size > limit:
        raise refusal(ref.size)
    data = await fetch()
    if len(data) > limit:
        raise refusal(len(data))
    return ref.upload(data)


def command_name(text: str) -> str | None:
    """"animate" for "/animate@studio_bot #1a2b", None when ``text`` is not a slash command."""
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0][1:].partition("@")[0].lower()


# ---- the path ---------------------------------------------------------------------------------------


class InboundPath(Generic[S]):
    """Runs every user turn of one front end: in order per sender, blocking work off the loop, failures answered.

    Each entry point takes the sender's place in their lane at once (so turns are seen in the order they
    arrived) and returns a future that resolves when the turn has been answered.
    """

    def __init__(self, *, assistant: Assistant, downloader: Downloader[S], bridge: SyncBridge) -> None:
        self.assistant = assistant
        self.downloader = downloader
        self.bridge = bridge
        self.lanes = Lanes()

    def message(self, key: Hashable, what: str, answer: Answer,
                read: Callable[[], Awaitable[Arrival[S]]]) -> asyncio.Future[None]:
        """A chat message: ``read`` runs in the lane (it may wait, e.g. for the rest of an album)."""
        return self._submit(key, what, answer, lambda: self._message(answer, read))

    def command(self, key: Hashable, what: str, answer: Answer, incoming: Incoming, build: Callable[[], Command],
                files: Sequence[FileRef[S]] = (), refused: Sequence[str] = ()) -> asyncio.Future[None]:
        """A typed command: ``build`` makes it from the options (a ``UsageError`` is refused as a typed one is)."""
        return self._submit(key, what, answer, lambda: self._command(answer, incoming, build, files, refused))

    def press(self, key: Hashable, what: str, answer: Answer, incoming: Incoming,
              action: str) -> asyncio.Future[None]:
        """A button press carrying the assistant's ``action``."""
        return self._submit(key, what, answer, lambda: self._press(answer, incoming, action))

    async def drain(self, timeout: float = SHUTDOWN_GRACE_S) -> None:
        """Let the turns in flight finish for up to ``timeout`` seconds, then cancel what is left."""
        await self.lanes.drain(timeout)

    # ---- turns ------------------------------------------------------------------------------------------

    async def _message(self, answer: Answer, read: Callable[[], Awaitable[Arrival[S]]]) -> None:
        arrival = await read()
        if arrival.unsupported is not None:
            await answer.refuse(arrival.unsupported)
            return
        incoming = arrival.incoming
        files, refused = arrival.files, list(arrival.refused)
        if (not files and not refused and incoming.reply_to_asset is None
                and command_name(incoming.text) in FILE_COMMANDS):
            # "/animate" as a reply to a photo someone sent: the command works on that photo.
            files, refused = arrival.replied_files, list(arrival.replied_refused)
        uploads, too_big = await self._downloads(files)
        refused += too_big
        if refused:
            await answer.refuse("\n".join(refused))
            if not uploads:
                return
        if not incoming.text and not uploads:
            return  # a service message (pinned, joined ...) or an empty one: nothing to answer
        replies = await self.bridge.run(self.assistant.handle, replace(incoming, uploads=tuple(uploads)))
        await self._answer(answer, replies)

    async def _command(self, answer: Answer, incoming: Incoming, build: Callable[[], Command],
                       files: Sequence[FileRef[S]], refused: Sequence[str]) -> None:
        try:
            command = build()
        except StudioError as exc:
            await answer.refuse(str(exc))
            return
        uploads, too_big = await self._downloads(files)
        if refused or too_big:
            await answer.refuse("\n".join([*refused, *too_big]))
            return
        replies = await self.bridge.run(self.assistant.handle_command, replace(incoming, uploads=tuple(uploads)),
                                        command)
        await self._answer(answer, replies)

    async def _press(self, answer: Answer, incoming: Incoming, action: str) -> None:
        replies = await self.bridge.run(self.assistant.press, incoming, action)
        if replies and all(reply.error for reply in replies):
            # Someone else's button, or forged/expired data: tell only the presser, keep the chat clean.
            await answer.refuse(" ".join(reply.text for reply in replies))
        elif not replies:
            await answer.acknowledge()
        else:
            await self._answer(answer, replies)

    async def _downloads(self, files: Sequence[FileRef[S]]) -> tuple[list[Upload], list[str]]:
        uploads: list[Upload] = []
        refused: list[str] = []
        for ref in files:
            try:
                uploads.append(await self.downloader.download(ref))
            except InvalidUpload as exc:
                refused.append(str(exc))
        return uploads, refused

    async def _answer(self, answer: Answer, replies: list[Reply]) -> None:
        shown = await answer.send(replies)
        for reply, message_id in zip(replies, shown, strict=True):
            if reply.job_id and message_id is not None:
                # Delivery edits this message with the job's progress and final state.
                await self.bridge.run(self.assistant.attach_status_message, reply.job_id, message_id)

    # ---- the one error handler ----------------------------------------------------------------------------

    def _submit(self, key: Hashable, what: str, answer: Answer, work: Work) -> asyncio.Future[None]:
        async def guarded() -> None:
            # Any failure is logged with ``what`` (the update, chat and user) and answered in one line; the
            # lane and the bot go on.
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling %s failed", what)
                try:
                    await answer.refuse(SORRY)
                except Exception:
                    log.warning("could not tell the user about the failure of %s", what, exc_info=True)

        return self.lanes.submit(key, guarded)
