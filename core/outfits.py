"""Outfits used by name in a prompt: "Ava in her red-dress at a café" → the stored description in its place.

One function, ``expand``, serves every request that draws a persona (``/imagine`` now, ``/shoot`` too). A name
matches loosely ("red dress", "Red-Dress" and "red_dress" are the outfit red-dress) when it is clearly meant as
an outfit: after "her", "his", "their", "my" or "<persona>'s", or after "wearing"/"in"/"dressed in", or written
with a dash or in quotes. Ordinary words are left alone ("her hair", "a red dress" when there is no red-dress
outfit). Only explicit references to an outfit the persona does not have are refused: a quoted name after
"wearing"/"in", or a dashed one after "in her"/"wearing her" that ends the phrase ("in her blue-gown at …", not
"in her off-shoulder top").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import UsageError
from core.limits import MAX_PROMPT_CHARS
from storage.models import Persona, WardrobeItem
from storage.repositories import wardrobe as wardrobe_repo

_POSSESSIVE = r"(?:her|his|their|my|its|the)"
_CUE = r"(?:wearing|wears|wear|in|dressed\s+in|dressed\s+up\s+in|changed\s+into|with)"
# Words that end an outfit phrase: "in her blue-gown at a café", "wearing her blue-gown, smiling".
_PHRASE_END = (r"(?=$|[,.;:!?)]|\s+(?:at|in|on|by|with|and|while|for|under|near|from|to|as|during|inside|outside|"
               r"beside|behind|through|across|over|into|onto|is|was|walking|sitting|standing|posing|looking)\b)")
_ARTICLE = re.compile(r"^(?:a|an|the|some)\s", re.IGNORECASE)


@dataclass(frozen=True)
class OutfitUse:
    """A prompt with its outfit references replaced by their descriptions, and which outfits those were."""

    text: str
    outfits: tuple[str, ...] = ()


def _name_pattern(item: WardrobeItem) -> str:
    # Dashes, underscores and spaces are interchangeable: red-dress = "red dress" = red_dress.
    words = [re.escape(word) for word in item.name_key.split("-") if word]
    return r"[\s_-]+".join(words)


def _owner_pattern(persona: Persona) -> str:
    return rf"(?:{_POSSESSIVE}|{re.escape(persona.name)}'s)"


def expand(session: Session, persona: Persona | None, text: str) -> OutfitUse:
    """``text`` with each outfit of ``persona`` it names replaced by the outfit's description.

    Raises ``UsageError`` listing the persona's outfits when the text names one explicitly that it does not have.
    """
    if persona is None:
        return OutfitUse(text=text)
    items = list(wardrobe_repo.list_for(session, persona_id=persona.id))
    owner = _owner_pattern(persona)
    used: list[str] = []
    # Longest names first, so red-dress-long is not read as red-dress followed by "long".
    for item in sorted(items, key=lambda i: len(i.name_key), reverse=True):
        name = _name_pattern(item)
        pattern = re.compile(
            rf"(?<![\w-])(?:(?P<owner>{owner})\s+)?(?P<quote>[\"']?)(?P<name>{name})(?P=quote)(?![\w-])",
            re.IGNORECASE)

        def replace(match: re.Match[str], item: WardrobeItem = item) -> str:
            before = match.string[: match.start()]
            dashed = any(mark in match.group("name") for mark in "-_") or bool(match.group("quote"))
            cued = re.search(rf"\b{_CUE}\s*$", before, re.IGNORECASE) is not None
            if not (match.group("owner") or dashed or cued):
                return match.group(0)  # a plain word that happens to be an outfit's name
            if item.name not in used:
                used.append(item.name)
            description = item.description
            owner_word = match.group("owner")
            if owner_word and not _ARTICLE.match(description) and not owner_word.lower().startswith("the"):
                return f"{owner_word} {description}"
            return description

        text = pattern.sub(replace, text)
    _refuse_unknown(persona, items, text)
    if len(text) > MAX_PROMPT_CHARS:
        raise UsageError(f"With the outfit descriptions the prompt is {len(text)} characters; keep it under "
                         f"{MAX_PROMPT_CHARS} (shorten the prompt or the outfit's description).")
    return OutfitUse(text=text, outfits=tuple(used))


def _refuse_unknown(persona: Persona, items: list[WardrobeItem], text: str) -> None:
    owner = _owner_pattern(persona)
    quoted = re.search(rf"\b{_CUE}\s+(?:{owner}\s+)?[\"']([^\"']{{1,40}})[\"']{_PHRASE_END}", text, re.IGNORECASE)
    dashed = re.search(rf"\b(?:{_CUE})\s+{owner}\s+([^\W_]+(?:[-_][^\W_]+)+){_PHRASE_END}", text, re.IGNORECASE)
    unknown = quoted.group(1) if quoted else dashed.group(1) if dashed and items else None
    if unknown is None:
        return
    if items:
        names = ", ".join(item.name for item in items)
        raise UsageError(f"{persona.name} has no outfit called {unknown}; the wardrobe has {names}. Add it with "
                         f"/wardrobe save {persona.name}: {wardrobe_repo.name_key(unknown)} <description>.")
    raise UsageError(f"{persona.name} has no outfits yet, so “{unknown}” means nothing to me. Add it with "
                     f"/wardrobe save {persona.name}: {wardrobe_repo.name_key(unknown)} <description>, or leave "
                     "out the quotes to draw it as written.")
