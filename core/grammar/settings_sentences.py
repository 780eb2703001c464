"""Settings in plain words: "set my default aspect ratio to 4:5", "always make two versions", "use tiktok by
default", "reset my motion"."""

from __future__ import annotations

import re

from core.errors import UsageError
from core.grammar import commands as c
from core.grammar import phrases as p
from core.grammar.options import PLATFORM_ALIASES

# The words people use for each /settings key.
KEY_WORDS = {
    "ar": r"aspect(?:\s+ratio)?|ratio|format|shape|orientation|image\s+size",
    "n": r"number\s+of\s+(?:images|pictures|versions|photos)|(?:image|picture|version)\s+count|versions|count",
    "steps": r"(?:denoising\s+|sampling\s+)?steps",
    "platform": r"platform|social\s+network|network",
    "motion": r"(?:camera\s+)?(?:motion|move(?:ment)?)|animation\s+style",
    "seconds": r"(?:video\s+|clip\s+|animation\s+)?(?:length|duration)|seconds",
}
_KEY = "|".join(f"(?P<{key}>{words})" for key, words in KEY_WORDS.items())
_SET = (
    # "set my default aspect ratio to 4:5", "change the motion to orbit", "make my default length 6 seconds"
    re.compile(rf"^(?:please\s+)?(?:set|change|make|switch|update)\s+(?:my\s+|the\s+)?(?:default\s+)?(?:{_KEY})"
               rf"(?:\s+default)?\s+(?:to|=|at|as|is)?\s*(?P<value>.+)$", re.IGNORECASE),
    # "default motion orbit", "my default platform is tiktok"
    re.compile(rf"^(?:my\s+)?default\s+(?:{_KEY})\s+(?:is\s+|should\s+be\s+|=\s*|to\s+)?(?P<value>.+)$",
               re.IGNORECASE),
    # "use tiktok by default", "make 4:5 my default", "use orbit as my default motion"
    re.compile(rf"^(?:please\s+)?(?:use|make|set)\s+(?P<value>.+?)\s+(?:as\s+|by\s+)?(?:my\s+|the\s+)?default"
               rf"(?:\s+(?:{_KEY}))?$", re.IGNORECASE),
    # "always use 4:5", "from now on make two versions", "by default animate with a zoom out"
    re.compile(r"^(?:always|from now on|by default|in future|in the future)\s*,?\s*(?:please\s+)?"
               r"(?:use|make|do|give me|animate with|animate)\s+(?P<value>.+)$", re.IGNORECASE),
)
_RESET = re.compile(rf"^(?:please\s+)?(?:reset|clear|forget|remove|unset|drop)\s+(?:my\s+|the\s+)?"
                    rf"(?:default\s+)?(?:{_KEY})(?:\s+(?:default|setting))?$", re.IGNORECASE)


def settings_sentence(text: str) -> c.SettingsCmd | None:
    """The /settings change a sentence asks for, None when it is not about settings."""
    text = text.strip(" .!")
    if match := _RESET.match(text):
        return c.SettingsCmd(key=_key(match), value="default")
    for pattern in _SET:
        if match := pattern.match(text):
            key = _key(match)
            value = match.group("value").strip(" .!")
            if key is None:
                key, value = _guess(value)
            else:
                value = _value(key, value)
            return c.SettingsCmd(key=key, value=value)
    return None


def _key(match: re.Match[str]) -> str | None:
    return next((key for key in KEY_WORDS if match.groupdict().get(key)), None)


def _value(key: str, value: str) -> str:
    """The value in the form /settings takes ("6 seconds" → "6", "portrait" → "4:5", "two" → "2")."""
    if key in ("seconds", "n", "steps"):
        found = re.match(rf"^{p._NUMBER}(?:\s+\w+)?$", value, re.IGNORECASE)
        return str(p.number(found.group(1))) if found else value
    if key == "ar":
        aspect, _ = p.take_aspect(value)
        return aspect or value
    if key == "motion":
        motion, rest = p.take_motion(value)
        return motion if motion and not p.tidy(rest) else value.replace(" ", "-")
    return value


def _guess(value: str) -> tuple[str, str]:
    """The setting a bare value belongs to: "4:5" is an aspect ratio, "tiktok" a platform, "orbit" a motion."""
    count, rest = p.take_count(value)
    if count is not None and not p.tidy(rest):
        return "n", str(count)
    seconds, rest = p.take_seconds(value)
    if seconds is not None and not p.tidy(rest):
        return "seconds", f"{seconds:g}"
    if found := re.fullmatch(rf"{p._NUMBER}\s+steps", value, re.IGNORECASE):
        return "steps", str(p.number(found.group(1)))
    aspect, rest = p.take_aspect(value)
    if aspect is not None and not p.tidy(rest):
        return "ar", aspect
    if value.lower() in PLATFORM_ALIASES:
        return "platform", value
    motion, rest = p.take_motion(value)
    if motion is None and (match := re.fullmatch(r"(?:an?\s+)?([a-z]+-[a-z]+|orbit)(?:\s+motion)?", value, re.I)):
        motion, rest = match.group(1).lower(), ""
    if motion is not None and not p.tidy(rest):
        return "motion", motion
    raise UsageError(f"I can't tell which default “{value}” is. Use /settings <key> <value> with ar, n, steps, "
                     "platform, motion or seconds, e.g. /settings ar 4:5.")
