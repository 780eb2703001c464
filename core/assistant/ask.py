"""Questions instead of guesses: a sentence that could mean several things is answered with one button per
meaning; the meanings wait in the user's dialogue until one is pressed (so any process can take the press)."""

from __future__ import annotations

import secrets

from core import actions, grammar
from core.assistant.turn import Turn
from core.errors import UsageError
from core.messages import Reply

EXPIRED = "That question has expired (I ask one at a time): send your request again."


def ask(turn: Turn, cmd: grammar.Ask) -> list[Reply]:
    """Show the question with a button per choice; a newer question replaces an unanswered one."""
    choices = cmd.choices[: actions.MAX_CHOICES]
    token = secrets.token_hex(4)
    turn.user.dialogue = {**(turn.user.dialogue or {}),
                          "ask": {"token": token, "choices": [grammar.to_data(c.command) for c in choices]}}
    return [Reply(text=cmd.question,
                  buttons=[actions.button(c.label, actions.Pick(token, i)) for i, c in enumerate(choices)])]


def pick(turn: Turn, action: actions.Pick) -> list[Reply]:
    """Run the chosen meaning, once: the question is answered and a second press finds it gone."""
    dialogue = dict(turn.user.dialogue or {})
    stored = dialogue.get("ask")
    if not isinstance(stored, dict) or stored.get("token") != action.token:
        raise UsageError(EXPIRED)
    choices = stored.get("choices")
    try:
        command = grammar.from_data(choices[action.index])  # type: ignore[index]
    except (IndexError, TypeError, ValueError):
        raise UsageError(EXPIRED) from None
    del dialogue["ask"]
    turn.user.dialogue = dialogue
    return turn.dispatch(command)


COMMANDS = {grammar.Ask: ask}
BUTTONS = {actions.Pick: pick}
