"""Images: /imagine, variations and remixes of a result, /gallery, and the user's prompt templates."""

from __future__ import annotations

from core import actions, grammar, prompts
from core.assistant.turn import Turn
from core.errors import NotFound, UsageError
from core.jobspecs import ImageSpec
from core.messages import Media, Reply
from storage.models import Asset
from storage.repositories import assets as asset_repo
from storage.states import PersonaStatus


def imagine(turn: Turn, cmd: grammar.Imagine) -> list[Reply]:
    prefs = turn.prefs
    if cmd.template:
        try:
            prompts.get_template(cmd.template, prefs)
        except ValueError as exc:
            raise UsageError(f"{exc}. /template list shows them.") from None
    persona_id: int | None = None
    if cmd.persona:
        persona = turn.persona(cmd.persona)
        if persona.status != PersonaStatus.READY.value:
            raise UsageError(f"{persona.name} is not ready yet ({persona.status}).")
        persona_id = persona.id
    spec = ImageSpec(
        persona_id=persona_id,
        prompt=cmd.prompt,
        aspect_ratio=cmd.aspect_ratio or prefs.get("ar"),
        n=cmd.n if cmd.n is not None else int(prefs.get("n", 1)),
        seed=cmd.seed,
        steps=cmd.steps or prefs.get("steps"),
        template=cmd.template,
        platform=cmd.platform or prefs.get("platform"),
        negative=cmd.negative,
    )
    who = f"{cmd.persona}: " if cmd.persona else ""
    return turn.submit(spec, label=f"{who}{cmd.prompt[:80]}")


def variations(turn: Turn, action: actions.Variations | actions.Remix) -> list[Reply]:
    """New seeds on the same prompt (Variations), or the same seed with a small prompt change (Remix)."""
    asset = asset_repo.get_owned(turn.session, asset_id=action.asset_id, owner_id=turn.owner_id)
    if asset is None:
        raise NotFound("That result is not yours or no longer exists.")
    remix = isinstance(action, actions.Remix)
    # The worker repeats the original request stored with the asset; only what changes is sent.
    spec = ImageSpec(n=2, variation_of=action.asset_id, variation="prompt" if remix else "seeds")
    label = "A remix of your image (same seed)" if remix else "Variations of your image"
    return turn.submit(spec, label=label)


def gallery(turn: Turn, cmd: grammar.Gallery) -> list[Reply]:
    recent = asset_repo.recent(turn.session, owner_id=turn.owner_id, limit=cmd.n)
    media = [Media(blob=a.blob, kind=a.kind, filename=f"{a.id}.{extension(a)}",
                   caption=f"#{a.id}" + (f" · identity {a.identity_score:.2f}" if a.identity_score is not None else ""),
                   asset_id=a.id, width=a.width, height=a.height, duration_s=a.duration_s, mime=a.mime)
             for a in recent]
    if not media:
        return [Reply(text="Your gallery is empty. Try /imagine.")]
    return [Reply(text=f"Your latest {len(media)}:", media=media)]


def extension(asset: Asset) -> str:
    """The file extension of what the asset is: an uploaded JPEG or MOV called .png or .mp4 would mislead."""
    known = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
             "video/quicktime": "mov", "video/webm": "webm", "video/x-msvideo": "avi"}
    return known.get(asset.mime, "mp4" if asset.kind == "video" else "png")


def template(turn: Turn, cmd: grammar.TemplateCmd) -> list[Reply]:
    prefs = turn.prefs
    try:
        if cmd.action == "save" and cmd.name and cmd.text:
            turn.user.preferences = prompts.save_template(prefs, name=cmd.name, prompt=cmd.text)
            return [Reply(text=f"Saved template {cmd.name}: use /imagine <prompt> --template {cmd.name}.")]
        if cmd.action == "delete" and cmd.name:
            turn.user.preferences = prompts.delete_template(prefs, cmd.name)
            return [Reply(text=f"Deleted your template {cmd.name}.")]
        if cmd.action == "show" and cmd.name:
            found = prompts.get_template(cmd.name, prefs)
            return [Reply(text=f"{found.name} — {found.title}\n{found.prompt}")]
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None
    lines = [f"• {t.name} — {t.title}{' (yours)' if t.user else ''}" for t in prompts.list_templates(prefs)]
    return [Reply(text="Templates (use --template <name>):\n" + "\n".join(lines))]


COMMANDS = {grammar.Imagine: imagine, grammar.Gallery: gallery, grammar.TemplateCmd: template}
BUTTONS = {actions.Variations: variations, actions.Remix: variations}
