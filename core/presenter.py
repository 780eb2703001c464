"""Turns delivery events into what a chat shows: the edited status line and, at the end, the results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core import actions, jobkinds
from core.delivery import DeliveryEvent
from core.grammar import ASSET_ID_RE
from core.jobkinds import JobKind
from core.jobresults import EchoResult, JobResult, ShootResult
from core.messages import Button, Media, Reply
from core.progress import status_text
from core.shoot_buttons import sheet_buttons
from storage.db import Database
from storage.repositories import jobs as job_repo


@dataclass
class Presentation:
    """What a front end does for one event: edit the status message, then send ``results`` (final only)."""

    job_id: str
    chat: dict[str, Any]
    status_text: str
    results: list[Reply] = field(default_factory=list)
    status_buttons: list[Button] = field(default_factory=list)  # under the status message while the job runs

    @property
    def status_message_id(self) -> str | None:
        value = self.chat.get("status_message_id")
        return str(value) if value is not None else None

    @property
    def reply_to(self) -> int | None:
        """The user's message that the results answer, where the front end quotes it."""
        value = self.chat.get("reply_to")
        return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def present(db: Database, event: DeliveryEvent) -> Presentation | None:
    """The chat actions for ``event``, or None when its job no longer exists."""
    with db.session() as session:
        job = job_repo.get(session, job_id=event.job_id)
        if job is None:
            return None
        kind, chat, spec, stored = job.kind, dict(job.chat), dict(job.spec or {}), dict(job.result or {})
    presentation = Presentation(job_id=event.job_id, chat=chat, status_text=status_text(kind, event))
    if not event.is_final:
        presentation.status_buttons = [actions.button("Cancel", actions.CancelJob(job_id=event.job_id))]
    if event.status == "done":
        presentation.results = _results(kind, spec, jobkinds.parse_result(kind, stored), job_id=event.job_id)
    return presentation


def _results(kind: str, spec: dict[str, Any], result: JobResult, *, job_id: str) -> list[Reply]:
    if isinstance(result, EchoResult):
        return [Reply(text=f"echo: {result.text}")]
    if isinstance(result, ShootResult):
        # The contact sheet alone (the shots go out full size when picked), under it the picking buttons.
        return [Reply(text=result.message, media=[_media(item) for item in result.media],
                      buttons=sheet_buttons(job_id, result))]
    media = [_media(item) for item in result.media]
    message = result.message or ("Here you go." if media else "Done.")
    if result.link and result.link not in message:
        # Buttons carry actions, not addresses: a download (an export package) is a link in the text itself.
        message += f"\n{result.link}"
    assets = [m.asset_id for m in media if m.asset_id]
    first_kind = next((m.kind for m in media if m.asset_id), "")
    return [Reply(text=message, media=media, buttons=_buttons(kind, spec, assets, first_kind=first_kind))]


def _media(item: Media) -> Media:
    caption = item.caption
    if item.asset_id and f"#{item.asset_id}" not in caption:
        # Every result names its id: a reply to it (or "/animate #id") then points at exactly this file.
        caption = f"#{item.asset_id} · {caption}" if caption else f"#{item.asset_id}"
    return dataclasses.replace(item, caption=caption)


def _buttons(kind: str, spec: dict[str, Any], assets: list[str], *, first_kind: str = "") -> list[Button]:
    """One row of actions for the first result; each media caption carries its id for the others."""
    if not assets:
        return []
    first = assets[0]
    animate = actions.button("🎬 Animate", actions.AnimateAsset(first))
    export = actions.button("📦 Export", actions.ExportAsset(first))
    if kind == JobKind.FACESWAP:
        # A swapped photo is a still like any other: animating it and exporting it are the next steps.
        return [animate, export] if first_kind == "image" else [export]
    if kind == JobKind.IMAGE:
        return [actions.button("🔁 Variations", actions.Variations(first)),
                actions.button("✏️ Remix", actions.Remix(first)), animate, export]
    if kind == JobKind.VIDEO:
        source = spec.get("asset_id")
        if isinstance(source, str) and ASSET_ID_RE.match(source):
            # A different camera move of the same picture is the usual next step; the picker offers each preset.
            return [actions.button("🎞 Other motion", actions.MotionPicker(source)), export]
        return [export]
    return []
