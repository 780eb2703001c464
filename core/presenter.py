"""Turns delivery events into what a chat shows: the edited status line and, at the end, the results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.delivery import DeliveryEvent
from core.messages import Button, Media, Reply
from core.progress import status_text
from storage.db import Database
from storage.repositories import jobs as job_repo


@dataclass
class Presentation:
    """What a front end does for one event: edit the status message, then send ``results`` (final only)."""

    job_id: str
    chat: dict[str, Any]
    status_text: str
    results: list[Reply] = field(default_factory=list)

    @property
    def status_message_id(self) -> str | None:
        value = self.chat.get("status_message_id")
        return str(value) if value is not None else None


def present(db: Database, event: DeliveryEvent) -> Presentation | None:
    """The chat actions for ``event``, or None when its job no longer exists."""
    with db.session() as session:
        job = job_repo.get(session, job_id=event.job_id)
        if job is None:
            return None
        kind, chat, result = job.kind, dict(job.chat), dict(job.result or {})
    presentation = Presentation(job_id=event.job_id, chat=chat, status_text=status_text(kind, event))
    if event.status == "done":
        presentation.results = _results(kind, result)
    return presentation


def _results(kind: str, result: dict[str, Any]) -> list[Reply]:
    if kind == "echo":
        return [Reply(text=f"echo: {result.get('text', '')}")]
    media = [
        Media(
            blob=item["blob"],
            kind=item.get("kind", "image"),
            filename=item.get("filename", "result"),
            caption=item.get("caption", ""),
            asset_id=item.get("asset_id"),
            size_bytes=int(item.get("size_bytes", 0)),
        )
        for item in result.get("media", [])
    ]
    message = str(result.get("message", "")) or ("Here you go." if media else "Done.")
    buttons: list[Button] = []
    assets = [m.asset_id for m in media if m.asset_id]
    if kind == "image" and assets:
        # One row of actions for the first result; each media caption carries its id for the others.
        buttons = [Button("🔁 Variations", f"var:{assets[0]}"), Button("✏️ Remix", f"remix:{assets[0]}"),
                   Button("🎬 Animate", f"anim:{assets[0]}"), Button("📦 Export", f"exp:{assets[0]}")]
    return [Reply(text=message, media=media, buttons=buttons)]
