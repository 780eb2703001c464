"""Images: /imagine, variations and remixes of a result, /gallery, and the user's prompt templates."""

from __future__ import annotations

from core import actions, grammar, modelcaps, outfits, prompts
from core.assistant.turn import Turn
from core.errors import NotFound, UsageError
from core.jobspecs import ImageSpec
from core.likeness import likeness_from_score
from core.messages import Media, Reply
from core.progress import shorten
from storage.models import Asset, Persona
from storage.repositories import assets as asset_repo
from storage.states import PersonaStatus


def imagine(turn: Turn, cmd: grammar.Imagine) -> list[Reply]:
    prefs = turn.prefs
    if cmd.template:
        try:
            prompts.get_template(cmd.template, prefs)
        except ValueError as exc:
            raise UsageError(f"{exc}. /template list shows them.") from None
    persona: Persona | None = None
    if cmd.persona:
        persona = turn.persona(cmd.persona)
        if persona.status != PersonaStatus.READY.value:
            raise UsageError(f"{persona.name} is not ready yet ({persona.status}).")
    # "in her red-dress" → the outfit's description: the worker draws what the words say.
    worn = outfits.expand(turn.session, persona, cmd.prompt)
    steps = cmd.steps or prefs.get("steps")
    # Checked against the model that will run it, so a value it cannot take is refused now, not by the worker.
    modelcaps.check_steps(steps, turn.settings.model_profile,
                          label="--steps" if cmd.steps else "Your default steps (/settings steps)")
    notes = []
    model = modelcaps.image_model(turn.settings.model_profile)
    if cmd.negative and model is not None and model.guidance == 0:
        notes.append(f"{model.short_title} ignores --no (it uses no negative prompt); leave it out of the words "
                     "instead.")
    if worn.outfits:
        notes.append("Wearing " + ", ".join(worn.outfits) + " from the wardrobe.")
    spec = ImageSpec(
        persona_id=persona.id if persona is not None else None,
        prompt=worn.text,
        outfits=worn.outfits,
        aspect_ratio=cmd.aspect_ratio or prefs.get("ar"),
        n=cmd.n if cmd.n is not None else int(prefs.get("n", 1)),
        seed=cmd.seed,
        steps=steps,
        template=cmd.template,
        # The persona's own platform is more specific than the user's general default.
        platform=cmd.platform or (persona.default_platform if persona is not None else None) or prefs.get("platform"),
        negative=cmd.negative,
    )
    who = f"{cmd.persona}: " if cmd.persona else ""
    return turn.submit(spec, label=shorten(f"{who}{cmd.prompt}", 80), notes=notes)


def variations(turn: Turn, action: actions.Variations | actions.Remix) -> list[Reply]:
    """New seeds on the same prompt (Variations), or the same seed with a small prompt change (Remix)."""
    asset = asset_repo.get_owned(turn.session, asset_id=action.asset_id, owner_id=turn.owner_id)
    if asset is None:
        raise NotFound("That result is not yours or no longer exists.")
    remix = isinstance(action, actions.Remix)
    # The worker repeats the original request stored with the asset; only what changes is sent. A remix keeps
    # the seed and rewords the prompt: one picture, as two with the same seed would look like a mistake.
    spec = ImageSpec(n=1 if remix else 2, variation_of=action.asset_id, variation="prompt" if remix else "seeds")
    label = (f"A remix of #{action.asset_id}: the same seed, the prompt slightly reworded" if remix
             else f"Variations of your image #{action.asset_id}: the same prompt, two new seeds")
    return turn.submit(spec, label=label)


def gallery(turn: Turn, cmd: grammar.Gallery) -> list[Reply]:
    recent = asset_repo.recent(turn.session, owner_id=turn.owner_id, limit=cmd.n)
    media = [Media(blob=a.blob, kind=a.kind, filename=f"{a.id}.{extension(a)}", caption=_caption(turn, a),
                   asset_id=a.id, width=a.width, height=a.height, duration_s=a.duration_s, mime=a.mime)
             for a in recent]
    if not media:
        return [Reply(text="Your gallery is empty. Try /imagine.")]
    if len(media) < cmd.n:
        # Asked for more than there are: say so, rather than "your latest 25" to "/gallery 30".
        return [Reply(text=f"All {len(media)} of your results (newest first):", media=media)]
    return [Reply(text=f"Your latest {len(media)} (newest first):", media=media)]


def _caption(turn: Turn, asset: Asset) -> str:
    """``#id``, and the likeness on its persona's own scale where it was scored."""
    persona = turn.session.get(Persona, asset.persona_id) if asset.persona_id is not None else None
    engine = (asset.meta or {}).get("identity_engine")
    read = likeness_from_score(asset.identity_score, persona.identity if persona is not None else None,
                               engine if isinstance(engine, str) else None)
    return f"#{asset.id}" + (f" · {read.caption}" if read is not None else "")


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
