"""Plain sentences → the same typed commands as slash commands.

The sentence's intent is found first (small talk, a new persona, settings, a photoshoot, an export, a swap, a
video, else a picture), then its pieces (``phrases``). A sentence that could mean several things becomes an
``Ask``: the assistant shows one button per meaning rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from core.errors import UsageError
from core.grammar import commands as c
from core.grammar import phrases as p
from core.grammar.options import int_option, name_option, platform_option, shoot_size_option
from core.grammar.settings_sentences import settings_sentence
from core.grammar.video_sentences import is_video, video
from core.grammar.wardrobe_sentences import wardrobe_sentence
from core.limits import MAX_PROMPT_CHARS
from core.prompts import PLATFORMS
from core.shots import SCENE_CHARS

MAX_PER_REQUEST = 4  # images one /imagine makes
_SMALL_TALK: dict[str, c.Command] = {
    **dict.fromkeys(("help", "what can you do", "commands", "how does this work", "menu"), c.Help()),
    **dict.fromkeys(("hi", "hello", "hey", "start", "good morning", "hi there", "hello there"), c.Start()),
    **dict.fromkeys(("done", "that's all", "thats all", "finished", "that's it", "all done"), c.Done()),
    **dict.fromkeys(("yes", "i agree", "i consent", "agree", "consent", "yes i agree"), c.Consent()),
    **dict.fromkeys(("cancel", "stop", "abort", "never mind", "nevermind", "cancel it", "stop it", "stop that",
                     "cancel that", "cancel the job", "stop the job", "cancel my job", "stop my job",
                     "cancel the last job", "stop the last job", "cancel my last job"), c.Abort()),
    **dict.fromkeys(("cancel all", "cancel everything", "stop all", "stop everything", "cancel all jobs",
                     "stop all jobs", "cancel all my jobs", "stop all my jobs"), c.CancelAll()),
    **dict.fromkeys(("settings", "my settings", "show my settings", "my defaults", "show my defaults",
                     "what are my settings", "what are my defaults", "preferences"), c.SettingsCmd()),
}
_PERSONAS_RE = re.compile(r"(?:list |show )?(?:me )?(?:my |all my )?personas|who are my personas")
_JOBS_RE = re.compile(r"(?:show |list )?(?:me )?(?:my )?(?:jobs|queue)|what'?s running|status|what are you doing")
_GALLERY_RE = re.compile(
    rf"(?:(?:show|list|see|open)(?: me)?\s+)?(?:my\s+)?(?:(?:last|latest|newest)\s+{p._NUMBER}\s+)?"
    r"(?:gallery|results|images|pictures|photos|pics|videos|creations)")
_CANCEL_JOB_RE = re.compile(r"(?:cancel|stop|kill|abort)\s+(?:the\s+)?(?:job\s+)?#?([0-9a-f]{4,32})")
_NEW_PERSONA = re.compile(
    r"^(?:please\s+)?(?:(?:create|make|start|add|set up)\s+(?:a\s+)?|i\s+want\s+a\s+|)(?:new\s+)?persona\s+"
    r"(?:called\s+|named\s+)?[\"']?([\w .'-]{1,32}?)[\"']?[.!]?$",
    re.IGNORECASE,
)
_IMAGINE_LEAD = re.compile(
    r"^(?:please\s+)?(?:can you\s+|could you\s+|let's\s+|lets\s+)?"
    r"(?:imagine|generate|make|create|draw|render|paint|show me|give me|i want|i'd like|put|place|picture)\s+"
    r"(?:me\s+)?(?:an?\s+)?(?:(?:image|picture|photo|pic|portrait|shot)s?\s+of\s+)?",
    re.IGNORECASE,
)
_OF_RE = re.compile(r"^(?:(?:an?|the|some)\s+)?(?:(?:images?|pictures?|photos?|pics?|portraits?|shots?)\s+)?of\s+",
                    re.IGNORECASE)
_QUESTION_RE = re.compile(r"^(?:what|why|how|when|where|who|which|can|could|do|does|is|are|will|would|should)\b",
                          re.IGNORECASE)
# A question about how to do something (not a polite request: "can you make …" asks for the thing itself).
_HOW_RE = re.compile(r"^(?:how|what|where|why|which)\b|^(?:can|could|do|does|should)\s+(?:i|we)\b")
# Openers of chat, not of a description ("that's all for now", "thanks a lot", "I sent them already").
_CHAT_RE = re.compile(r"^(?:i|i'm|im|i've|you|we|it's|its|that's|thats|this is|thanks|thank|ok|okay|yes|no|"
                      r"nope|sure|here|there|please|hi|hello|hey|sorry|lol|great|cool|nice|wow|why|so)\b",
                      re.IGNORECASE)
_SHOOT_RE = re.compile(r"\bphoto[\s-]?shoot\b|\bshoot\b(?!\s+(?:me|us)\b)", re.IGNORECASE)
_EXPORT_RE = re.compile(r"\b(?:export|package|pack up)\b|\bready\s+(?:to post\s+)?(?:for|to)\s+", re.IGNORECASE)
_SWAP_RE = re.compile(r"\b(?:face[\s-]?)?swap\b|\bfaceswap\b|\bface\b.*\b(?:into|onto|on|in)\b|"
                      r"\b(?:put|paste|replace)\b.*\bface\b", re.IGNORECASE)


def parse_sentence(text: str, *, persona_names: Collection[str]) -> c.Command:
    """The command a plain sentence stands for; ``UsageError`` with a hint when it cannot be placed."""
    lowered = text.lower().strip(" .!?")
    if lowered in _SMALL_TALK:
        return _SMALL_TALK[lowered]
    if _PERSONAS_RE.fullmatch(lowered):
        return c.PersonaList()
    if _JOBS_RE.fullmatch(lowered):
        return c.Jobs()
    if match := _GALLERY_RE.fullmatch(lowered):
        return c.Gallery(n=int_option(str(p.number(match.group(1))) if match.group(1) else None, "gallery size",
                                      1, 50, default=10))
    if _HOW_RE.match(lowered) and (topic := _help_topic(lowered)):
        return c.Help(topic=topic)
    if match := _CANCEL_JOB_RE.fullmatch(lowered):
        return c.CancelJob(job_id=match.group(1))
    if match := _NEW_PERSONA.match(text):
        return c.PersonaNew(name=name_option(match.group(1).strip(), "persona new"))
    if (setting := settings_sentence(text)) is not None:
        return setting
    if (outfit := wardrobe_sentence(text, persona_names)) is not None:
        return outfit
    if _SHOOT_RE.search(text):
        return photoshoot(text, persona_names)
    if _EXPORT_RE.search(text):
        return _export(text)
    if is_video(text):
        return video(text, persona_names)
    if _SWAP_RE.search(text):
        return _swap(text, persona_names)
    lead = _IMAGINE_LEAD.match(text)
    return picture(text[lead.end():] if lead else text, persona_names, explicit=lead is not None)


_TOPICS = (("animate", r"videos?|clips?|animat\w*|move"), ("swap", r"swap\w*|faces?"),
           ("export", r"export\w*|package\w*|instagram|tiktok|youtube|post"),
           ("persona", r"personas?|photos of me|my face"), ("wardrobe", r"wardrobes?|outfits?|clothes|closet"),
           ("imagine", r"pictures?|images?|photos?|draw\w*"),
           ("settings", r"settings?|defaults?"), ("cancel", r"cancel\w*|stop\w*"))


def _help_topic(question: str) -> str | None:
    """The command a "how do I …" question is about."""
    return next((topic for topic, words in _TOPICS if re.search(rf"\b(?:{words})\b", question)), None)


def picture(body: str, persona_names: Collection[str], *, explicit: bool) -> c.Command:
    """An image request: "Ava on a beach at sunset, 4:5, four versions", "a portrait of a chef, square"."""
    n, body = p.take_count(body)
    aspect, body = p.take_aspect(body)
    platform, body = p.take_platform(body)
    body = _OF_RE.sub("", p.tidy(body))
    named = p.mentions(body, persona_names)
    if n is not None and not 1 <= n <= MAX_PER_REQUEST:
        raise UsageError(f"I can make 1 to {MAX_PER_REQUEST} versions at a time, not {n}.")

    def imagine(prompt: str, persona: str | None) -> c.Imagine:
        return c.Imagine(prompt=_prompt(prompt), persona=persona, aspect_ratio=aspect, n=n, platform=platform)

    if len({m.name for m in named}) > 1:
        return c.Ask("One persona per picture: whose face should it be?",
                     tuple(c.Choice(m.name, imagine(p.without(body, m), m.name)) for m in named))
    if named:
        rest = p.without(body, named[0])
        # "make a picture of Ava" asks for Ava herself: a portrait.
        return imagine(rest or ("a portrait" if explicit else ""), named[0].name)
    prompt = p.tidy(body)
    if explicit:
        return imagine(prompt, None)
    # A description without a verb or a persona ("a cat in a hat"): offer to draw it rather than guess.
    words = re.findall(r"[^\W\d_]+", prompt)
    if len(words) < 3 or _QUESTION_RE.match(prompt) or _CHAT_RE.match(prompt) or len(prompt) > MAX_PROMPT_CHARS:
        raise UsageError(
            "I didn't catch that. Try “/imagine a portrait in soft light”, start with a persona's name "
            "(“Ava on a beach at sunset, 4:5”), or send /help."
        )
    choices = [c.Choice("🖼 Make this picture", imagine(prompt, None))]
    choices += [c.Choice(f"🖼 With {name}", imagine(prompt, name)) for name in sorted(persona_names)[:3]]
    return c.Ask(f"Shall I make a picture of “{quote(prompt)}”?", tuple(choices))


def _prompt(text: str) -> str:
    if not text:
        raise UsageError("Tell me what the picture should show, e.g. “Ava on a rooftop at night”.")
    if len(text) > MAX_PROMPT_CHARS:
        raise UsageError(f"That prompt is {len(text)} characters; keep it under {MAX_PROMPT_CHARS}.")
    return text


def quote(text: str, width: int = 60) -> str:
    """``text`` cut at a word to fit ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + "…"


def photoshoot(text: str, persona_names: Collection[str]) -> c.Command:
    """"a beach shoot of Ava in a red dress, 8 photos" → ``/shoot``: the persona named, the count, a shape or
    platform, and the rest of the sentence as the scene."""
    count, body = p.take_count(text)
    aspect, body = p.take_aspect(body)
    platform, body = p.take_platform(body)
    named = p.mentions(body, persona_names)
    if not named:
        raise UsageError("Whose photoshoot? Name one of your personas, e.g. “a beach shoot of Ava, 6 photos” "
                         "(/persona list shows them).")
    persona = named[0].name
    body = p.without(body, named[0])
    shoot = _SHOOT_RE.search(body)
    before, after = (body[: shoot.start()], body[shoot.end():]) if shoot else (body, "")
    before = re.sub(r"^(?:please\s+)?(?:(?:do|make|plan|book|start|set up|organi[sz]e|i want|i'd like)\s+)?"
                    r"(?:(?:a|an|the|my)\b\s*)?", "", before.strip(), flags=re.IGNORECASE)
    after = re.sub(r"^\s*(?:of|for|with)\b", "", after, flags=re.IGNORECASE)
    scene = p.tidy(f"{before} {after}")
    if not scene:
        raise UsageError(f"Where is {persona}'s shoot? e.g. “a beach shoot of {persona}, 6 photos”.")
    if len(scene) > SCENE_CHARS:
        raise UsageError(f"That scene is {len(scene)} characters; keep it under {SCENE_CHARS}.")
    return c.Shoot(persona=persona, scene=scene, n=shoot_size_option(str(count) if count is not None else None),
                   aspect_ratio=aspect, platform=platform)


def _export(text: str) -> c.Command:
    """"export the last 3 for tiktok", "package #1a2b3c4d for instagram", "get my newest ready for x"."""
    platform, body = p.take_platform(text, bare=True)
    assets, body = p.take_assets(body)
    last, body = p.take_last(body)
    if last is None and (match := re.search(r"\b(?:all|everything)\b", body, re.IGNORECASE)):
        last, body = 50, p.cut(body, match)
    if last is None and (match := re.search(rf"\b{p._NUMBER}\s+(?:results|images|pictures|photos|videos|clips)\b",
                                            body, re.IGNORECASE)):
        last = p.number(match.group(1))
    if last is not None:
        last = int_option(str(last), "last", 1, 50, default=1)
    make = (lambda name: c.Export(platform=name, assets=assets)) if assets else (
        lambda name: c.Export(platform=name, last=last or 1))
    if platform is None:
        return c.Ask("Export for which platform? (/settings platform <name> saves a default.)",
                     tuple(c.Choice(_platform_title(name), make(name)) for name in PLATFORMS))
    return make(platform_option(platform))


def _platform_title(name: str) -> str:
    return {"tiktok": "TikTok", "youtube": "YouTube Shorts", "x": "X"}.get(name, name.capitalize())


def _swap(text: str, persona_names: Collection[str]) -> c.Command:
    """"swap Zoe's face into this", "put Ava's face on #1a2b3c4d", "face swap Ava into my photo"."""
    assets, body = p.take_assets(text)
    asset = assets[0] if assets else None
    named = list(dict.fromkeys(m.name for m in p.mentions(body, persona_names)))
    if len(named) == 1:
        return c.Swap(persona=named[0], asset=asset)
    choices = named or sorted(persona_names)[:8]
    if not choices:
        raise UsageError("A swap puts one of your personas' faces into a photo or video: create one first with "
                         "/persona new <name>.")
    return c.Ask("Whose face should go in?", tuple(c.Choice(name, c.Swap(persona=name, asset=asset))
                                                  for name in choices))
