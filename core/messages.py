"""What front ends hand the assistant and what they get back: channel-neutral messages, media and buttons."""

from __future__ import annotations

from dataclasses import dataclass, field

# Telegram allows 64 bytes of callback data; every action string stays far below that.
MAX_ACTION_BYTES = 64


@dataclass(frozen=True)
class Upload:
    """A file the user sent: its bytes and what the platform called it."""

    data: bytes
    filename: str
    kind: str = "photo"  # photo | document | video | audio | other
    mime: str = ""


@dataclass(frozen=True)
class Incoming:
    """One user message, whatever the platform."""

    platform: str
    user_id: str
    chat_id: str
    text: str = ""
    display_name: str = ""
    uploads: tuple[Upload, ...] = ()
    reply_to_asset: str | None = None
    message_id: str | None = None
    # False in group chats and channels: private things (download links) are not posted there.
    private: bool = True


@dataclass(frozen=True)
class Button:
    """A button under a message; ``action`` comes back through ``Assistant.press``."""

    label: str
    action: str

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"button action {self.action!r} exceeds {MAX_ACTION_BYTES} bytes")


@dataclass(frozen=True)
class Media:
    """A stored file to send: an image, a video or a document."""

    blob: str
    kind: str  # image | video | document
    filename: str
    caption: str = ""
    asset_id: str | None = None
    size_bytes: int = 0
    # What players need before the first byte arrives (Telegram shows the length and aspect from these).
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    mime: str = ""


@dataclass
class Reply:
    """One message to send. ``job_id`` marks the status message a job's progress will edit in place.

    ``error`` marks a refusal (a ``StudioError``'s text): a front end may show it privately, e.g. as a
    Telegram button alert, instead of posting it into a group chat.
    """

    text: str = ""
    media: list[Media] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    job_id: str | None = None
    error: bool = False
    # An answer to a press that redraws the pressed message's buttons (a contact sheet's picks): a front end
    # that can edit that message puts ``buttons`` on it and shows ``text`` to the presser; others send it as is.
    redraws_pressed: bool = False
