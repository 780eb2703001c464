"""Prompt building for /imagine: templates (shipped and user-saved), persona subject, negatives, CLIP length.

Pure Python on purpose: the command parser and the bots validate templates and aspect ratios with it, and
the image worker builds the final prompt with it, without either importing torch.

SD3 reads a prompt three times: two CLIP encoders that see at most 77 tokens (75 words and marks plus start
and end) and T5, which reads long prompts. ``build_prompt`` therefore returns the whole prompt for T5
(``text``) and a version trimmed to fit CLIP (``clip_text``); the most important words go first so trimming
from the end drops style words before the subject.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATES_FILE = Path(__file__).with_name("templates.toml")

PLATFORMS = ("instagram", "tiktok", "youtube", "x", "facebook")
# Default aspect ratio of an image made for a platform (feed post / cover formats).
PLATFORM_ASPECT: dict[str, str] = {
    "instagram": "4:5",
    "tiktok": "9:16",
    "youtube": "9:16",
    "x": "16:9",
    "facebook": "1:1",
}
DEFAULT_ASPECT = "1:1"
CLIP_TOKEN_LIMIT = 75  # 77 positions minus the start and end tokens
MAX_PROMPT_CHARS = 1500
MAX_ASPECT = 4.0  # wider or taller than 4:1 gives poor images at ~1 MP and is refused
MAX_USER_TEMPLATES = 30
PREFERENCES_KEY = "templates"

_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ALLOWED_PLACEHOLDERS = {"subject", "prompt"}
# Roughly CLIP's BPE split: words, numbers and each punctuation mark are tokens; long words cost more.
_CLIP_PIECE = re.compile(r"[a-z]+|[0-9]|[^\sa-z0-9]", re.IGNORECASE)

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Template:
    """A prompt template: text with ``{subject}`` and ``{prompt}`` slots, extra negatives, default format."""

    name: str
    title: str
    prompt: str
    negative: str = ""
    aspect_ratio: str | None = None
    platform: str | None = None
    user: bool = False

    def to_preference(self) -> dict[str, Any]:
        """The JSON form kept in ``User.preferences["templates"][name]``."""
        return {"title": self.title, "prompt": self.prompt, "negative": self.negative,
                "aspect_ratio": self.aspect_ratio, "platform": self.platform}


@dataclass(frozen=True)
class PersonaText:
    """What a persona contributes to a prompt: its LoRA trigger token (when one is active), description, and the
    style notes (the look) that every prompt of the persona carries."""

    trigger_token: str = ""
    description: str = ""
    style: str = ""

    def subject(self) -> str:
        """``"<trigger> <description>"`` with empty parts left out."""
        return " ".join(part.strip() for part in (self.trigger_token, self.description) if part.strip())


@dataclass(frozen=True)
class BuiltPrompt:
    """A prompt ready for the image engine."""

    text: str  # the whole prompt: T5 reads it (prompt_3)
    clip_text: str  # trimmed to CLIP's 75 tokens (prompt and prompt_2)
    negative: str
    aspect_ratio: str
    template: str | None
    platform: str | None

    @property
    def trimmed(self) -> bool:
        """Whether CLIP sees less than the whole prompt."""
        return self.clip_text != self.text


# -- templates ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _read_templates(path: Path) -> tuple[dict[str, Any], dict[str, Template]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    templates = {}
    for name, raw in data.get("templates", {}).items():
        template = Template(name=name, title=raw.get("title", name), prompt=raw["prompt"],
                            negative=raw.get("negative", ""), aspect_ratio=raw.get("aspect_ratio"),
                            platform=raw.get("platform"))
        _check_template(template, argument="templates.toml")
        templates[name] = template
    return data.get("defaults", {}), templates


def builtin_templates(path: Path = TEMPLATES_FILE) -> dict[str, Template]:
    """The templates shipped in ``core/templates.toml``, by name."""
    return dict(_read_templates(path)[1])


def default_negative(path: Path = TEMPLATES_FILE) -> str:
    """The negative prompt every image gets (templates and ``--no`` add to it)."""
    return str(_read_templates(path)[0].get("negative", ""))


def variation_modifiers(path: Path = TEMPLATES_FILE) -> list[str]:
    """Small prompt changes used by "prompt" variations."""
    return list(_read_templates(path)[0].get("variation_modifiers", ["alternate angle"]))


def user_templates(preferences: Mapping[str, Any] | None) -> dict[str, Template]:
    """Templates the user saved (kept in ``User.preferences["templates"]``), by name."""
    saved = (preferences or {}).get(PREFERENCES_KEY) or {}
    templates = {}
    for name, raw in saved.items():
        if isinstance(raw, Mapping) and isinstance(raw.get("prompt"), str):
            templates[name] = Template(name=name, title=str(raw.get("title") or name), prompt=raw["prompt"],
                                       negative=str(raw.get("negative") or ""),
                                       aspect_ratio=raw.get("aspect_ratio"), platform=raw.get("platform"),
                                       user=True)
    return templates


def list_templates(preferences: Mapping[str, Any] | None = None) -> list[Template]:
    """Every template the user can pick: shipped ones first, then their own, each group by name."""
    shipped = builtin_templates()
    own = user_templates(preferences)
    return [shipped[n] for n in sorted(shipped)] + [own[n] for n in sorted(own) if n not in shipped]


def get_template(name: str, preferences: Mapping[str, Any] | None = None) -> Template:
    """The template ``name`` (shipped or the user's); raises ``ValueError`` naming ``--template``."""
    key = name.strip().lower()
    shipped = builtin_templates()
    if key in shipped:
        return shipped[key]
    own = user_templates(preferences)
    if key in own:
        return own[key]
    known = ", ".join(t.name for t in list_templates(preferences))
    raise ValueError(f"--template: unknown template {name!r}; choose one of {known}")


def save_template(
    preferences: Mapping[str, Any] | None,
    *,
    name: str,
    prompt: str,
    negative: str = "",
    aspect_ratio: str | None = None,
    platform: str | None = None,
    title: str = "",
) -> dict[str, Any]:
    """New preferences with the user's template ``name`` saved (assign it back to ``User.preferences``).

    A template without ``{prompt}`` gets it appended, so the user's words are never silently dropped.
    """
    key = name.strip().lower()
    if not _TEMPLATE_NAME.match(key):
        raise ValueError(f"template name {name!r}: use 1-32 lower-case letters, digits and '-'")
    if key in builtin_templates():
        raise ValueError(f"template name {name!r} is taken by a shipped template; pick another name")
    text = prompt.strip()
    if "{prompt}" not in text:
        text = f"{text}, {{prompt}}" if text else "{prompt}"
    if aspect_ratio is not None:
        parse_aspect_ratio(aspect_ratio)
    if platform is not None:
        check_platform(platform)
    template = Template(name=key, title=title.strip() or key, prompt=text, negative=negative.strip(),
                        aspect_ratio=aspect_ratio, platform=platform, user=True)
    _check_template(template, argument="template")
    current = dict((preferences or {}).get(PREFERENCES_KEY) or {})
    if key not in current and len(current) >= MAX_USER_TEMPLATES:
        raise ValueError(f"you have {MAX_USER_TEMPLATES} templates already; delete one first")
    current[key] = template.to_preference()
    return {**dict(preferences or {}), PREFERENCES_KEY: current}


def delete_template(preferences: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """New preferences without the user's template ``name``; raises ``ValueError`` when there is none."""
    key = name.strip().lower()
    current = dict((preferences or {}).get(PREFERENCES_KEY) or {})
    if key not in current:
        raise ValueError(f"--template: you have no saved template {name!r}")
    del current[key]
    return {**dict(preferences or {}), PREFERENCES_KEY: current}


def _check_template(template: Template, *, argument: str) -> None:
    unknown = {m for m in _PLACEHOLDER.findall(template.prompt)} - _ALLOWED_PLACEHOLDERS
    if unknown:
        raise ValueError(f"{argument} {template.name!r}: unknown placeholder(s) "
                         f"{', '.join('{' + u + '}' for u in sorted(unknown))}; use {{subject}} and {{prompt}}")
    if len(template.prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"{argument} {template.name!r} is longer than {MAX_PROMPT_CHARS} characters")


# -- aspect ratios and platforms ---------------------------------------------------------------------


def parse_aspect_ratio(text: str) -> tuple[int, int]:
    """``(w, h)`` from ``"W:H"``; raises ``ValueError`` naming ``--ar`` for anything else or too extreme."""
    match = re.fullmatch(r"\s*(\d{1,4})\s*[:x/]\s*(\d{1,4})\s*", str(text))
    if not match:
        raise ValueError(f"--ar must look like W:H (e.g. 4:5), got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise ValueError(f"--ar needs two positive numbers, got {text!r}")
    if max(width / height, height / width) > MAX_ASPECT:
        raise ValueError(f"--ar {text} is too extreme; stay between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1")
    return width, height


def check_platform(platform: str) -> str:
    """The platform name, lower-cased; raises ``ValueError`` naming ``--platform`` for an unknown one."""
    key = platform.strip().lower()
    if key not in PLATFORMS:
        raise ValueError(f"--platform: unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    return key


def default_aspect_ratio(*, platform: str | None = None, template: Template | None = None) -> str:
    """The aspect ratio when ``--ar`` is not given: the platform's, else the template's, else square."""
    if platform:
        return PLATFORM_ASPECT[check_platform(platform)]
    if template is not None and template.aspect_ratio:
        return template.aspect_ratio
    if template is not None and template.platform:
        return PLATFORM_ASPECT.get(template.platform, DEFAULT_ASPECT)
    return DEFAULT_ASPECT


# -- length -------------------------------------------------------------------------------------------


def estimate_clip_tokens(text: str) -> int:
    """About how many CLIP tokens ``text`` takes (without start and end); errs on the long side."""
    count = 0
    for piece in _CLIP_PIECE.findall(text):
        # CLIP's BPE keeps common words whole; long or rare words split into several pieces.
        count += 1 + (len(piece) - 1) // 7 if piece.isalpha() else 1
    return count


def fit_tokens(text: str, *, limit: int = CLIP_TOKEN_LIMIT, count: TokenCounter = estimate_clip_tokens) -> str:
    """``text`` cut to at most ``limit`` tokens: whole comma-separated phrases first, then whole words."""
    if count(text) <= limit:
        return text
    phrases = [p.strip() for p in text.split(",") if p.strip()]
    kept: list[str] = []
    for phrase in phrases:
        candidate = ", ".join([*kept, phrase])
        if count(candidate) <= limit:
            kept.append(phrase)
            continue
        if not kept:
            # The first phrase alone is too long: keep as many of its words as fit.
            words: list[str] = []
            for word in phrase.split():
                if count(" ".join([*words, word])) > limit:
                    break
                words.append(word)
            kept.append(" ".join(words))
        break
    return ", ".join(kept)


# -- building -----------------------------------------------------------------------------------------


def _tidy(text: str) -> str:
    # Empty slots leave ", ," and stray spaces behind; collapse them.
    parts = [re.sub(r"\s+", " ", part).strip() for part in text.split(",")]
    return ", ".join(part for part in parts if part)


def build_prompt(
    prompt: str,
    *,
    persona: PersonaText | None = None,
    template: str | None = None,
    platform: str | None = None,
    negative: str | None = None,
    aspect_ratio: str | None = None,
    preferences: Mapping[str, Any] | None = None,
    clip_limit: int = CLIP_TOKEN_LIMIT,
    count_tokens: TokenCounter = estimate_clip_tokens,
) -> BuiltPrompt:
    """The prompt, negative prompt and aspect ratio for one /imagine request; ``ValueError`` names bad input."""
    prompt = (prompt or "").strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"prompt is {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}")
    chosen = get_template(template, preferences) if template else None
    platform_key = check_platform(platform) if platform else None
    if aspect_ratio:
        parse_aspect_ratio(aspect_ratio)
    subject = persona.subject() if persona is not None else ""
    if not prompt and not subject and chosen is None:
        raise ValueError("prompt is empty; describe the image you want")
    if chosen is not None:
        body = chosen.prompt.replace("{subject}", subject).replace("{prompt}", prompt)
    else:
        body = ", ".join(part for part in (subject, prompt) if part)
    # The persona's look comes last: it holds for every picture, while the subject and the request decide this one
    # (and CLIP, trimming from the end, keeps those first).
    style = persona.style.strip() if persona is not None else ""
    text = _tidy(f"{body}, {style}" if style else body)
    negatives = [default_negative(), chosen.negative if chosen else "", (negative or "").strip()]
    return BuiltPrompt(
        text=text,
        clip_text=fit_tokens(text, limit=clip_limit, count=count_tokens),
        negative=_tidy(", ".join(n for n in negatives if n)),
        aspect_ratio=aspect_ratio or default_aspect_ratio(platform=platform_key, template=chosen),
        template=chosen.name if chosen else None,
        platform=platform_key or (chosen.platform if chosen else None),
    )


def vary_prompt(prompt: str, index: int) -> str:
    """``prompt`` with one small change appended (the ``index``-th modifier, cycling) for prompt variations."""
    modifiers = variation_modifiers()
    return _tidy(f"{prompt}, {modifiers[index % len(modifiers)]}")
