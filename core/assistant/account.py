"""The user's own things: greeting and help, /settings, the /web page link, and linking two accounts."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core import grammar, help, links, modelcaps
from core.assistant.turn import Turn, private_only
from core.errors import UsageError
from core.messages import Reply
from storage.models import User
from storage.repositories import users as user_repo

LINK_CODE_TTL = timedelta(minutes=10)
USER_SETTINGS: dict[str, Callable[[str], Any]] = {
    "ar": grammar.aspect_option,
    "n": lambda v: grammar.int_option(v, "n", 1, 4, default=1),
    "steps": lambda v: grammar.int_option(v, "steps", 1, 100, default=None),
    "platform": grammar.platform_option,
    "motion": grammar.motion_option,
    "seconds": grammar.seconds_option,
}


def start(_turn: Turn, _cmd: grammar.Start) -> list[Reply]:
    return [Reply(text=help.WELCOME)]


def help_(_turn: Turn, cmd: grammar.Help) -> list[Reply]:
    return [Reply(text=help.for_command(cmd.topic) if cmd.topic else help.overview())]


def settings(turn: Turn, cmd: grammar.SettingsCmd) -> list[Reply]:
    prefs = turn.prefs
    key, value = cmd.key, cmd.value
    if key is None:
        lines = [f"• {k}: {_shown(turn, k, prefs)}" for k in USER_SETTINGS]
        return [Reply(text="Your defaults:\n" + "\n".join(lines)
                      + "\nChange one with /settings <key> <value>; /settings <key> default goes back to the "
                        "server's choice.")]
    if key not in USER_SETTINGS:
        raise UsageError(f"Unknown setting {key!r}; choose {', '.join(USER_SETTINGS)}.")
    if value is None:
        return [Reply(text=f"{key}: {_shown(turn, key, prefs)}")]
    if value.lower() in ("default", "reset", "none"):
        prefs.pop(key, None)
    else:
        prefs[key] = USER_SETTINGS[key](value)
        if key == "steps":
            modelcaps.check_steps(int(prefs[key]), turn.settings.model_profile, label="steps")
        if key == "motion":
            modelcaps.check_motion(str(prefs[key]), turn.settings.model_profile)
    turn.user.preferences = prefs
    return [Reply(text=f"Saved: {key} is now {_shown(turn, key, prefs)}.")]


def _shown(turn: Turn, key: str, prefs: dict[str, Any]) -> str:
    """A setting as people read it ("6 s", "4:5"), or what "default" means here when it is not set."""
    value = prefs.get(key)
    if value is not None:
        return f"{float(value):g} s" if key == "seconds" else str(value)
    return "default (" + _default(turn, key) + ")"


def _default(turn: Turn, key: str) -> str:
    profile = turn.settings.model_profile
    if key == "ar":
        return "1:1, or the platform's shape when you name one"
    if key == "n":
        return "1 picture"
    if key == "steps":
        model = modelcaps.image_model(profile)
        return f"{model.default_steps}, {model.short_title}'s own" if model else "the model's own"
    if key == "platform":
        return "none: /export asks"
    if key == "motion":
        if modelcaps.model_for("image-to-video", profile) is None:
            return "zoom-in"
        return "AI motion on a GPU worker, else zoom-in"
    return f"{turn.settings.video_default_seconds:g} s"


def web(turn: Turn, cmd: grammar.Web) -> list[Reply]:
    if cmd.revoke:
        links.revoke_all(turn.session, owner_id=turn.owner_id)
        return [Reply(text="Every download link sent so far is now invalid. /web gives a new one.")]
    private_only(turn.msg, "Your downloads link is private: message me directly and send /web there.")
    url = links.page_url(turn.settings, turn.session, owner_id=turn.owner_id)
    return [Reply(text=f"Your downloads page (private, valid 24 h; /web revoke cancels it): {url}")]


def link(turn: Turn, cmd: grammar.Link) -> list[Reply]:
    user = turn.user
    if cmd.code is None:
        user.link_code = secrets.token_hex(4).upper()
        user.link_code_expires_at = datetime.now(UTC) + LINK_CODE_TTL
        return [Reply(text=f"Send /link {user.link_code} from your other account within 10 minutes.")]
    other = turn.session.scalars(select(User).where(User.link_code == cmd.code)).first()
    expires = other.link_code_expires_at if other else None
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if other is None or expires is None or expires < datetime.now(UTC):
        raise UsageError("That code is unknown or expired; ask for a new one with /link.")
    if other.id == user.id or other.platform == user.platform:
        raise UsageError("Send the code from your account on the other platform.")
    user.linked_to_id = user_repo.content_owner_id(other)
    other.link_code = None
    return [Reply(text="Linked: both accounts now share personas and results.")]


COMMANDS = {grammar.Start: start, grammar.Help: help_, grammar.SettingsCmd: settings, grammar.Web: web,
            grammar.Link: link}
