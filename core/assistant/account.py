"""The user's own things: greeting and help, /settings, the /web page link, and linking two accounts."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core import grammar, help, links
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
        shown = {k: prefs.get(k, "default") for k in USER_SETTINGS}
        return [Reply(text="Your defaults: " + ", ".join(f"{k}={v}" for k, v in shown.items())
                      + "\nChange one with /settings <key> <value>.")]
    if key not in USER_SETTINGS:
        raise UsageError(f"Unknown setting {key!r}; choose {', '.join(USER_SETTINGS)}.")
    if value is None:
        return [Reply(text=f"{key} = {prefs.get(key, 'default')}")]
    if value.lower() in ("default", "reset", "none"):
        prefs.pop(key, None)
    else:
        prefs[key] = USER_SETTINGS[key](value)
    turn.user.preferences = prefs
    return [Reply(text=f"Saved: {key} = {prefs.get(key, 'default')}.")]


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
