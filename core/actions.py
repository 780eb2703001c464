"""Button actions: typed values with one encoder and one decoder.

A button carries ``verb:arg:arg`` (Telegram allows 64 bytes of callback data, checked here once). Anything
that does not decode — an old format, a forged or garbled value, a number no row can have — is an expired
button, never an error deeper down.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import UsageError
from core.limits import MOTIONS, PERSONA_ID_MAX
from core.messages import MAX_ACTION_BYTES, Button
from core.platforms import PRESETS
from core.shots import SHOOT_SIZE

_ID = re.compile(r"^[0-9a-f]{6,32}$")


class ExpiredButton(UsageError):
    """Button data this release cannot act on."""

    def __init__(self) -> None:
        super().__init__("That button has expired. Send the command again.")


@dataclass(frozen=True)
class Noop:
    """A button that only closes a question ("Keep")."""

    verb: ClassVar[str] = "noop"


@dataclass(frozen=True)
class Consent:
    """The owner agrees to the persona consent statement."""

    verb: ClassVar[str] = "consent"


@dataclass(frozen=True)
class Abort:
    """Leave the current dialogue (persona creation)."""

    verb: ClassVar[str] = "abort"


@dataclass(frozen=True)
class CancelJob:
    verb: ClassVar[str] = "cancel"
    job_id: str


@dataclass(frozen=True)
class CancelAll:
    """Stop every queued and running job of the user."""

    verb: ClassVar[str] = "cancelall"


@dataclass(frozen=True)
class Pick:
    """One answer to a question asked instead of guessing (``token`` names the question, ``index`` the answer)."""

    verb: ClassVar[str] = "pick"
    token: str
    index: int


@dataclass(frozen=True)
class _OnAsset:
    """An action on one of the user's results."""

    verb: ClassVar[str]
    asset_id: str


class Variations(_OnAsset):
    """New seeds on the same prompt."""

    verb = "var"


class Remix(_OnAsset):
    """The same seed with a small prompt change."""

    verb = "remix"


class MotionPicker(_OnAsset):
    """Ask which camera motion to animate with."""

    verb = "motions"


@dataclass(frozen=True)
class AnimateAsset(_OnAsset):
    verb = "anim"
    motion: str | None = None


@dataclass(frozen=True)
class ExportAsset(_OnAsset):
    verb = "exp"
    platform: str | None = None


@dataclass(frozen=True)
class SwapInto(_OnAsset):
    verb = "swap"
    persona_id: int | None = None


@dataclass(frozen=True)
class DeletePersona:
    verb: ClassVar[str] = "pdel"
    persona_id: int


@dataclass(frozen=True)
class _OnShoot:
    """An action on one of the user's photoshoots (its job)."""

    verb: ClassVar[str]
    job_id: str


@dataclass(frozen=True)
class TogglePick(_OnShoot):
    """Shot ``number`` in or out of the shoot's favourites."""

    verb = "shpick"
    number: int


class SendPicks(_OnShoot):
    """The favourites at full size."""

    verb = "shsend"


@dataclass(frozen=True)
class MoreLike(_OnShoot):
    """A second round of the same shoot in new poses, following shot ``number``."""

    verb = "shmore"
    number: int


class AnimatePicks(_OnShoot):
    """One clip per favourite."""

    verb = "shanim"


@dataclass(frozen=True)
class ExportCarousel(_OnShoot):
    """The favourites as one carousel post, in the order picked."""

    verb = "shexp"
    platform: str | None = None


Action = (Noop | Consent | Abort | CancelJob | CancelAll | Pick | Variations | Remix | AnimateAsset | MotionPicker
          | ExportAsset | SwapInto | DeletePersona | TogglePick | SendPicks | MoreLike | AnimatePicks
          | ExportCarousel)
_BY_VERB: dict[str, type[Any]] = {cls.verb: cls for cls in (
    Noop, Consent, Abort, CancelJob, CancelAll, Pick, Variations, Remix, AnimateAsset, MotionPicker, ExportAsset,
    SwapInto, DeletePersona, TogglePick, SendPicks, MoreLike, AnimatePicks, ExportCarousel)}
MAX_CHOICES = 10  # answers one question offers


def _row_id(text: str) -> int:
    if not text.isdigit() or len(text) > 10 or int(text) == 0 or int(text) > PERSONA_ID_MAX:
        raise ValueError(text)
    return int(text)


def _choice(options: object) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:  # type: ignore[operator]
            raise ValueError(text)
        return text

    return parse


def _index(text: str) -> int:
    if not text.isdigit() or int(text) >= MAX_CHOICES:
        raise ValueError(text)
    return int(text)


def _shot_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= SHOOT_SIZE[1]:
        raise ValueError(text)
    return int(text)


def _id(text: str) -> str:
    if not _ID.match(text):
        raise ValueError(text)
    return text


# Each argument is parsed by its field name: one rule per kind of value, wherever it appears.
_PARSERS: dict[str, Callable[[str], object]] = {
    "asset_id": _id, "job_id": _id, "persona_id": _row_id, "token": _id, "index": _index,
    "motion": _choice(MOTIONS), "platform": _choice(PRESETS), "number": _shot_number,
}


def encode(action: Action) -> str:
    """The button data for ``action``; ``ValueError`` when it would not fit a Telegram button."""
    args = [str(getattr(action, f.name)) for f in dataclasses.fields(action) if getattr(action, f.name) is not None]
    data = ":".join([action.verb, *args])
    if len(data.encode()) > MAX_ACTION_BYTES:
        raise ValueError(f"button data {data!r} exceeds {MAX_ACTION_BYTES} bytes")
    return data


def decode(data: str) -> Action:
    """The action behind button data; ``ExpiredButton`` for anything that is not one of ours."""
    verb, *args = data.split(":")
    cls = _BY_VERB.get(verb)
    if cls is None or len(data.encode()) > MAX_ACTION_BYTES:
        raise ExpiredButton()
    fields = dataclasses.fields(cls)
    required = sum(1 for f in fields if f.default is dataclasses.MISSING)
    if not required <= len(args) <= len(fields):
        raise ExpiredButton()
    try:
        values = {f.name: _PARSERS[f.name](arg) for f, arg in zip(fields, args, strict=False)}
    except ValueError:
        raise ExpiredButton() from None
    action: Action = cls(**values)
    return action


def button(label: str, action: Action) -> Button:
    """A button that comes back as ``action``."""
    return Button(label, encode(action))
