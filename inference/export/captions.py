"""Captions and hashtags for a post, from the asset's prompt and persona, within the platform's limits.

The post text is ``caption`` + a blank line + the hashtags, and the whole of it fits ``caption_limit``: the
hashtags take what the caption leaves, or a third of the room when the caption is too long to keep whole
(dropped from the end, least important first), and the caption is then shortened at a word, with an ellipsis.
The first hashtag is the disclosure tag, so a post read without its file's metadata still says it is AI-made:
``#AIgenerated`` for a generated picture, ``#AIedited`` for someone's picture changed by AI (a face swap). A
user's own upload gets no disclosure tag: nothing in it was made here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.platforms import Platform
from storage.states import AssetOrigin

DISCLOSURE_TAG = "#AIgenerated"
EDITED_TAG = "#AIedited"
DISCLOSURE_TAGS = {AssetOrigin.GENERATED: DISCLOSURE_TAG, AssetOrigin.EDITED: EDITED_TAG}
ELLIPSIS = "…"
MIN_WORD = 4  # shorter prompt words make poor hashtags ("red", "sun")
MAX_TAG = 30  # longer hashtags are unreadable and some platforms cut them
TAG_SHARE = 3  # a long caption leaves the hashtags a third of the post text
# Words that describe the picture-making rather than the picture.
STOPWORDS = frozenset({
    "about", "above", "after", "against", "along", "among", "around", "away", "back", "before", "behind", "below",
    "beside", "between", "beyond", "both", "came", "come", "could", "does", "down", "during", "each", "even", "ever",
    "every", "from", "front", "further", "have", "having", "here", "high", "highly", "into", "just", "like", "made",
    "make", "many", "more", "most", "much", "near", "next", "once", "only", "onto", "other", "over", "photo",
    "photograph", "picture", "image", "shot", "quality", "detail", "detailed", "details", "style", "realistic",
    "photorealistic", "render", "rendering", "resolution", "ultra", "very", "sharp", "focus", "lighting", "light",
    "lit", "cinematic", "professional", "masterpiece", "best", "beautiful", "looking", "same", "should", "some",
    "such", "than", "that", "their", "them", "then", "there", "these", "they", "this", "those", "through", "under",
    "until", "upon", "wearing", "what", "when", "where", "which", "while", "with", "within", "without", "would",
    "your", "standing", "sitting", "posing",
})
_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


@dataclass(frozen=True)
class PostText:
    """What goes with one file on the platform."""

    caption: str
    hashtags: tuple[str, ...]

    @property
    def text(self) -> str:
        """Caption and hashtags as one post text."""
        tags = " ".join(self.hashtags)
        return "\n\n".join(part for part in (self.caption, tags) if part)


def clean_prompt(prompt: str) -> str:
    """A prompt as a sentence: whitespace collapsed, first letter capitalised, no trailing comma."""
    text = " ".join(prompt.split()).strip(" ,;")
    return text[:1].upper() + text[1:] if text else ""


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ""
    head = text[: limit - len(ELLIPSIS)]
    if " " in head and not text[len(head)].isspace():
        head = head[: head.rfind(" ")]  # do not end in the middle of a word
    return head.rstrip(" ,;:.-") + ELLIPSIS


def hashtag(word: str) -> str:
    """``word`` as a hashtag: letters and digits only, CamelCase across separators."""
    parts = re.split(r"[^\w]+|_", word)
    joined = "".join(part[:1].upper() + part[1:] for part in parts if part)
    return f"#{joined[:MAX_TAG]}" if joined else ""


def candidate_tags(prompt: str, persona: str | None, origin: AssetOrigin | str) -> list[str]:
    """Hashtags in order of importance: disclosure (none for an upload), persona, then the prompt's content
    words as they come."""
    disclosure = DISCLOSURE_TAGS.get(AssetOrigin(origin))
    tags = [disclosure] if disclosure else []
    if persona:
        tags.append(hashtag(persona))
    for word in _WORD.findall(prompt):
        lowered = word.lower().strip("'-")
        if len(lowered) < MIN_WORD or lowered in STOPWORDS:
            continue
        tags.append(hashtag(lowered))
    seen: set[str] = set()
    unique = []
    for tag in tags:
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            unique.append(tag)
    return unique


def post_text(platform: Platform, *, prompt: str, persona: str | None = None,
              origin: AssetOrigin | str) -> PostText:
    """The caption and hashtags for a file whose asset (of ``origin``) was made from ``prompt`` (and
    ``persona``)."""
    tags = candidate_tags(prompt, persona, origin)[: platform.hashtag_limit]
    caption = clean_prompt(prompt)
    limit = platform.caption_limit
    # A caption that fits with the first tag stays whole and the other hashtags take what it leaves; a
    # caption too long for that is cut, leaving the hashtags a third of the room (on a 100-character YouTube
    # title the words matter more than the tags).
    leftover = limit - len(caption) - 2 if caption else limit
    budget = leftover if tags and leftover >= len(tags[0]) else limit // TAG_SHARE
    while tags and len(" ".join(tags)) > budget:
        tags.pop()
    room = limit - (len(" ".join(tags)) + 2 if tags else 0)  # the blank line between caption and hashtags
    return PostText(caption=shorten(caption, max(0, room)), hashtags=tuple(tags))
