"""/swap: a ready persona's face into the user's photo or video."""

from __future__ import annotations

from core import actions, grammar
from core.assistant.turn import Turn, ready
from core.errors import InvalidUpload, UsageError
from core.jobspecs import FaceSwapSpec
from core.messages import Reply
from core.quotas import check_can_submit
from storage.models import Persona
from storage.repositories import personas as persona_repo
from storage.states import PersonaStatus

NO_SWAP_TARGET = ("Send /swap {name} with a photo or video attached, reply /swap {name} to one of your images "
                  "or videos, or name one: /swap {name} #1a2b3c4d (/gallery shows ids).")


def swap(turn: Turn, cmd: grammar.Swap) -> list[Reply]:
    """Swap into the named photo or video, else the replied-to one, else the one sent with the command."""
    notes: list[str] = []
    # Only the user's own personas lend their face: someone else's name finds nothing here.
    persona = ready(turn.persona(cmd.persona))
    named = cmd.asset or turn.replied_asset()
    if named:
        asset_id = turn.asset(named, what="photo or video").id
    elif turn.msg.uploads:
        # Checked before the upload is stored, so a refused request leaves nothing behind.
        check_can_submit(turn.session, user=turn.user, settings=turn.settings)
        asset_id, notes = _uploaded_target(turn)
    else:
        raise UsageError(NO_SWAP_TARGET.format(name=persona.name))
    return _submit(turn, persona, asset_id, notes=notes)


def _uploaded_target(turn: Turn) -> tuple[str, list[str]]:
    """The attached photo or video stored as the user's asset: its id and what intake changed."""
    from core.uploads import check_video, sniff_kind  # intake checks run before anything else touches a file

    uploads = turn.msg.uploads
    if len(uploads) > 1:
        raise UsageError("Send one photo or video at a time with /swap.")
    upload = uploads[0]
    kind = sniff_kind(upload.data)
    if kind is None:
        # /swap takes both kinds: the refusal names both, not only the photo formats.
        raise InvalidUpload(f"{upload.filename or 'That file'} is neither a photo nor a video I recognise; send a "
                            f"JPEG, PNG or WebP photo, or an MP4, MOV or WebM video.")
    if kind == "image":
        return turn.uploaded_image(uploads, command="/swap")
    checked = check_video(upload.data, filename=upload.filename or "your video", settings=turn.settings)
    # Size and length are unknown here (no decoder in front ends); the worker fills them in.
    asset = turn.store_upload("video", checked.data, mime=checked.mime, meta={"filename": upload.filename})
    return asset.id, []


def pressed(turn: Turn, action: actions.SwapInto) -> list[Reply]:
    """A result's swap button: straight to the swap with the one ready persona, else ask whose face."""
    turn.asset(action.asset_id, what="photo or video")
    if action.persona_id is not None:
        persona = ready(turn.persona_by_id(action.persona_id))
    else:
        choices = [p for p in persona_repo.list_for(turn.session, owner_id=turn.owner_id)
                   if p.status == PersonaStatus.READY.value]
        if not choices:
            raise UsageError("You have no ready persona yet: create one with /persona new <name>, "
                             "then swap its face in.")
        if len(choices) > 1:
            return [Reply(text=f"Whose face goes into #{action.asset_id}?",
                          buttons=[actions.button(p.name, actions.SwapInto(action.asset_id, p.id)) for p in choices])]
        persona = choices[0]
    return _submit(turn, persona, action.asset_id)


def _submit(turn: Turn, persona: Persona, asset_id: str, *, notes: list[str] | None = None) -> list[Reply]:
    return turn.submit(FaceSwapSpec(persona_id=persona.id, asset_id=asset_id),
                       label=f"{persona.name}'s face into #{asset_id}", notes=notes)


COMMANDS = {grammar.Swap: swap}
BUTTONS = {actions.SwapInto: pressed}
