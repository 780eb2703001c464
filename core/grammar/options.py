"""Option parsers shared by typed text and typed options (Discord's): each checks one kind of value and raises
``UsageError`` with the words a user sees, so a bad value is refused alike wherever it came from."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from core.errors import UsageError
from core.limits import (
    ANIMATE_SECONDS,
    MOTIONS,
    OUTFIT_DESCRIPTION_CHARS,
    OUTFIT_NAME_CHARS,
    SHOOT_SIZE,
    STYLE_NOTES_CHARS,
)
from core.prompts import PLATFORMS, parse_aspect_ratio

PLATFORM_ALIASES = {
    "ig": "instagram", "insta": "instagram", "instagram": "instagram", "reels": "instagram",
    "tiktok": "tiktok", "tt": "tiktok", "tik tok": "tiktok",
    "youtube": "youtube", "shorts": "youtube", "yt": "youtube", "youtube shorts": "youtube",
    "x": "x", "twitter": "x",
    "facebook": "facebook", "fb": "facebook",
}
NAME_RE = re.compile(r"^[\w][\w .'-]{0,31}$", re.UNICODE)
AR_RE = re.compile(r"^(\d{1,4})\s*[:x×/]\s*(\d{1,4})$")
JOB_ID_RE = re.compile(r"^[0-9a-f]{6,32}$")
# A job is named by its id or a prefix of it: /jobs and status messages show the first SHORT_ID characters.
JOB_PREFIX_RE = re.compile(r"^[0-9a-f]{4,32}$")
ASSET_ID_RE = re.compile(r"^[0-9a-f]{6,32}$")
LINK_CODE_RE = re.compile(r"^[A-Z0-9]{6,12}$")
NAME_HINT = "Names are 1-32 letters, digits, spaces, dots, dashes or apostrophes."
ASSET_HINT = "{value!r} is not an asset id; /gallery shows ids under each item."
FILE_LIKE_RE = re.compile(r"[/\\]|^~|\.[A-Za-z][A-Za-z0-9]{1,4}$")
FILE_HINT = "{value}: file not found. Check the path, or attach the photo or video to your message."
JOB_HINT = "{value!r} is not a job id; /jobs lists yours."
LINK_CODE_HINT = "A link code is 6-12 letters and digits, as /link showed it on your other account."
OUTFIT_NAME_RE = re.compile(r"^[^\W_][\w -]*$", re.UNICODE)
OUTFIT_HINT = "Outfit names are letters, digits, dashes or underscores, e.g. red-dress or denim_jacket."
# /persona set <name> <key> <value>: the words people use for each key → the key.
PERSONA_SETTINGS = {
    "style": "style", "style-notes": "style", "look": "style", "notes": "style",
    "shoot-size": "shoot-size", "shoot": "shoot-size", "size": "shoot-size", "shoot_size": "shoot-size",
    "platform": "platform",
}
CLEAR_WORDS = ("default", "none", "clear", "reset", "off")


@dataclass
class Options:
    """``--name value`` options and the other words of a command, in order."""

    values: dict[str, str] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)


def split(rest: str) -> list[str]:
    """Words as a shell splits them (quotes keep spaces); a quote left open is a hint, not an error."""
    try:
        return shlex.split(rest)
    except ValueError:
        raise UsageError("A quote is not closed; check the \" marks.") from None


def options(rest: str, spec: dict[str, int]) -> Options:
    """Split ``--name value`` options (arity 1, or -1 for 'the rest up to the next option') from words."""
    opts = Options()
    tokens = split(rest)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            key, eq, inline = token[2:].partition("=")
            key = key.lower()
            if key not in spec:
                known = ", ".join(f"--{k}" for k in spec)
                raise UsageError(f"--{key} is not an option here; use {known}.")
            if eq:
                opts.values[key] = inline
                i += 1
                continue
            if spec[key] == -1:
                j = i + 1
                while j < len(tokens) and not tokens[j].startswith("--"):
                    j += 1
                opts.values[key] = " ".join(tokens[i + 1 : j])
                i = j
                continue
            if i + 1 >= len(tokens):
                raise UsageError(f"--{key} needs a value.")
            opts.values[key] = tokens[i + 1]
            i += 2
            continue
        opts.words.append(token)
        i += 1
    return opts


def name_option(value: str, where: str) -> str:
    """A persona name (1-32 letters, digits, spaces, dots, dashes, apostrophes; quotes around it dropped);
    ``where`` names the command in the hint for a missing one."""
    name = value.strip().strip("\"'")
    if not name:
        raise UsageError(f"/{where} needs a name.")
    if not NAME_RE.match(name):
        raise UsageError(NAME_HINT)
    return name


def asset_option(value: str) -> str:
    """An asset id, with or without its ``#``, lower-cased; a file name or path there is a file not found (the
    console attaches the files it finds, so one left in the text does not exist)."""
    ref = value.strip().lower().lstrip("#")
    if ASSET_ID_RE.match(ref):
        return ref
    if FILE_LIKE_RE.search(value.strip()):
        raise UsageError(FILE_HINT.format(value=value.strip()))
    raise UsageError(ASSET_HINT.format(value=value))


def job_option(value: str) -> str:
    """A job id or a prefix of one (at least 4 characters), with or without its ``#``, lower-cased."""
    ref = value.strip().split()[0].lower().lstrip("#") if value.strip() else ""
    if not JOB_PREFIX_RE.match(ref):
        raise UsageError(JOB_HINT.format(value=ref or value))
    return ref


def link_code_option(value: str) -> str:
    """A link code as ``/link`` showed it (any case)."""
    code = value.strip().upper()
    if not LINK_CODE_RE.match(code):
        raise UsageError(LINK_CODE_HINT)
    return code


def int_option(value: str | None, label: str, low: int, high: int, *, default: int | None) -> int:
    """A whole number within bounds (``default`` when absent); raises ``UsageError`` naming ``label``."""
    if value is None:
        return default  # type: ignore[return-value]
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{label} must be a whole number from {low} to {high}, not {value!r}.") from None
    if not low <= number <= high:
        raise UsageError(f"{label} must be from {low} to {high}, not {number}.")
    return number


def float_option(value: str, label: str, low: float, high: float) -> float:
    """A number within bounds ("4", "4.5", "4s"); raises ``UsageError`` naming ``label``."""
    try:
        number = float(value.strip().rstrip("s"))
    except ValueError:
        raise UsageError(f"{label} must be a number from {low:g} to {high:g}, not {value!r}.") from None
    if not low <= number <= high:
        raise UsageError(f"{label} must be from {low:g} to {high:g}, not {number:g}.")
    return number


def motion_option(value: str, label: str = "motion") -> str:
    """A camera-motion preset name from ``MOTIONS`` (any case); raises ``UsageError`` naming ``label``."""
    motion = value.strip().lower()
    if motion not in MOTIONS:
        raise UsageError(f"{label} {value!r} is unknown; choose one of {', '.join(MOTIONS)}.")
    return motion


def seconds_option(value: str, label: str = "seconds") -> float:
    """An animation length from 2 to 10 seconds ("4", "4.5", "4s"); raises ``UsageError`` naming ``label``."""
    return float_option(value, label, *ANIMATE_SECONDS)


def aspect_option(value: str | None) -> str | None:
    """``W:H`` checked and normalised, or None; raises ``UsageError`` naming --ar."""
    if value is None:
        return None
    try:
        width, height = parse_aspect_ratio(value.replace("×", ":"))
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None
    return f"{width}:{height}"


def platform_option(value: str) -> str:
    """The canonical platform name for ``value`` (aliases like "ig" accepted); raises ``UsageError``."""
    key = value.strip().lower()
    if key in PLATFORM_ALIASES:
        return PLATFORM_ALIASES[key]
    raise UsageError(f"{value!r} is not a platform I export for; choose {', '.join(PLATFORMS)}.")


def outfit_name_option(value: str) -> str:
    """An outfit name as it is kept: 1-32 letters, digits, dashes or underscores (spaces, in quotes, become
    dashes, so the name is one word wherever it is typed later)."""
    name = value.strip().strip("\"'").strip()
    if not name:
        raise UsageError("Name the outfit, e.g. /wardrobe save red-dress a red satin slip dress.")
    if len(name) > OUTFIT_NAME_CHARS:
        raise UsageError(f"That outfit name is {len(name)} characters; keep it to {OUTFIT_NAME_CHARS}, "
                         "e.g. red-dress.")
    if not OUTFIT_NAME_RE.match(name):
        raise UsageError(OUTFIT_HINT)
    return re.sub(r"\s+", "-", name)


def outfit_description_option(value: str | None) -> str:
    """An outfit's description (empty allowed: a photo may stand in for it), within the length a prompt takes."""
    text = re.sub(r"\s+", " ", (value or "").strip()).strip(" :-,")
    if len(text) > OUTFIT_DESCRIPTION_CHARS:
        raise UsageError(f"That description is {len(text)} characters; keep it under {OUTFIT_DESCRIPTION_CHARS} "
                         "(what the outfit is, its colour and fabric).")
    return text


def persona_setting_option(key: str, value: str | None) -> tuple[str, str | None]:
    """(key, value) of ``/persona set``, checked: style notes, a shoot size of 4-12, a platform; a value of
    "default" (or none, clear, reset, off) or none at all puts the default back."""
    canonical = PERSONA_SETTINGS.get(key.strip().lower())
    if canonical is None:
        raise UsageError(f"{key!r} is not a persona setting; use style <notes>, shoot-size <{SHOOT_SIZE[0]}-"
                         f"{SHOOT_SIZE[1]}> or platform <name>.")
    text = re.sub(r"\s+", " ", (value or "").strip())
    if not text or text.lower() in CLEAR_WORDS:
        return canonical, None
    if canonical == "shoot-size":
        return canonical, str(int_option(text, "shoot size", *SHOOT_SIZE, default=None))
    if canonical == "platform":
        return canonical, platform_option(text)
    if len(text) > STYLE_NOTES_CHARS:
        raise UsageError(f"Those style notes are {len(text)} characters; keep them under {STYLE_NOTES_CHARS}: every "
                         "prompt of the persona carries them.")
    return canonical, text


def shoot_size_option(value: str | None, label: str = "A shoot") -> int | None:
    """How many shots a shoot makes (``SHOOT_SIZE``), or None when not given."""
    if value is None:
        return None
    low, high = SHOOT_SIZE
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{label} has {low} to {high} photos; {value!r} is not a number.") from None
    if not low <= number <= high:
        raise UsageError(f"{label} has {low} to {high} photos, not {number}. For fewer, use /imagine (up to 4).")
    return number
