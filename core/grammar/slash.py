"""Slash commands: ``/name rest`` → a typed command, one small parser per command."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection

from core.errors import UsageError
from core.grammar import commands as c
from core.grammar.options import (
    AR_RE,
    ASSET_ID_RE,
    FILE_LIKE_RE,
    PLATFORM_ALIASES,
    aspect_option,
    asset_option,
    float_option,
    int_option,
    job_option,
    link_code_option,
    motion_option,
    name_option,
    options,
    outfit_description_option,
    outfit_name_option,
    persona_setting_option,
    platform_option,
    seconds_option,
    shoot_size_option,
    split,
)
from core.limits import MAX_PROMPT_CHARS, MOTIONS
from core.prompts import PLATFORMS
from core.shots import SCENE_CHARS

Parser = Callable[[str, Collection[str]], c.Command]


def parse_slash(text: str, *, persona_names: Collection[str], bot_username: str | None) -> c.Command:
    """The command a ``/name …`` line stands for; ``UsageError`` with a hint otherwise."""
    head, _, rest = text.partition(" ")
    name = head[1:]
    if "@" in name:  # /imagine@StudioBot in groups
        name, _, addressed = name.partition("@")
        if bot_username and addressed.lower() != bot_username.lower():
            raise UsageError("That command was for another bot.")
    name = name.lower()
    handler = SLASH.get(name)
    if handler is None:
        found = difflib.get_close_matches(name, list(SLASH), n=1, cutoff=0.6)
        hint = f" Did you mean /{found[0]}?" if found else ""
        raise UsageError(f"I don't know /{name}.{hint} /help lists the commands.")
    return handler(rest.strip(), persona_names)


def known_persona(candidate: str, names: Collection[str]) -> str | None:
    """The persona called ``candidate`` (any case), as its owner spelt it."""
    folded = candidate.casefold()
    return next((name for name in names if name.casefold() == folded), None)


def leading_persona(text: str, names: Collection[str]) -> tuple[str | None, str]:
    """Split a leading persona name (longest match first, any case, "'s" allowed) from the rest."""
    for name in sorted(names, key=len, reverse=True):
        pattern = re.compile(rf"^{re.escape(name)}(?:'s)?(?=[\s,:]|$)[\s,:]*", re.IGNORECASE)
        if match := pattern.match(text):
            return name, text[match.end():].strip()
    return None, text


def _start(_rest: str, _names: Collection[str]) -> c.Command:
    return c.Start()


def _help(rest: str, _names: Collection[str]) -> c.Command:
    return c.Help(topic=rest.lstrip("/").split(" ")[0].lower() or None)


PERSONA_SET_HINT = ("Use /persona set <name> style <notes>, /persona set <name> shoot-size <4-12> or /persona set "
                    "<name> platform <platform>; 'default' as the value puts the default back.")
WARDROBE_HINT = ("Use /wardrobe save [<persona>:] <name> <description> (or send a photo of the outfit with that "
                 "caption), /wardrobe list [<persona>] or /wardrobe delete [<persona>:] <name>.")


def owner_prefix(text: str, names: Collection[str]) -> tuple[str | None, str]:
    """A persona named before the rest: one of ``names`` (any case, "'s" allowed), else "<name>: " as /imagine
    takes it."""
    persona, rest = leading_persona(text, names)
    if persona is not None:
        return persona, rest
    # Someone else's persona (or a typo) is still read as a persona, to be refused by name, not saved as an outfit.
    if match := re.match(r"^([^\s:\"']+)'s\s+", text):
        return name_option(match.group(1), "wardrobe"), text[match.end():].strip()
    match = re.match(r"^([^:\s\"][^:\"]{0,31}):\s*", text)
    if match and len(match.group(1).split()) <= 3:
        return name_option(match.group(1), "wardrobe"), text[match.end():].strip()
    return None, text


def first_word(text: str) -> tuple[str, str]:
    """The first word of ``text`` (or a quoted phrase) and the rest; a colon or comma after it is dropped."""
    text = text.strip()
    if match := re.match(r"^([\"'])(.+?)\1[:,]?(?:\s+|$)", text, re.DOTALL):
        return match.group(2), text[match.end():].strip()
    word, _, rest = text.partition(" ")
    return word.rstrip(":,"), rest.strip()


def _persona_set(rest: str, names: Collection[str]) -> c.Command:
    known, tail = leading_persona(rest, names)
    persona = known
    if persona is None:
        persona, tail = first_word(rest)
    key, value = first_word(tail)
    if not persona or not key:
        raise UsageError(PERSONA_SET_HINT)
    key, checked = persona_setting_option(key, value)
    return c.PersonaSet(name=name_option(persona, "persona set"), key=key, value=checked)


def _persona(rest: str, names: Collection[str]) -> c.Command:
    head, _, tail = rest.strip().partition(" ")
    if head.lower() == "set":  # before splitting: style notes may hold apostrophes ("Ava's signature look")
        return _persona_set(tail.strip(), names)
    words = split(rest)
    if not words:
        raise UsageError(
            "Use /persona new <name>, list, show <name>, rename <old> <new>, delete <name>, train <name> or set "
            "<name> style|shoot-size|platform <value>."
        )
    action, args = words[0].lower(), words[1:]
    if action == "list":
        return c.PersonaList()
    if action in ("new", "create", "add"):
        return c.PersonaNew(name=name_option(" ".join(args), "persona new"))
    if action in ("show", "delete", "remove", "train"):
        target = name_option(" ".join(args), f"persona {action}")
        if action == "show":
            return c.PersonaShow(target)
        if action == "train":
            return c.PersonaTrain(target)
        return c.PersonaDelete(target)
    if action == "rename":
        if len(args) != 2:
            raise UsageError("Use /persona rename <old> <new> (quote names with spaces).")
        return c.PersonaRename(old=name_option(args[0], "persona rename"), new=name_option(args[1], "persona rename"))
    raise UsageError(f"/persona {action} is not a thing. Try new, list, show, rename, delete, train or set.")


def _wardrobe(rest: str, names: Collection[str]) -> c.Command:
    action, _, tail = rest.strip().partition(" ")
    action, tail = action.lower(), tail.strip()
    if action in ("", "list", "show"):
        whose = tail.strip("\"'").removesuffix("'s").strip()
        return c.WardrobeList(persona=name_option(whose, "wardrobe list") if whose else None)
    if action not in ("save", "add", "delete", "remove"):
        raise UsageError(WARDROBE_HINT)
    owner, body = owner_prefix(tail, names)
    if action in ("save", "add"):
        name, description = first_word(body)
        return c.WardrobeSave(name=outfit_name_option(name), description=outfit_description_option(description),
                              persona=owner)
    return c.WardrobeDelete(name=outfit_name_option(body), persona=owner)


def _imagine(rest: str, names: Collection[str]) -> c.Command:
    opts = options(
        rest,
        {"ar": 1, "aspect": 1, "n": 1, "seed": 1, "steps": 1, "template": 1, "platform": 1, "no": -1},
    )
    prompt = " ".join(opts.words).strip()
    persona: str | None = None
    if ":" in prompt.split(" ")[0] or re.match(r"^[^:]{1,32}:\s", prompt):
        head, _, tail = prompt.partition(":")
        if not AR_RE.match(head.strip()):
            persona, prompt = name_option(head.strip(), "imagine"), tail.strip()
    elif names:
        persona, prompt = leading_persona(prompt, names)
    if not prompt:
        raise UsageError("Say what to draw: /imagine [persona:] <prompt>, e.g. /imagine Ava: reading in a café.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UsageError(f"That prompt is {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    return c.Imagine(
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


def _animate(rest: str, names: Collection[str]) -> c.Command:
    opts = options(rest, {"motion": 1, "seconds": 1})
    motion = opts.values.get("motion")
    seconds = opts.values.get("seconds")
    assets: list[str] = []
    persona: str | None = None
    # Bare words are forgiven: "/animate zoom-in 5s" means what "--motion zoom-in --seconds 5" does, and
    # "/animate Mia" animates Mia's newest image.
    for word in opts.words:
        if word.lower() in MOTIONS and motion is None:
            motion = word
        elif re.fullmatch(r"\d{1,2}(?:\.\d+)?s", word.lower()) and seconds is None:
            seconds = word
        elif ASSET_ID_RE.match(word.lower().lstrip("#")) or FILE_LIKE_RE.search(word):
            assets.append(asset_option(word))  # a path left in the text is a file not found
        elif persona is None and (found := known_persona(word.removesuffix("'s"), names)):
            persona = found
        else:
            raise UsageError(f"{word!r} is neither an image id (see /gallery) nor a motion "
                             f"({', '.join(MOTIONS)}).")
    if len(assets) > 1:
        raise UsageError("/animate takes one image id, e.g. /animate #1a2b3c4d --motion zoom-in.")
    return c.Animate(
        asset=assets[0] if assets else None,
        motion=motion_option(motion, "--motion") if motion is not None else None,
        seconds=seconds_option(seconds, "--seconds") if seconds is not None else None,
        persona=persona if not assets else None,
    )


def _swap(rest: str, _names: Collection[str]) -> c.Command:
    words = split(rest)
    if not words:
        raise UsageError("Use /swap <persona> with a photo or video attached (or as a reply to one).")
    asset = asset_option(words[1]) if len(words) > 1 else None
    return c.Swap(persona=name_option(words[0], "swap"), asset=asset)


SHOOT_USAGE = "Use /shoot <persona> [4-12] <scene>, e.g. /shoot Ava 8 on a beach at sunset in a red dress."


def _shoot(rest: str, names: Collection[str]) -> c.Command:
    opts = options(rest, {"ar": 1, "aspect": 1, "seed": 1, "platform": 1})
    text = " ".join(opts.words).strip()
    if not text:
        raise UsageError(SHOOT_USAGE)
    persona, scene = leading_persona(text, names) if names else (None, text)
    if persona is None:
        # Not one of the sender's personas (or none yet): the first word names it, and the assistant says
        # whether it exists, in the same words as every other command.
        words = split(text)
        persona, scene = name_option(words[0], "shoot"), " ".join(words[1:])
    count: int | None = None
    head, _, tail = scene.partition(" ")
    if re.fullmatch(r"\d{1,3}", head):
        count, scene = shoot_size_option(head), tail.strip()
    if not scene:
        raise UsageError(f"Where is {persona}'s shoot? {SHOOT_USAGE}")
    if len(scene) > SCENE_CHARS:
        raise UsageError(f"That scene is {len(scene)} characters; keep it under {SCENE_CHARS}.")
    return c.Shoot(
        persona=persona, scene=scene, n=count,
        aspect_ratio=aspect_option(opts.values.get("ar") or opts.values.get("aspect")),
        seed=int_option(opts.values.get("seed"), "--seed", 0, 2**32 - 1, default=None),
        platform=platform_option(opts.values["platform"]) if "platform" in opts.values else None,
    )


def _export(rest: str, _names: Collection[str]) -> c.Command:
    words = split(rest)
    if not words:
        raise UsageError(f"Use /export <platform> [asset ids | last N]; platforms: {', '.join(PLATFORMS)}.")
    # Two-word names ("youtube shorts", "tik tok") before one-word ones, so the second word is not an asset id.
    if len(words) > 1 and f"{words[0]} {words[1]}".lower() in PLATFORM_ALIASES:
        platform, args = platform_option(f"{words[0]} {words[1]}"), words[2:]
    else:
        platform, args = platform_option(words[0]), words[1:]
    if len(args) == 2 and args[0].lower() == "last":
        return c.Export(platform=platform, last=int_option(args[1], "last", 1, 50, default=1))
    return c.Export(platform=platform, assets=tuple(asset_option(a) for a in args), last=None if args else 1)


def _gallery(rest: str, _names: Collection[str]) -> c.Command:
    return c.Gallery(n=int_option(rest or None, "gallery size", 1, 50, default=10))


def _info(rest: str, _names: Collection[str]) -> c.Command:
    words = rest.split()
    if len(words) != 1:
        raise UsageError("Use /info <id>, e.g. /info #1a2b3c4d (/gallery shows the ids).")
    return c.Info(asset=asset_option(words[0]))


def _jobs(_rest: str, _names: Collection[str]) -> c.Command:
    return c.Jobs()


def _cancel(rest: str, _names: Collection[str]) -> c.Command:
    if not rest:
        return c.Abort()
    if rest.lower() in ("all", "everything"):
        return c.CancelAll()
    return c.CancelJob(job_id=job_option(rest))


def _done(_rest: str, _names: Collection[str]) -> c.Command:
    return c.Done()


def _consent(_rest: str, _names: Collection[str]) -> c.Command:
    return c.Consent()


def _settings(rest: str, _names: Collection[str]) -> c.Command:
    words = split(rest)
    if not words:
        return c.SettingsCmd()
    if len(words) == 1:
        return c.SettingsCmd(key=words[0].lower())
    return c.SettingsCmd(key=words[0].lower(), value=" ".join(words[1:]))


def _web(rest: str, _names: Collection[str]) -> c.Command:
    word = rest.strip().lower()
    if word in ("", "link"):
        return c.Web()
    if word == "revoke":
        return c.Web(revoke=True)
    raise UsageError("Use /web for your downloads link, or /web revoke to invalidate every link sent so far.")


def _echo(rest: str, _names: Collection[str]) -> c.Command:
    opts = options(rest, {"seconds": 1})
    text = " ".join(opts.words)
    if not text:
        raise UsageError("Use /echo <text> [--seconds N]; it runs a tiny job to check the service.")
    seconds = opts.values.get("seconds")
    return c.Echo(text=text[:500], seconds=float_option(seconds, "--seconds", 0, 60) if seconds else 0.0)


def _link(rest: str, _names: Collection[str]) -> c.Command:
    return c.Link(code=link_code_option(rest) if rest.strip() else None)


def _template(rest: str, _names: Collection[str]) -> c.Command:
    action, _, tail = rest.strip().partition(" ")
    action = action.lower() or "list"
    name, _, text = tail.strip().partition(" ")
    if action == "list":
        return c.TemplateCmd()
    if action in ("show", "delete") and name:
        return c.TemplateCmd(action=action, name=name.lower())
    if action == "save" and name and text.strip():
        return c.TemplateCmd(action="save", name=name.lower(), text=text.strip())
    raise UsageError(
        "Use /template list, /template show <name>, /template delete <name>, or "
        "/template save <name> <text with {subject} and {prompt}>."
    )


SLASH: dict[str, Parser] = {
    "start": _start,
    "help": _help,
    "persona": _persona,
    "personas": lambda rest, names: c.PersonaList(),
    "imagine": _imagine,
    "animate": _animate,
    "swap": _swap,
    "shoot": _shoot,
    "export": _export,
    "gallery": _gallery,
    "jobs": _jobs,
    "cancel": _cancel,
    "done": _done,
    "consent": _consent,
    "settings": _settings,
    "web": _web,
    "echo": _echo,
    "link": _link,
    "template": _template,
    "wardrobe": _wardrobe,
    "outfits": lambda rest, names: _wardrobe(f"list {rest}", names),
    "verify": lambda rest, names: c.Verify(),
    "info": _info,
    "templates": lambda rest, names: c.TemplateCmd(),
}
# Aliases are left out: these are the commands a platform's menu lists.
COMMAND_NAMES = tuple(name for name in SLASH if name not in ("personas", "templates", "outfits"))
