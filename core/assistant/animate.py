"""/animate: a still into a short clip, from an id, a reply, an attached photo, or the newest image."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import actions, grammar, modelcaps
from core.assistant.turn import Turn
from core.errors import UsageError
from core.jobspecs import VideoSpec
from core.limits import MOTIONS
from core.messages import Reply
from core.quotas import check_can_submit
from storage.models import Asset
from storage.repositories import assets as asset_repo

NO_IMAGE = ("Send /animate with a photo attached, reply /animate to one of your images, "
            "or make one with /imagine first.")


def animate(turn: Turn, cmd: grammar.Animate) -> list[Reply]:
    """Animate the named image, else the replied-to one, else the attached photo, else the newest image (of the
    persona named: "make a video of Mia")."""
    notes: list[str] = []
    modelcaps.check_motion(cmd.motion or turn.prefs.get("motion"), turn.settings.model_profile)
    named = cmd.asset or turn.replied_asset()
    if named:
        asset_id = _image(turn, named)
    elif cmd.persona:
        asset_id = _newest_of(turn, cmd.persona)
    elif turn.msg.uploads:
        # Checked before the upload is stored, so a refused request leaves nothing behind.
        check_can_submit(turn.session, user=turn.user, settings=turn.settings)
        asset_id, notes = turn.uploaded_image(turn.msg.uploads, command="/animate")
    else:
        newest = asset_repo.recent(turn.session, owner_id=turn.owner_id, kind="image", limit=1, origins=None)
        if not newest:
            raise UsageError(NO_IMAGE)
        asset_id = newest[0].id
    return submit(turn, asset_id, turn.prefs, motion=cmd.motion, seconds=cmd.seconds, notes=notes)


def _newest_of(turn: Turn, name: str) -> str:
    """The newest image showing the persona ``name``."""
    persona = turn.persona(name)
    newest = turn.session.scalars(select(Asset.id).where(
        Asset.owner_id == turn.owner_id, Asset.persona_id == persona.id, Asset.kind == "image",
    ).order_by(Asset.created_at.desc(), Asset.id).limit(1)).first()
    if newest is None:
        raise UsageError(f"{persona.name} has no pictures yet, and a video starts from one. Make one first, e.g. "
                         f"/imagine {persona.name}: on a beach at sunset, then press 🎬 Animate under it.")
    return newest


def _image(turn: Turn, asset_id: str) -> str:
    asset = turn.asset(asset_id, kinds=("image", "video"), what="image")
    if asset.kind != "image":
        raise UsageError(f"/animate works on images; #{asset_id} is a {asset.kind}. "
                         "Pick an image from /gallery, or send a photo with /animate.")
    return asset.id


def submit(turn: Turn, asset_id: str, prefs: dict[str, Any], *, motion: str | None, seconds: float | None,
            notes: list[str] | None = None) -> list[Reply]:
    """Queue a video job; what the request leaves out comes from the user's /settings, else the worker."""
    motion = motion or prefs.get("motion")
    length = seconds if seconds is not None else prefs.get("seconds")
    spec = VideoSpec(asset_id=asset_id, motion=motion, seconds=float(length) if length is not None else None)
    default_length = f"{turn.settings.video_default_seconds:g} s"
    label = " · ".join((f"animating #{asset_id}", motion or "default motion",
                        f"{float(length):g} s" if length is not None else default_length))
    return turn.submit(spec, label=label, notes=notes)


def pressed(turn: Turn, action: actions.AnimateAsset) -> list[Reply]:
    """A result's Animate button, or a motion picked from the Other motion picker."""
    _image(turn, action.asset_id)
    modelcaps.check_motion(action.motion or turn.prefs.get("motion"), turn.settings.model_profile)
    return submit(turn, action.asset_id, turn.prefs, motion=action.motion, seconds=None)


def motion_picker(turn: Turn, action: actions.MotionPicker) -> list[Reply]:
    _image(turn, action.asset_id)
    offered = [m for m in MOTIONS if m != "ai" or modelcaps.model_for("image-to-video", turn.settings.model_profile)]
    return [Reply(text=f"Which camera motion for #{action.asset_id}?",
                  buttons=[actions.button(m, actions.AnimateAsset(action.asset_id, m)) for m in offered])]


COMMANDS = {grammar.Animate: animate}
BUTTONS = {actions.AnimateAsset: pressed, actions.MotionPicker: motion_picker}
