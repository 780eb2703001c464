"""Videos in plain words: "make a video of Mia", "animate my last picture with a slow zoom in for 5 seconds",
"turn #1a2b3c4d into a 6 second clip panning left".

A video is made from a picture. When the sentence also describes a new scene ("a video of Mia dancing on a
beach"), it is not clear whether to animate an existing picture or make the scene first: the user chooses.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from core.grammar import commands as c
from core.grammar import phrases as p
from core.grammar.options import seconds_option
from core.limits import MAX_PROMPT_CHARS

_NOUN = r"(?:video|clip|animation|reel|gif|movie|film)s?"
_NOT_ADJECTIVE = r"(?!of\b|image|picture|photo|portrait|pic\b|shot\b)"
_POLITE = r"^(?:please\s+)?(?:can you\s+|could you\s+|let's\s+|lets\s+)?"
_LEADS = (
    re.compile(rf"{_POLITE}animate\b", re.IGNORECASE),
    re.compile(rf"{_POLITE}(?:make|create|generate|render|give me|i want|i'd like|produce|do)\s+(?:me\s+)?"
               rf"(?:an?\s+|the\s+|some\s+)?(?:{_NOT_ADJECTIVE}[\w.-]+\s+){{0,3}}?{_NOUN}\b", re.IGNORECASE),
    re.compile(rf"{_POLITE}(?:turn|make|convert)\s+.+?\s+into\s+(?:an?\s+)?"
               rf"(?:{_NOT_ADJECTIVE}[\w.-]+\s+){{0,3}}?{_NOUN}\b", re.IGNORECASE),
    re.compile(r"^(?:please\s+)?(?:make|let)\s+(?:it|this|that|her|him|them|the\s+\w+)\s+(?:move|come\s+alive|"
               r"come\s+to\s+life)\b|^(?:please\s+)?bring\s+.+?\s+to\s+life\b", re.IGNORECASE),
)
# Words that only point at a picture or say how to animate it; anything else describes a scene.
_POINTERS = frozenset((
    "a", "an", "the", "of", "it", "this", "that", "these", "those", "my", "me", "please", "for", "with", "and", "to",
    "into", "in", "on", "last", "latest", "newest", "recent", "most", "image", "images", "picture", "pictures",
    "photo", "photos", "pic", "pics", "one", "video", "clip", "animation", "reel", "gif", "movie", "film", "short",
    "quick", "little", "slow", "slowly", "gentle", "gently", "smooth", "camera", "motion", "move", "moving",
    "movement", "effect", "using", "by", "some", "make", "turn", "animate", "her", "his", "their", "him", "them",
    "long", "length", "just", "can", "could", "you", "i", "want", "like", "would", "id", "result", "results", "shot",
    "create", "generate", "render", "give", "produce", "do", "convert", "come", "alive", "life", "bring", "let",
    "out", "from", "is",
))


def is_video(text: str) -> bool:
    """Whether ``text`` asks for a video."""
    return any(lead.search(text) for lead in _LEADS)


def video(text: str, persona_names: Collection[str]) -> c.Command:
    """The ``Animate`` a video sentence asks for, or an ``Ask`` when it also describes a new scene."""
    lead = next(m for lead in _LEADS if (m := lead.search(text)))
    seconds, body = p.take_seconds(text)
    motion, body = p.take_motion(body)
    assets, body = p.take_assets(body)
    named = list(dict.fromkeys(m.name for m in p.mentions(body, persona_names)))
    length = seconds_option(f"{seconds:g}", "seconds") if seconds is not None else None
    asset = assets[0] if assets else None

    def animate(persona: str | None) -> c.Animate:
        return c.Animate(asset=asset, motion=motion, seconds=length, persona=None if asset else persona)

    if len(named) > 1 and asset is None:
        return c.Ask("One persona per video: whose newest picture should move?",
                     tuple(c.Choice(name, animate(name)) for name in named))
    persona = named[0] if named else None
    # Only what follows the lead can describe a scene ("make a video of Mia dancing on a beach"); in "turn …
    # into a video" what comes first names the picture.
    scene = _scene(text[lead.end():] if lead.re is not _LEADS[2] else "", persona, persona_names)
    if scene is None or asset is not None:
        return animate(persona)
    whose = f"{persona}'s" if persona else "your"
    return c.Ask(
        "I make videos from a picture. Animate one you have, or make this scene first (then press 🎬 Animate "
        "under it)?",
        (c.Choice(f"🎬 Animate {whose} newest picture", animate(persona)),
         c.Choice("🖼 Make the picture first", c.Imagine(prompt=scene[:MAX_PROMPT_CHARS], persona=persona))),
    )


def _scene(after_lead: str, persona: str | None, persona_names: Collection[str]) -> str | None:
    """The new scene the sentence describes ("dancing on a beach"), None when it only points at a picture."""
    rest = p.take_seconds(after_lead)[1]
    rest = p.take_motion(rest)[1]
    rest = p.take_assets(rest)[1]
    rest = re.sub(r"^\s*(?:of|with|for|about|showing)\b", "", rest, flags=re.IGNORECASE)
    mentioned = p.mentions(rest, persona_names)
    if mentioned:
        rest = p.without(rest, mentioned[0])
    rest = p.tidy(rest)
    words = [w for w in re.findall(r"[^\W\d_]+(?:'[a-z]+)?", rest.lower()) if w not in _POINTERS]
    if persona is not None:
        words = [w for w in words if w not in (persona.lower(), f"{persona.lower()}'s")]
    return rest if words else None
