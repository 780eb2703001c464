"""Wardrobe sentences: "save Ava's red-dress: a red satin slip dress", "add denim-jacket to Ava's wardrobe: …",
"show Ava's wardrobe", "my outfits"."""

from __future__ import annotations

import re
from collections.abc import Collection

from core.grammar import commands as c
from core.grammar.options import name_option, outfit_description_option, outfit_name_option
from core.grammar.slash import known_persona

_OWNER = r"(?P<persona>[\w.' -]{1,32}?)'s"
_NAME = r"[\"']?(?P<name>[\w -]{1,40}?)[\"']?"
# A colon (or "is", "=") between the name and its description marks the sentence as a wardrobe entry, so "save"
# in an ordinary picture request is never read as one.
# "add X to Ava's wardrobe: …" first: the general form would read "X to Ava" as the owner.
_SAVE_RES = (
    re.compile(rf"^(?:please\s+)?(?:save|add|put)\s+(?:(?:the\s+)?(?:outfit|look)\s+)?{_NAME}\s+(?:to|in|into)\s+"
               rf"{_OWNER}\s+(?:wardrobe|closet)\s*(?::|=|\s-\s|\s—\s)\s*(?P<description>\S.*)$",
               re.IGNORECASE | re.DOTALL),
    re.compile(rf"^(?:please\s+)?(?:save|add|store|keep)\s+(?:{_OWNER}\s+)?(?:(?:new\s+)?(?:outfit|look)\s+)?{_NAME}"
               r"\s*(?::|=|\s-\s|\s—\s)\s*(?P<description>\S.*)$", re.IGNORECASE | re.DOTALL),
)
_LIST_RE = re.compile(rf"^(?:(?:show|list|open|see)\s+(?:me\s+)?)?(?:what's in\s+|what is in\s+)?(?:my|all|{_OWNER})"
                      r"\s+(?:wardrobes?|outfits|closet)$", re.IGNORECASE)


def wardrobe_sentence(text: str, persona_names: Collection[str]) -> c.Command | None:
    """The wardrobe command ``text`` stands for, or None when it is about something else."""
    stripped = text.strip().rstrip(".!?")
    if match := _LIST_RE.match(stripped):
        owner = match.group("persona")
        return c.WardrobeList(persona=_owner(owner, persona_names) if owner else None)
    for pattern in _SAVE_RES:
        if match := pattern.match(text.strip()):
            owner = match.group("persona")
            return c.WardrobeSave(name=outfit_name_option(match.group("name")),
                                  description=outfit_description_option(match.group("description")),
                                  persona=_owner(owner, persona_names) if owner else None)
    return None


def _owner(name: str, persona_names: Collection[str]) -> str:
    """The persona as its owner spelt it; a name that is not one of theirs is kept, to be refused by name."""
    return known_persona(name.strip(), persona_names) or name_option(name, "wardrobe")
