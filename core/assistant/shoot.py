"""/shoot: a photoshoot of one persona in one scene, its contact sheet's picks, and what to do with them (full
size, more like one of them, animate, a carousel export)."""

from __future__ import annotations

import secrets

from core import actions, grammar, modelcaps, outfits, platforms, shots
from core.assistant import animate
from core.assistant.export import PRIVATE
from core.assistant.turn import Turn, private_only, ready
from core.errors import NotFound, UsageError
from core.jobkinds import JobKind, parse_result, parse_spec
from core.jobresults import ShootResult
from core.jobspecs import ExportSpec, ShootSpec
from core.messages import Media, Reply
from core.progress import shorten
from core.quotas import check_can_submit
from core.shoot_buttons import picks_text, sheet_buttons
from storage.models import Job
from storage.states import JobStatus

NOT_YOURS = "That photoshoot is not yours or no longer exists; /jobs lists yours."
NO_PICKS = "Pick your favourites first: tap the numbers under the contact sheet."


def shoot(turn: Turn, cmd: grammar.Shoot) -> list[Reply]:
    """Queue a shoot of ``cmd.persona``: N shots of one scene, each a different pose from the curated list."""
    persona = ready(turn.persona(cmd.persona))
    # Outfit names in the scene ("in her red-dress") become their descriptions before the plan is made from it.
    worn = outfits.expand(turn.session, persona, cmd.scene.strip())
    scene = worn.text
    if len(scene) > shots.SCENE_CHARS:
        raise UsageError(f"With the outfit written out the scene is {len(scene)} characters; keep it under "
                         f"{shots.SCENE_CHARS} (shorten the scene or the outfit's description).")
    prefs = turn.prefs
    steps = prefs.get("steps")
    modelcaps.check_steps(steps, turn.settings.model_profile, label="Your default steps (/settings steps)")
    count = cmd.n if cmd.n is not None else shots.default_shoot_size(persona)
    spec = ShootSpec(persona_id=persona.id, scene=scene, shots=shots.choose(count),
                     seed=cmd.seed if cmd.seed is not None else secrets.randbelow(2**32),
                     aspect_ratio=cmd.aspect_ratio or prefs.get("ar"), steps=steps,
                     platform=cmd.platform or shots.default_platform(persona, prefs), outfits=worn.outfits)
    label = f"📸 {persona.name} · {count} shots: {shorten(cmd.scene.strip(), 70)}"
    notes = ["Wearing " + ", ".join(worn.outfits) + " from the wardrobe."] if worn.outfits else []
    return turn.submit(spec, label=label, notes=notes)


def _finished(turn: Turn, job_id: str) -> tuple[Job, ShootResult]:
    """The presser's own finished shoot and its result; someone else's, or a job gone, is not found."""
    job = turn.session.get(Job, job_id)
    if job is None or job.owner_id != turn.user.id or job.kind != JobKind.SHOOT.value:
        raise NotFound(NOT_YOURS)
    if job.status != JobStatus.DONE.value:
        raise UsageError(f"That photoshoot is {job.status}, so it has no contact sheet to pick from.")
    result = parse_result(job.kind, job.result)
    if not isinstance(result, ShootResult):
        raise NotFound(NOT_YOURS)
    return job, result


def _picked_assets(turn: Turn, result: ShootResult) -> list[tuple[int, str]]:
    """(shot number, asset id) of each pick still among the user's results, in carousel order."""
    if not result.picks:
        raise UsageError(NO_PICKS)
    found = []
    for number in result.picks:
        entry = result.shot(number)
        if entry is None:
            continue
        try:
            turn.asset(entry.asset_id, kinds=("image",))
        except NotFound:
            continue  # deleted since it was picked
        found.append((number, entry.asset_id))
    if not found:
        raise UsageError("Your picks from that shoot have been deleted; pick others.")
    return found


def toggle(turn: Turn, action: actions.TogglePick) -> list[Reply]:
    """Shot ``number`` into the picks (at the end of the carousel order) or out of them; kept on the job."""
    job, result = _finished(turn, action.job_id)
    if result.shot(action.number) is None:
        raise UsageError(f"That shoot has {len(result.shots)} shots; there is no #{action.number}.")
    if action.number in result.picks:
        result.picks.remove(action.number)
    else:
        result.picks.append(action.number)
    job.result = result.model_dump(mode="json")
    return [Reply(text=picks_text(result), buttons=sheet_buttons(job.id, result), redraws_pressed=True)]


def send(turn: Turn, action: actions.SendPicks) -> list[Reply]:
    """The picks at full size, in carousel order."""
    _, result = _finished(turn, action.job_id)
    media = []
    for number, asset_id in _picked_assets(turn, result):
        asset = turn.asset(asset_id, kinds=("image",))
        entry = result.shot(number)
        label = entry.label if entry is not None else ""
        likeness = f" · {entry.likeness}" if entry is not None and entry.likeness else ""
        media.append(Media(blob=asset.blob, kind="image", filename=f"shot-{number}-{asset.id}.png",
                           caption=f"#{asset.id} · shot {number} · {label}{likeness}", asset_id=asset.id,
                           width=asset.width, height=asset.height, mime=asset.mime))
    return [Reply(text=f"Your {len(media)} pick{'s' if len(media) != 1 else ''}, full size:", media=media)]


def more(turn: Turn, action: actions.MoreLike) -> list[Reply]:
    """A second round of the same shoot: the scene and the seed family of shot ``number``, poses not used yet."""
    job, result = _finished(turn, action.job_id)
    entry = result.shot(action.number)
    if entry is None:
        raise UsageError(f"That shoot has {len(result.shots)} shots; there is no #{action.number}.")
    original = parse_spec(job.kind, job.spec)
    assert isinstance(original, ShootSpec)
    persona = ready(turn.persona_by_id(original.persona_id))
    seed = shots.plan(original.scene, original.shots, seed=original.seed)[action.number - 1].seed
    spec = original.model_copy(update={
        "shots": shots.choose(shots.MORE_LIKE_SIZE, used=[s.shot for s in result.shots]),
        "seed": seed, "more_like": entry.asset_id})
    label = f"📸 {persona.name} · {shots.MORE_LIKE_SIZE} more like #{action.number} (#{entry.asset_id}), new poses"
    return turn.submit(spec, label=label)


def animate_picks(turn: Turn, action: actions.AnimatePicks) -> list[Reply]:
    """One clip per pick, each with the user's default motion and length."""
    _, result = _finished(turn, action.job_id)
    picked = _picked_assets(turn, result)
    modelcaps.check_motion(turn.prefs.get("motion"), turn.settings.model_profile)
    # All the clips or none: a quota reached after some were queued would leave the user told only of the refusal.
    check_can_submit(turn.session, user=turn.user, settings=turn.settings, count=len(picked))
    replies: list[Reply] = []
    for _, asset_id in picked:
        replies += animate.submit(turn, asset_id, turn.prefs, motion=None, seconds=None)
    return replies


def export_carousel(turn: Turn, action: actions.ExportCarousel) -> list[Reply]:
    """The picks as one carousel for a platform (the one pressed, else the shoot's, else ask), in pick order."""
    private_only(turn.msg, PRIVATE)
    job, result = _finished(turn, action.job_id)
    picked = _picked_assets(turn, result)
    spec = parse_spec(job.kind, job.spec)
    chosen = action.platform or (spec.platform if isinstance(spec, ShootSpec) else None)
    if chosen not in platforms.PRESETS:
        return [Reply(text="A carousel for which platform? (/settings platform <name> skips this question.)",
                      buttons=[actions.button(p.title, actions.ExportCarousel(job.id, p.name))
                               for p in platforms.PRESETS.values()])]
    platform = platforms.get(str(chosen))
    limit = turn.settings.export_max_assets
    if len(picked) > limit:
        raise UsageError(f"At most {limit} files per export; drop {len(picked) - limit} of your picks.")
    order = " ".join(f"#{number}" for number, _ in picked)
    return turn.submit(ExportSpec(platform=platform.name, asset_ids=tuple(a for _, a in picked), carousel=True),
                       label=f"{platform.title} carousel of {len(picked)} picks in this order: {order}")


COMMANDS = {grammar.Shoot: shoot}
BUTTONS = {actions.TogglePick: toggle, actions.SendPicks: send, actions.MoreLike: more,
           actions.AnimatePicks: animate_picks, actions.ExportCarousel: export_carousel}
