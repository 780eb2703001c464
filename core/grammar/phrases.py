"""The pieces of a plain sentence: counts, shapes, platforms, lengths, motions, ids and persona names.

Each ``take_*`` finds one piece and returns it with the sentence minus that piece, so what is left at the end
is the description the user wrote.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from core.grammar.options import PLATFORM_ALIASES

NUMBER_WORDS = {
    "one": 1, "single": 1, "a single": 1, "two": 2, "a couple of": 2, "a pair of": 2, "three": 3, "a few": 3,
    "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a dozen": 12,
}
_NUMBER = r"(\d{1,2}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + ")"
_COUNT_RE = re.compile(
    rf"(?:,\s*)?\b{_NUMBER}\s+(?:different\s+|more\s+)?"
    r"(?:versions?|variants?|variations?|images?|pictures?|pics?|photos?|shots?|options?|takes?|portraits?)\b",
    re.IGNORECASE,
)
_AR_RE = re.compile(r"(?:,\s*)?\b(\d{1,2})\s*[:x×]\s*(\d{1,2})\b")
SHAPES = {"square": "1:1", "portrait": "4:5", "vertical": "9:16", "landscape": "16:9", "widescreen": "16:9",
          "horizontal": "16:9", "tall": "9:16", "wide": "16:9"}
_SHAPE_RE = re.compile(r"(?:,\s*)?\b(?:in\s+)?(square|portrait|vertical|landscape|widescreen|horizontal)"
                       r"(?:\s+(?:format|orientation|shape|mode))?\b", re.IGNORECASE)
_PLATFORM_WORDS = "|".join(re.escape(a) for a in sorted(PLATFORM_ALIASES, key=len, reverse=True) if len(a) > 2)
_PLATFORM_RE = re.compile(rf"(?:,\s*)?\b(?:for|to|on)\s+(?:my\s+)?({_PLATFORM_WORDS}|x)\b", re.IGNORECASE)
_BARE_PLATFORM_RE = re.compile(rf"\b({_PLATFORM_WORDS})\b", re.IGNORECASE)
_SECONDS_RE = re.compile(rf"(?:,\s*)?\b(?:for\s+|of\s+|lasting\s+)?(?:about\s+)?{_NUMBER}[\s-]*"
                         r"(?:s|sec|secs|seconds?)\b(?:[\s-]+long)?", re.IGNORECASE)
_ASSET_TAG_RE = re.compile(r"#([0-9a-fA-F]{6,32})\b")
_LAST_RE = re.compile(rf"\b(?:my\s+|the\s+)?(?:last|latest|newest|most recent)\s+(?:{_NUMBER}\b|(one)\b)?",
                      re.IGNORECASE)
# Motion words people type ("zoom in", "a slow pan to the left", "with AI") → the preset names of MOTIONS.
_MOTIONS = (
    (r"zoom(?:s|ing)?[\s-]*in|push(?:es|ing)?[\s-]*in", "zoom-in"),
    (r"zoom(?:s|ing)?[\s-]*out|pull(?:s|ing)?[\s-]*(?:out|back)", "zoom-out"),
    (r"pan(?:s|ning)?[\s-]*(?:to\s+the\s+)?left", "pan-left"),
    (r"pan(?:s|ning)?[\s-]*(?:to\s+the\s+)?right", "pan-right"),
    (r"tilt(?:s|ing)?[\s-]*up", "tilt-up"),
    (r"tilt(?:s|ing)?[\s-]*down", "tilt-down"),
    (r"orbit(?:s|ing)?|(?:circle|circling|rotate|rotating)\s+around", "orbit"),
    (r"(?:with|using|by)\s+(?:the\s+)?ai|ai\s+motion|ai\s+video", "ai"),
)
_MOTION_RES = [(re.compile(rf"(?:,\s*)?(?:\b(?:with|using|and)\s+)?(?:\ban?\s+)?(?:slow|gentle|smooth|quick|"
                           rf"fast|subtle|camera|little|soft|\s)*\b(?:{pattern})\b(?:\s+(?:motion|move|movement|"
                           rf"effect|shot))?", re.IGNORECASE), name) for pattern, name in _MOTIONS]
# Before a persona named mid-sentence in lower case, one of these words shows it is a name ("a video of mia"),
# not a common word that happens to be one ("a red rose").
_NAME_CUES = ("of", "with", "and", "for", "featuring", "starring", "as", "persona", "me", "to", "into", "onto",
              "swap", "put", "animate", "&")


def number(word: str) -> int:
    """The value of a count word or digits ("three", "a couple of", "8")."""
    word = word.lower().strip()
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def cut(text: str, match: re.Match[str]) -> str:
    """``text`` without what ``match`` matched (a space in its place)."""
    return f"{text[: match.start()]} {text[match.end():]}"


def tidy(text: str) -> str:
    """Single spaces, no stray commas or dots at either end, no space before a comma."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,;])", r"\1", text)
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    return text.strip(" ,.;:-")


def take_count(text: str) -> tuple[int | None, str]:
    """"four versions", "8 photos", "a couple of pictures" → the number."""
    if match := _COUNT_RE.search(text):
        return number(match.group(1)), cut(text, match)
    return None, text


def take_aspect(text: str) -> tuple[str | None, str]:
    """"4:5", "9x16" or a shape word ("square", "vertical") → ``W:H``."""
    if match := _AR_RE.search(text):
        return f"{match.group(1)}:{match.group(2)}", cut(text, match)
    if match := _SHAPE_RE.search(text):
        return SHAPES[match.group(1).lower()], cut(text, match)
    return None, text


def take_platform(text: str, *, bare: bool = False) -> tuple[str | None, str]:
    """"for instagram", "to tiktok" (or, with ``bare``, the platform's name anywhere) → its canonical name."""
    match = _PLATFORM_RE.search(text) or (_BARE_PLATFORM_RE.search(text) if bare else None)
    if match:
        return PLATFORM_ALIASES[match.group(1).lower()], cut(text, match)
    return None, text


def take_seconds(text: str) -> tuple[float | None, str]:
    """"for 5 seconds", "a 6-second", "8s" → the length."""
    if match := _SECONDS_RE.search(text):
        return float(number(match.group(1))), cut(text, match)
    return None, text


def take_motion(text: str) -> tuple[str | None, str]:
    """"with a slow zoom in", "panning left", "with AI" → the preset."""
    for pattern, name in _MOTION_RES:
        if match := pattern.search(text):
            return name, cut(text, match)
    return None, text


def take_assets(text: str) -> tuple[tuple[str, ...], str]:
    """Every ``#<id>`` in the sentence."""
    found = tuple(m.lower() for m in _ASSET_TAG_RE.findall(text))
    return found, _ASSET_TAG_RE.sub(" ", text)


def take_last(text: str) -> tuple[int | None, str]:
    """"my last 3", "the latest one", "my newest" → how many of the newest results."""
    if match := _LAST_RE.search(text):
        count = match.group(1)
        return (number(count) if count else 1), cut(text, match)
    return None, text


@dataclass(frozen=True)
class Mention:
    """A persona named in a sentence: its name as the owner spelt it and where it stands."""

    name: str
    start: int
    end: int
    possessive: bool


def mentions(text: str, names: Collection[str]) -> list[Mention]:
    """The personas named in ``text``, in order: whole words, any case, "Ava's" too.

    A name written in lower case in mid-sentence counts only after a cue ("of mia", "with mia") or as a
    possessive: a persona called Rose is not read into "a red rose".
    """
    found: list[Mention] = []
    for name in sorted(names, key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w'#-]){re.escape(name)}('s)?(?![\w-])", re.IGNORECASE)
        for match in pattern.finditer(text):
            if any(m.start < match.end() and match.start() < m.end for m in found):
                continue
            written = match.group(0)
            before = text[: match.start()].split()
            cue = before[-1].lower().strip(",") if before else ""
            if before and written[:1].islower() and cue not in _NAME_CUES and not match.group(1):
                continue
            found.append(Mention(name, match.start(), match.end(), bool(match.group(1))))
            break
    return sorted(found, key=lambda m: m.start)


def without(text: str, mention: Mention) -> str:
    """``text`` with ``mention`` taken out so the rest reads as a description ("a selfie of Ava in Tokyo" →
    "a selfie in Tokyo"; "a close-up of Ava's face" → "a close-up of their face")."""
    head, tail = text[: mention.start], text[mention.end:]
    if mention.possessive and head.strip():
        return tidy(f"{head}their{tail}")
    if not head.strip():
        # A leading name: "Ava on a beach", "Ava, on a beach", "Ava: on a beach", "Ava and Zoe at a party".
        return tidy(re.sub(r"^[\s,:]*(?:and\s+|&\s*)?", "", tail))
    head = re.sub(r"(?:,\s*)?\b(?:of|with|for|featuring|starring|and|&)\s*$", "", head.rstrip(), flags=re.IGNORECASE)
    return tidy(f"{head} {tail}")
