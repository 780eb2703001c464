"""The conversation grammar: slash commands and plain sentences parsed into typed commands.

Every front end feeds text through ``parse``; it either returns a command or raises ``UsageError`` whose
message is a short, specific hint (never a stack trace).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass, field

from core.errors import UsageError
from core.limits import ANIMATE_SECONDS, MAX_PROMPT_CHARS, MOTIONS
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
ASSET_ID_RE = re.compile(r"^[0-9a-f]{6,32}$")


# ---- commands --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """/start: greeting and the short tour."""


@dataclass(frozen=True)
class Help:
    """/help [command]."""

    topic: str | None = None


@dataclass(frozen=True)
class PersonaNew:
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
class Done:
    """/done: finish the photo collection of a new persona."""


@dataclass(frozen=True)
class Consent:
    """/consent: the owner confirms the photos show them or someone who agreed."""


@dataclass(frozen=True)
class Abort:
    """/cancel with no job id: abort the current multi-step dialogue."""


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
    asset: str | None = None
    motion: str | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Swap:
    persona: str
    asset: str | None = None


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
    job_id: str


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


Command = (
    Start | Help | PersonaNew | PersonaList | PersonaShow | PersonaDelete | PersonaRename | PersonaTrain
    | Done | Consent | Abort | Imagine | Animate | Swap | Export | Gallery | Jobs | CancelJob | SettingsCmd
    | Web | Echo | Link | TemplateCmd
)


@dataclass
class _Options:
    values: dict[str, str] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)


# ---- entry point -----------------------------------------------------------------------------------


def parse(text: str, *, persona_names: Collection[str] = (), bot_username: str | None = None) -> Command:
    """The command ``text`` stands for; raises ``UsageError`` with a hint when it cannot be placed."""
    text = _normalise(text)
    if not text:
        raise UsageError("Send a command or a sentence, e.g. /imagine a portrait in golden light. /help lists all.")
    if text.startswith("/"):
        return _parse_slash(text, persona_names=persona_names, bot_username=bot_username)
    return _parse_sentence(text, persona_names=persona_names)


def _normalise(text: str) -> str:
    # Phones turn "--" into an em or en dash; accept both so options typed on a phone still work.
    text = text.replace("\u2014", "--").replace("\u2013", "--")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    return text.strip()


def _parse_slash(text: str, *, persona_names: Collection[str], bot_username: str | None) -> Command:
    head, _, rest = text.partition(" ")
    name = head[1:]
    if "@" in name:  # /imagine@StudioBot in groups
        name, _, addressed = name.partition("@")
        if bot_username and addressed.lower() != bot_username.lower():
            raise UsageError("That command was for another bot.")
    name = name.lower()
    rest = rest.strip()
    handler = _SLASH.get(name)
    if handler is None:
        suggestion = _closest(name, list(_SLASH))
        hint = f" Did you mean /{suggestion}?" if suggestion else ""
        raise UsageError(f"I don't know /{name}.{hint} /help lists the commands.")
    return handler(rest, persona_names)


# ---- slash command parsers -------------------------------------------------------------------------


def _p_start(rest: str, _names: Collection[str]) -> Command:
    return Start()


def _p_help(rest: str, _names: Collection[str]) -> Command:
    topic = rest.lstrip("/").split(" ")[0].lower() or None
    return Help(topic=topic)


def _p_persona(rest: str, _names: Collection[str]) -> Command:
    words = _split(rest)
    if not words:
        raise UsageError(
            "Use /persona new <name>, list, show <name>, rename <old> <new>, delete <name> or train <name>."
        )
    action, args = words[0].lower(), words[1:]
    if action == "list":
        return PersonaList()
    if action in ("new", "create", "add"):
        return PersonaNew(name=_name(" ".join(args), "persona new"))
    if action in ("show", "delete", "remove", "train"):
        target = _name(" ".join(args), f"persona {action}")
        if action == "show":
            return PersonaShow(target)
        if action == "train":
            return PersonaTrain(target)
        return PersonaDelete(target)
    if action == "rename":
        if len(args) != 2:
            raise UsageError("Use /persona rename <old> <new> (quote names with spaces).")
        return PersonaRename(old=_name(args[0], "persona rename"), new=_name(args[1], "persona rename"))
    raise UsageError(f"/persona {action} is not a thing. Try new, list, show, rename, delete or train.")


def _p_imagine(rest: str, names: Collection[str]) -> Command:
    opts = _options(
        rest,
        {"ar": 1, "aspect": 1, "n": 1, "seed": 1, "steps": 1, "template": 1, "platform": 1, "no": -1},
    )
    prompt = " ".join(opts.words).strip()
    persona: str | None = None
    if ":" in prompt.split(" ")[0] or re.match(r"^[^:]{1,32}:\s", prompt):
        head, _, tail = prompt.partition(":")
        if not AR_RE.match(head.strip()):
            persona, prompt = _name(head.strip(), "imagine"), tail.strip()
    elif names:
        persona, prompt = _leading_persona(prompt, names)
    if not prompt:
        raise UsageError("Say what to draw: /imagine [persona:] <prompt>, e.g. /imagine Ava: reading in a café.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UsageError(f"That prompt is {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    return Imagine(
        prompt=prompt,
        persona=persona,
        aspect_ratio=aspect_option(opts.values.get("ar") or opts.values.get("aspect")),
        n=int_option(opts.values.get("n"), "--n", 1, 4, default=None),
        seed=int_option(opts.values.get("seed"), "--seed", 0, 2**32 - 1, default=None),
        steps=int_option(opts.values.get("steps"), "--steps", 1, 100, default=None),
        template=opts.values.get("template"),
        platform=platform_option(opts.values["platform"]) if "platform" in opts.values else None,
        negative=opts.values.get("no") or None,
    )


def _p_animate(rest: str, _names: Collection[str]) -> Command:
    opts = _options(rest, {"motion": 1, "seconds": 1})
    motion = opts.values.get("motion")
    seconds = opts.values.get("seconds")
    assets: list[str] = []
    # Bare words are forgiven: "/animate zoom-in 5s" means what "--motion zoom-in --seconds 5" does.
    for word in opts.words:
        if word.lower() in MOTIONS and motion is None:
            motion = word
        elif re.fullmatch(r"\d{1,2}(?:\.\d+)?s", word.lower()) and seconds is None:
            seconds = word
        elif ASSET_ID_RE.match(word.lower().lstrip("#")):
            assets.append(_asset_ref(word))
        else:
            raise UsageError(f"{word!r} is neither an image id (see /gallery) nor a motion "
                             f"({', '.join(MOTIONS)}).")
    if len(assets) > 1:
        raise UsageError("/animate takes one image id, e.g. /animate #1a2b3c4d --motion zoom-in.")
    return Animate(
        asset=assets[0] if assets else None,
        motion=motion_option(motion, "--motion") if motion is not None else None,
        seconds=seconds_option(seconds, "--seconds") if seconds is not None else None,
    )


def _p_swap(rest: str, _names: Collection[str]) -> Command:
    words = _split(rest)
    if not words:
        raise UsageError("Use /swap <persona> with a photo or video attached (or as a reply to one).")
    asset = _asset_ref(words[1]) if len(words) > 1 else None
    return Swap(persona=_name(words[0], "swap"), asset=asset)


def _p_export(rest: str, _names: Collection[str]) -> Command:
    words = _split(rest)
    if not words:
        raise UsageError(f"Use /export <platform> [asset ids | last N]; platforms: {', '.join(PLATFORMS)}.")
    # Two-word names ("youtube shorts", "tik tok") before one-word ones, so the second word is not an asset id.
    if len(words) > 1 and f"{words[0]} {words[1]}".lower() in PLATFORM_ALIASES:
        platform, args = platform_option(f"{words[0]} {words[1]}"), words[2:]
    else:
        platform, args = platform_option(words[0]), words[1:]
    if len(args) == 2 and args[0].lower() == "last":
        return Export(platform=platform, last=int_option(args[1], "last", 1, 50, default=1))
    return Export(platform=platform, assets=tuple(_asset_ref(a) for a in args), last=None if args else 1)


def _p_gallery(rest: str, _names: Collection[str]) -> Command:
    return Gallery(n=int_option(rest or None, "gallery size", 1, 50, default=10))


def _p_jobs(rest: str, _names: Collection[str]) -> Command:
    return Jobs()


def _p_cancel(rest: str, _names: Collection[str]) -> Command:
    if not rest:
        return Abort()
    job_id = rest.split()[0].lower()
    if not JOB_ID_RE.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id; /jobs lists yours.")
    return CancelJob(job_id=job_id)


def _p_done(rest: str, _names: Collection[str]) -> Command:
    return Done()


def _p_consent(rest: str, _names: Collection[str]) -> Command:
    return Consent()


def _p_settings(rest: str, _names: Collection[str]) -> Command:
    words = _split(rest)
    if not words:
        return SettingsCmd()
    if len(words) == 1:
        return SettingsCmd(key=words[0].lower())
    return SettingsCmd(key=words[0].lower(), value=" ".join(words[1:]))


def _p_web(rest: str, _names: Collection[str]) -> Command:
    word = rest.strip().lower()
    if word in ("", "link"):
        return Web()
    if word == "revoke":
        return Web(revoke=True)
    raise UsageError("Use /web for your downloads link, or /web revoke to invalidate every link sent so far.")


def _p_echo(rest: str, _names: Collection[str]) -> Command:
    opts = _options(rest, {"seconds": 1})
    text = " ".join(opts.words)
    if not text:
        raise UsageError("Use /echo <text> [--seconds N]; it runs a tiny job to check the service.")
    seconds = opts.values.get("seconds")
    return Echo(text=text[:500], seconds=_float(seconds, "--seconds", 0, 60) if seconds else 0.0)


def _p_link(rest: str, _names: Collection[str]) -> Command:
    code = rest.strip().upper() or None
    if code is not None and not re.fullmatch(r"[A-Z0-9]{6,12}", code):
        raise UsageError("A link code is 6-12 letters and digits, as /link showed it on your other account.")
    return Link(code=code)


def _p_template(rest: str, _names: Collection[str]) -> Command:
    action, _, tail = rest.strip().partition(" ")
    action = action.lower() or "list"
    name, _, text = tail.strip().partition(" ")
    if action == "list":
        return TemplateCmd()
    if action in ("show", "delete") and name:
        return TemplateCmd(action=action, name=name.lower())
    if action == "save" and name and text.strip():
        return TemplateCmd(action="save", name=name.lower(), text=text.strip())
    raise UsageError(
        "Use /template list, /template show <name>, /template delete <name>, or "
        "/template save <name> <text with {subject} and {prompt}>."
    )


_SLASH = {
    "start": _p_start,
    "help": _p_help,
    "persona": _p_persona,
    "personas": lambda rest, names: PersonaList(),
    "imagine": _p_imagine,
    "animate": _p_animate,
    "swap": _p_swap,
    "export": _p_export,
    "gallery": _p_gallery,
    "jobs": _p_jobs,
    "cancel": _p_cancel,
    "done": _p_done,
    "consent": _p_consent,
    "settings": _p_settings,
    "web": _p_web,
    "echo": _p_echo,
    "link": _p_link,
    "template": _p_template,
    "templates": lambda rest, names: TemplateCmd(),
}
COMMAND_NAMES = tuple(name for name in _SLASH if name not in ("personas", "templates"))


# ---- plain sentences -------------------------------------------------------------------------------

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "a couple of": 2, "a few": 3, "single": 1}
_COUNT_RE = re.compile(
    r"(?:,\s*)?\b(\d|one|two|three|four|a couple of|a few|single)\s+"
    r"(?:versions?|variants?|variations?|images?|pictures?|pics?|shots?|options?|takes?)\b",
    re.IGNORECASE,
)
_AR_IN_TEXT = re.compile(r"(?:,\s*)?\b(\d{1,2})\s*[:x×]\s*(\d{1,2})\b")
_SHAPES = {"square": "1:1", "portrait": "4:5", "vertical": "9:16", "landscape": "16:9", "widescreen": "16:9"}
_SHAPE_RE = re.compile(r"(?:,\s*)?\b(square|portrait|vertical|landscape|widescreen)(?:\s+format)?\b", re.IGNORECASE)
_IMAGINE_LEAD = re.compile(
    r"^(?:please\s+)?(?:can you\s+|could you\s+)?"
    r"(?:imagine|generate|make|create|draw|render|paint|show me|give me|i want|i'd like)\s+"
    r"(?:me\s+)?(?:an?\s+)?(?:(?:image|picture|photo|pic|portrait|shot)s?\s+of\s+)?",
    re.IGNORECASE,
)
_NEW_PERSONA = re.compile(
    r"^(?:please\s+)?(?:create|make|start|add|set up)\s+(?:a\s+)?(?:new\s+)?persona\s+"
    r"(?:called\s+|named\s+)?[\"']?([\w .'-]{1,32}?)[\"']?[.!]?$",
    re.IGNORECASE,
)


def _parse_sentence(text: str, *, persona_names: Collection[str]) -> Command:
    lowered = text.lower().strip(" .!?")
    if lowered in ("help", "what can you do", "commands", "how does this work"):
        return Help()
    if lowered in ("hi", "hello", "hey", "start"):
        return Start()
    if lowered in ("done", "that's all", "thats all", "finished"):
        return Done()
    if lowered in ("yes", "i agree", "i consent", "agree", "consent", "yes i agree"):
        return Consent()
    if lowered in ("cancel", "stop", "abort", "never mind", "nevermind"):
        return Abort()
    if re.fullmatch(r"(?:list |show )?(?:my )?personas|who are my personas", lowered):
        return PersonaList()
    if re.fullmatch(r"(?:show |list )?(?:my )?(?:jobs|queue)|what'?s running", lowered):
        return Jobs()
    if match := re.fullmatch(r"(?:show )?(?:my )?(?:gallery|images|pictures|last (\d+)(?: images)?)", lowered):
        return Gallery(n=int_option(match.group(1), "gallery size", 1, 50, default=10))
    if match := _NEW_PERSONA.match(text):
        return PersonaNew(name=_name(match.group(1).strip(), "persona new"))
    if re.match(r"^(?:animate|make (?:it|this|that) move|turn (?:it|this|that) into a video)\b", lowered):
        return _animate_from_sentence(lowered)
    if match := re.match(r"^export\b.*?\b(?:for|to)\s+([a-z ]+?)\s*$", lowered):
        return Export(platform=platform_option(match.group(1)), last=1)
    if match := re.match(r"^(?:swap|put)\s+(?:in\s+)?([\w'-]+?)(?:'s)?(?:\s+face)?\b", text, re.IGNORECASE):
        candidate = match.group(1)
        if _known(candidate, persona_names):
            return Swap(persona=_known(candidate, persona_names) or candidate)
    lead = _IMAGINE_LEAD.match(text)
    body = text[lead.end():] if lead else text
    return _imagine_from_sentence(body, persona_names, explicit=lead is not None)


# Motion words people type ("zoom in", "a slow pan to the left", "with AI") → the preset names of MOTIONS.
_SENTENCE_MOTIONS = (
    (re.compile(r"\bzoom(?:s|ing)?[\s-]*in\b|\bpush[\s-]*in\b"), "zoom-in"),
    (re.compile(r"\bzoom(?:s|ing)?[\s-]*out\b|\bpull[\s-]*(?:out|back)\b"), "zoom-out"),
    (re.compile(r"\bpan(?:s|ning)?[\s-]*(?:to\s+the\s+)?left\b"), "pan-left"),
    (re.compile(r"\bpan(?:s|ning)?[\s-]*(?:to\s+the\s+)?right\b"), "pan-right"),
    (re.compile(r"\btilt(?:s|ing)?[\s-]*up\b"), "tilt-up"),
    (re.compile(r"\btilt(?:s|ing)?[\s-]*down\b"), "tilt-down"),
    (re.compile(r"\borbit(?:s|ing)?\b"), "orbit"),
    (re.compile(r"\b(?:with|using|by)\s+(?:the\s+)?ai\b|\bai\s+motion\b"), "ai"),
)


def _animate_from_sentence(lowered: str) -> Animate:
    """"animate #1a2b3c4d with a zoom in for 5 seconds": the id, motion and length are all optional."""
    seconds = re.search(r"(\d{1,2}(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", lowered)
    asset = re.search(r"#([0-9a-f]{6,32})\b", lowered)
    motion = next((name for pattern, name in _SENTENCE_MOTIONS if pattern.search(lowered)), None)
    return Animate(
        asset=asset.group(1) if asset else None,
        motion=motion,
        seconds=seconds_option(seconds.group(1), "seconds") if seconds else None,
    )


_OF_RE = re.compile(r"^(?:(?:an?|the|some)\s+)?(?:(?:images?|pictures?|photos?|pics?|portraits?|shots?)\s+)?of\s+",
                    re.IGNORECASE)


def _imagine_from_sentence(body: str, persona_names: Collection[str], *, explicit: bool) -> Imagine:
    n: int | None = None
    if match := _COUNT_RE.search(body):
        word = match.group(1).lower()
        n = int(word) if word.isdigit() else _NUMBER_WORDS[word]
        body = body[: match.start()] + " " + body[match.end():]
    aspect = None
    if match := _AR_IN_TEXT.search(body):
        aspect = f"{match.group(1)}:{match.group(2)}"
        body = body[: match.start()] + " " + body[match.end():]
    elif match := _SHAPE_RE.search(body):
        aspect = _SHAPES[match.group(1).lower()]
        body = body[: match.start()] + " " + body[match.end():]
    platform = None
    if match := re.search(r"(?:,\s*)?\bfor\s+(instagram|insta|tiktok|youtube shorts|youtube|twitter|x|facebook)\b",
                          body, re.IGNORECASE):
        platform = platform_option(match.group(1))
        body = body[: match.start()] + " " + body[match.end():]
    body = _OF_RE.sub("", re.sub(r"\s+", " ", body).strip(" ,.;"))
    persona, body = _leading_persona(body, persona_names)
    if not explicit and persona is None:
        raise UsageError(
            "I didn't catch that. Try “/imagine a portrait in soft light”, start with a persona's name "
            "(“Ava on a beach at sunset, 4:5”), or send /help."
        )
    if n is not None and not 1 <= n <= 4:
        raise UsageError(f"I can make 1 to 4 versions at a time, not {n}.")
    prompt = body.strip(" ,.;")
    if not prompt:
        raise UsageError("Tell me what the picture should show, e.g. “Ava on a rooftop at night”.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UsageError(f"That prompt is {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    return Imagine(prompt=prompt, persona=persona, aspect_ratio=aspect_option(aspect), n=n, platform=platform)


# ---- small parsers ---------------------------------------------------------------------------------


def _split(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError:
        raise UsageError("A quote is not closed; check the \" marks.") from None


def _options(rest: str, spec: dict[str, int]) -> _Options:
    """Split ``--name value`` options (arity 1, or -1 for 'the rest up to the next option') from words."""
    opts = _Options()
    tokens = _split(rest)
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


def _name(value: str, where: str) -> str:
    value = value.strip().strip("\"'")
    if not value:
        raise UsageError(f"/{where} needs a name.")
    if not NAME_RE.match(value):
        raise UsageError("Names are 1-32 letters, digits, spaces, dots, dashes or apostrophes.")
    return value


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


def _float(value: str, label: str, low: float, high: float) -> float:
    try:
        number = float(value.rstrip("s"))
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
    return _float(value, label, *ANIMATE_SECONDS)


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


def _asset_ref(value: str) -> str:
    ref = value.strip().lower().lstrip("#")
    if not ASSET_ID_RE.match(ref):
        raise UsageError(f"{value!r} is not an asset id; /gallery shows ids under each item.")
    return ref


def _known(candidate: str, names: Collection[str]) -> str | None:
    folded = candidate.casefold()
    for name in names:
        if name.casefold() == folded:
            return name
    return None


def _leading_persona(text: str, names: Collection[str]) -> tuple[str | None, str]:
    """Split a leading persona name (longest match first, any case) from the prompt."""
    for name in sorted(names, key=len, reverse=True):
        pattern = re.compile(rf"^{re.escape(name)}(?:'s)?(?=[\s,:]|$)[\s,:]*", re.IGNORECASE)
        if match := pattern.match(text):
            return name, text[match.end():].strip()
    return None, text


def _closest(name: str, options: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return found[0] if found else None
