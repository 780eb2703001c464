"""The conversation grammar: slash commands and plain sentences parsed into typed commands.

Every front end feeds text through ``parse``; it either returns a command or raises ``UsageError`` whose
message is a short, specific hint (never a stack trace). ``commands`` holds the typed commands, ``options``
the parsers of single values (shared with Discord's typed options), ``slash`` the slash commands, and
``sentences`` (with ``phrases``, ``settings_sentences`` and ``video_sentences``) the plain sentences.
"""

from __future__ import annotations

from collections.abc import Collection

from core.errors import UsageError
from core.grammar.commands import (
    COMMAND_TYPES,
    Abort,
    Animate,
    Ask,
    CancelAll,
    CancelJob,
    Choice,
    Command,
    Consent,
    Done,
    Echo,
    Export,
    Gallery,
    Help,
    Imagine,
    Info,
    Jobs,
    Link,
    PersonaDelete,
    PersonaList,
    PersonaNew,
    PersonaRename,
    PersonaSet,
    PersonaShow,
    PersonaTrain,
    SettingsCmd,
    Shoot,
    Start,
    Swap,
    TemplateCmd,
    Verify,
    WardrobeDelete,
    WardrobeList,
    WardrobeSave,
    Web,
    from_data,
    to_data,
)
from core.grammar.options import (
    AR_RE,
    ASSET_HINT,
    ASSET_ID_RE,
    JOB_HINT,
    JOB_ID_RE,
    JOB_PREFIX_RE,
    LINK_CODE_HINT,
    LINK_CODE_RE,
    NAME_HINT,
    NAME_RE,
    OUTFIT_HINT,
    PERSONA_SETTINGS,
    PLATFORM_ALIASES,
    aspect_option,
    asset_option,
    float_option,
    int_option,
    job_option,
    link_code_option,
    motion_option,
    name_option,
    outfit_description_option,
    outfit_name_option,
    persona_setting_option,
    platform_option,
    seconds_option,
    shoot_size_option,
)
from core.grammar.sentences import parse_sentence
from core.grammar.slash import COMMAND_NAMES, SLASH, parse_slash
from core.limits import ANIMATE_SECONDS, MAX_PROMPT_CHARS, MOTIONS

__all__ = [
    "ANIMATE_SECONDS",
    "AR_RE",
    "ASSET_HINT",
    "ASSET_ID_RE",
    "COMMAND_NAMES",
    "COMMAND_TYPES",
    "JOB_HINT",
    "JOB_ID_RE",
    "JOB_PREFIX_RE",
    "LINK_CODE_HINT",
    "LINK_CODE_RE",
    "MAX_PROMPT_CHARS",
    "MOTIONS",
    "NAME_HINT",
    "NAME_RE",
    "OUTFIT_HINT",
    "PERSONA_SETTINGS",
    "PLATFORM_ALIASES",
    "SLASH",
    "Abort",
    "Animate",
    "Ask",
    "CancelAll",
    "CancelJob",
    "Choice",
    "Command",
    "Consent",
    "Done",
    "Echo",
    "Export",
    "Gallery",
    "Help",
    "Imagine",
    "Info",
    "Jobs",
    "Link",
    "PersonaDelete",
    "PersonaList",
    "PersonaNew",
    "PersonaRename",
    "PersonaSet",
    "PersonaShow",
    "PersonaTrain",
    "SettingsCmd",
    "Shoot",
    "Start",
    "Swap",
    "TemplateCmd",
    "Verify",
    "WardrobeDelete",
    "WardrobeList",
    "WardrobeSave",
    "Web",
    "aspect_option",
    "asset_option",
    "float_option",
    "from_data",
    "int_option",
    "job_option",
    "link_code_option",
    "motion_option",
    "name_option",
    "outfit_description_option",
    "outfit_name_option",
    "parse",
    "persona_setting_option",
    "platform_option",
    "seconds_option",
    "shoot_size_option",
    "to_data",
]


def parse(text: str, *, persona_names: Collection[str] = (), bot_username: str | None = None) -> Command:
    """The command ``text`` stands for; raises ``UsageError`` with a hint when it cannot be placed."""
    text = _normalise(text)
    if not text:
        raise UsageError("Send a command or a sentence, e.g. /imagine a portrait in golden light. /help lists all.")
    if text.startswith("/"):
        return parse_slash(text, persona_names=persona_names, bot_username=bot_username)
    return parse_sentence(text, persona_names=persona_names)


def _normalise(text: str) -> str:
    # Phones turn "--" into an em or en dash; accept both so options typed on a phone still work.
    text = text.replace("\u2014", "--").replace("\u2013", "--")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    return text.strip()
