"""The typed commands every front end hands the assistant: one frozen dataclass per thing a user can ask for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Start:
    """/start: greeting and the short tour."""


@dataclass(frozen=True)
class Help:
    """/help [command]."""

    topic: str | None = None


@dataclass(frozen=True)
class PersonaNew:
    """/persona new <name>; photos sent with it are kept until the owner consents."""

    name: str


@dataclass(frozen=True)
class PersonaList:
    pass


@dataclass(frozen=True)
class PersonaShow:
    name: str


@dataclass(frozen=True)
class PersonaDelete:
    name: str


@dataclass(frozen=True)
class PersonaRename:
    old: str
    new: str


@dataclass(frozen=True)
class PersonaTrain:
    name: str


@dataclass(frozen=True)
class PersonaSet:
    """/persona set <name> style <notes> | shoot-size <4-12> | platform <p>; ``value`` None puts the default back."""

    name: str
    key: str  # one of options.PERSONA_SETTINGS' values
    value: str | None = None


@dataclass(frozen=True)
class WardrobeSave:
    """/wardrobe save [<persona>:] <name> <description>, or with a photo of the outfit.

    ``photo`` is the digest of a photo already checked and stored, set by the assistant when it asks whose outfit
    it is (the photo cannot ride on a button); typed commands never carry one.
    """

    name: str
    description: str = ""
    persona: str | None = None
    photo: str | None = None


@dataclass(frozen=True)
class WardrobeList:
    """/wardrobe list [<persona>]: one persona's outfits, else every persona's."""

    persona: str | None = None


@dataclass(frozen=True)
class WardrobeDelete:
    name: str
    persona: str | None = None


@dataclass(frozen=True)
class Done:
    """/done: finish the photo collection of a new persona."""


@dataclass(frozen=True)
class Consent:
    """/consent: the owner confirms the photos show them or someone who agreed."""


@dataclass(frozen=True)
class Abort:
    """/cancel with no job id: leave the current dialogue, else stop the job in progress (asking which when
    there are several)."""


@dataclass(frozen=True)
class Imagine:
    prompt: str
    persona: str | None = None
    aspect_ratio: str | None = None
    n: int | None = None  # None: the user's default (/settings n), else 1
    seed: int | None = None
    steps: int | None = None
    template: str | None = None
    platform: str | None = None
    negative: str | None = None


@dataclass(frozen=True)
class Animate:
    """/animate: the named image, else the replied-to or attached one, else the newest (of ``persona`` when
    given: "make a video of Mia")."""

    asset: str | None = None
    motion: str | None = None
    seconds: float | None = None
    persona: str | None = None


@dataclass(frozen=True)
class Swap:
    persona: str
    asset: str | None = None


@dataclass(frozen=True)
class Shoot:
    """/shoot <persona> [N] <scene>: N shots of one scene (``None``: the shoot size default)."""

    persona: str
    scene: str
    n: int | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    platform: str | None = None


@dataclass(frozen=True)
class Export:
    platform: str
    assets: tuple[str, ...] = ()
    last: int | None = None


@dataclass(frozen=True)
class Gallery:
    n: int = 10


@dataclass(frozen=True)
class Jobs:
    pass


@dataclass(frozen=True)
class CancelJob:
    """/cancel <job>: ``job_id`` is a whole id or a prefix of one (``/jobs`` shows eight characters)."""

    job_id: str


@dataclass(frozen=True)
class CancelAll:
    """/cancel all: every queued and running job of the user."""


@dataclass(frozen=True)
class SettingsCmd:
    key: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Web:
    revoke: bool = False


@dataclass(frozen=True)
class Echo:
    """/echo <text> [--seconds N]: a no-model job that exercises the whole path."""

    text: str
    seconds: float = 0.0


@dataclass(frozen=True)
class TemplateCmd:
    """/template list | show <name> | save <name> <text> | delete <name>."""

    action: str = "list"
    name: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Link:
    """/link [code]: get a code on one platform, send it on the other to share personas."""

    code: str | None = None


@dataclass(frozen=True)
class Info:
    """/info <asset>: how a result was made, its likeness and what provenance it carries."""

    asset: str


@dataclass(frozen=True)
class Verify:
    """/verify with a file: what it carries (Content Credentials, AI label, watermark)."""


@dataclass(frozen=True)
class Choice:
    """One answer to an ``Ask``: the button's label and the command it runs."""

    label: str
    command: Command


@dataclass(frozen=True)
class Ask:
    """A sentence that could mean several things: rather than guess, the question and one button per meaning."""

    question: str
    choices: tuple[Choice, ...]


Command = (
    Start | Help | PersonaNew | PersonaList | PersonaShow | PersonaDelete | PersonaRename | PersonaTrain
    | PersonaSet | WardrobeSave | WardrobeList | WardrobeDelete | Done | Consent | Abort | Imagine | Animate | Swap
    | Shoot | Export | Gallery | Jobs | CancelJob | CancelAll
    | SettingsCmd | Web | Echo | Link | TemplateCmd | Info | Verify | Ask
)
# Every command type by its class name, to store a question's choices and read them back.
COMMAND_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    Start, Help, PersonaNew, PersonaList, PersonaShow, PersonaDelete, PersonaRename, PersonaTrain, PersonaSet,
    WardrobeSave, WardrobeList, WardrobeDelete, Done, Consent,
    Abort, Imagine, Animate, Swap, Shoot, Export, Gallery, Jobs, CancelJob, CancelAll, SettingsCmd, Web, Echo, Link,
    TemplateCmd, Info, Verify,
)}


def to_data(command: Command) -> dict[str, Any]:
    """``command`` as JSON values: a question's choices wait in the user's dialogue until a button is pressed."""
    if isinstance(command, Ask):
        raise ValueError("a question is not stored inside another question")
    return {"type": type(command).__name__, **{f.name: getattr(command, f.name) for f in fields(command)}}


def from_data(data: Mapping[str, Any]) -> Command:
    """The command ``to_data`` stored; ``ValueError`` for anything else (an older release's, a garbled one)."""
    cls = COMMAND_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"no command type {data.get('type')!r}")
    values = {}
    for f in fields(cls):
        if f.name in data:
            value = data[f.name]
            # JSON has no tuples: a stored list goes back into the tuple field it came from.
            values[f.name] = tuple(value) if isinstance(value, list) and str(f.type).startswith("tuple") else value
    try:
        command: Command = cls(**values)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return command
