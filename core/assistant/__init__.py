"""The channel-neutral assistant: turns one incoming message or button press into replies and jobs.

Each feature lives in its own module and names the command and button types it handles; this class only
builds the message's context (``Turn``) and dispatches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, get_args

from core import actions, grammar
from core.assistant import account, animate, ask, export, imagine, info, jobs, personas, shoot, swap, verify, wardrobe
from core.assistant.account import USER_SETTINGS
from core.assistant.turn import Services, Turn
from core.errors import StudioError
from core.grammar import Command
from core.jobs import JobService
from core.messages import Incoming, Reply
from core.settings import Settings
from storage.blobs import BlobStore, BlobStoreUnavailable
from storage.db import Database
from storage.repositories import jobs as job_repo

Handler = Callable[[Turn, Any], list[Reply]]
FEATURES = (personas, imagine, shoot, animate, swap, export, account, jobs, ask, verify, info, wardrobe)
STORAGE_UNAVAILABLE = ("Storage is temporarily unavailable, so that could not be saved or shown. Nothing of yours "
                       "is lost: send it again in a few minutes.")
UPLOAD_HINT = ("Got your file. To build a persona from photos send them with /persona new <name>; to turn a photo "
               "into a short video send it with /animate as its caption, or reply /animate to it; /swap <persona> "
               "puts a persona's face into it.")

__all__ = ["STORAGE_UNAVAILABLE", "USER_SETTINGS", "Assistant"]
log = logging.getLogger(__name__)


def _table(attribute: str) -> dict[type, Handler]:
    table: dict[type, Handler] = {}
    for feature in FEATURES:
        handlers: Mapping[type, Handler] = getattr(feature, attribute, {})
        clash = table.keys() & handlers.keys()
        if clash:
            raise RuntimeError(f"{feature.__name__} handles {clash} again")
        table.update(handlers)
    return table


class Assistant:
    """One instance per front-end process; stateless between messages (state lives in the database)."""

    def __init__(self, *, db: Database, blobs: BlobStore, jobs: JobService, settings: Settings) -> None:
        self.services = Services(db=db, blobs=blobs, jobs=jobs, settings=settings)
        self.commands = _table("COMMANDS")
        self.buttons = _table("BUTTONS")
        # Every command the grammar can produce and every button it can decode has exactly one handler.
        unhandled = {*get_args(Command), *get_args(actions.Action)} - {*self.commands, *self.buttons}
        if unhandled:
            raise RuntimeError(f"no handler for {sorted(t.__name__ for t in unhandled)}")

    def handle(self, msg: Incoming) -> list[Reply]:
        """Replies to one message; user mistakes become one-line answers, never exceptions."""
        return self._run(msg, self._message)

    def handle_command(self, msg: Incoming, command: Command) -> list[Reply]:
        """Replies to an already typed command (a Discord slash command's options), as ``handle`` does for text."""
        return self._run(msg, lambda turn: self._dispatch(turn, command))

    def press(self, msg: Incoming, data: str) -> list[Reply]:
        """Replies to a button press; ``msg`` identifies who pressed it (only the owner's content is reachable)."""
        def pressed(turn: Turn) -> list[Reply]:
            action = actions.decode(data)
            return self.buttons[type(action)](turn, action)

        return self._run(msg, pressed)

    def attach_status_message(self, job_id: str, message_id: str) -> None:
        """Record which chat message shows ``job_id``'s status, so delivery edits it in place."""
        with self.services.db.session() as session:
            job_repo.update_chat(session, job_id=job_id, status_message_id=message_id)

    def _run(self, msg: Incoming, handler: Callable[[Turn], list[Reply]]) -> list[Reply]:
        try:
            with self.services.db.session() as session:
                return handler(Turn(self.services, msg, session, dispatch=self._dispatch))
        except StudioError as exc:
            return [Reply(text=str(exc), error=True)]
        except BlobStoreUnavailable as exc:
            # The turn's rows were rolled back with its session: nothing half-saved points at a missing file.
            log.warning("blob store unavailable: %s", exc)
            return [Reply(text=STORAGE_UNAVAILABLE, error=True)]

    def _message(self, turn: Turn) -> list[Reply]:
        text = turn.msg.text.strip()
        if turn.msg.uploads and not text.startswith("/"):
            if (turn.user.dialogue or {}).get("flow") == "persona":
                return personas.photos(turn)
            if not text:
                return [Reply(text=UPLOAD_HINT)]
        return self._dispatch(turn, grammar.parse(text, persona_names=turn.persona_names()))

    def _dispatch(self, turn: Turn, command: Command) -> list[Reply]:
        return self.commands[type(command)](turn, command)
