"""Personas: create (consent, photos, analysis), list, show, rename, delete, train."""

from __future__ import annotations

from core import actions, grammar
from core.assistant.turn import Turn
from core.errors import InvalidUpload, StudioError, UsageError
from core.jobresults import card_filename
from core.jobspecs import PersonaAnalyzeSpec, TrainSpec
from core.likeness import calibration_text
from core.limits import MAX_PHOTOS, MIN_PHOTOS, SHOOT_SIZE_DEFAULT
from core.messages import Incoming, Media, Reply
from storage.models import Persona, utcnow
from storage.repositories import personas as persona_repo
from storage.states import PersonaStatus


def new(turn: Turn, cmd: grammar.PersonaNew) -> list[Reply]:
    """Start the creation dialogue: consent first, then photos (those sent with the command are kept for it)."""
    dialogue = turn.user.dialogue or {}
    if dialogue.get("flow") == "persona":
        current = persona_repo.get_owned(turn.session, persona_id=dialogue["persona_id"], owner_id=turn.owner_id)
        if current is not None:
            raise UsageError(f"You are still creating {current.name}: send its photos and /done, or /cancel first.")
    if persona_repo.by_name(turn.session, owner_id=turn.owner_id, name=cmd.name) is not None:
        raise UsageError(f"You already have a persona called {cmd.name}; pick another name or "
                         f"/persona show {cmd.name}.")
    persona = persona_repo.create(turn.session, owner_id=turn.owner_id, name=cmd.name)
    turn.user.dialogue = {"flow": "persona", "persona_id": persona.id}
    lines = [f"Creating {cmd.name}."]
    if turn.msg.uploads:
        # Photos sent with the command are checked now and kept with the persona; nothing is analysed before
        # the owner agrees, and /cancel deletes them with it.
        lines += _intake(turn, persona)
        lines.append(f"{len(persona.references)} photo(s) kept; they are used only once you agree.")
    lines.append("First, please confirm: the photos show you, or someone who agreed to be turned into an AI "
                 "persona. Reply /consent (or press I agree); /cancel stops here.")
    return [Reply(text="\n".join(lines),
                  buttons=[actions.button("I agree", actions.Consent()), actions.button("Cancel", actions.Abort())])]


def where_to_send(msg: Incoming) -> str:
    """Where this user's chat app takes more photos for the persona."""
    if msg.platform == "console":
        return "type their file paths (several on one line is fine)"
    if msg.platform == "discord":
        return ("attach them to a message to me here (up to 10 a message)" if msg.private else
                "attach them to a message that mentions me here, or send them to me in a direct message")
    return "send them here (an album is fine)"


def _in_creation(turn: Turn) -> Persona:
    if (turn.user.dialogue or {}).get("flow") != "persona":
        raise UsageError("You are not creating a persona right now. Start with /persona new <name>.")
    persona = persona_repo.get_owned(turn.session, persona_id=int(turn.user.dialogue["persona_id"]),
                                     owner_id=turn.owner_id)
    if persona is None:
        turn.user.dialogue = {}
        turn.session.commit()  # the stale dialogue is cleared even though this answer is a refusal
        raise UsageError("That persona is gone. Start again with /persona new <name>.")
    return persona


def consent(turn: Turn, _cmd: object = None) -> list[Reply]:
    """The owner confirms the photos show them or someone who agreed."""
    persona = _in_creation(turn)
    persona.consent_at = utcnow()
    count = len(persona.references)
    where = where_to_send(turn.msg)
    if count >= MIN_PHOTOS:
        return [Reply(text=f"Thanks. {persona.name} has {count} photos: send /done to analyse them, or send more "
                           f"first (up to {MAX_PHOTOS}): {where}.")]
    have = f"{persona.name} has {count} photo(s) so far. " if count else ""
    return [Reply(text=(
        f"Thanks. {have}Now send {MIN_PHOTOS - count if count else MIN_PHOTOS}-{MAX_PHOTOS - count} photos of "
        f"{persona.name}: {where}. One face per photo, clear and well lit, different angles and expressions. "
        "Send /done when finished."
    ))]


def photos(turn: Turn) -> list[Reply]:
    """Photos sent during creation: each checked on arrival and kept as a reference."""
    persona = _in_creation(turn)
    if persona.consent_at is None:
        raise UsageError("Please confirm consent first with /consent, then send the photos again.")
    if persona.status != PersonaStatus.COLLECTING.value:
        raise UsageError(f"{persona.name}'s photos are being analysed; wait for the result.")
    lines = _intake(turn, persona)
    count = len(persona.references)
    more = MIN_PHOTOS - count
    tail = f"{count} photo(s) so far; send {more} more." if more > 0 else \
        f"{count} photo(s) so far. Send more (up to {MAX_PHOTOS}) or /done to analyse them."
    return [Reply(text="\n".join([*lines, tail]))]


def _intake(turn: Turn, persona: Persona) -> list[str]:
    """Check each photo of the message and keep it as one of the persona's references; a line per photo."""
    from core.uploads import check_image  # intake checks run before anything else touches a file

    lines: list[str] = []
    known = {ref.blob for ref in persona.references}
    for upload in turn.msg.uploads:
        label = upload.filename or f"photo {len(persona.references) + 1}"
        if len(persona.references) >= MAX_PHOTOS:
            lines.append(f"{label}: skipped, {MAX_PHOTOS} photos is the maximum.")
            continue
        try:
            checked = check_image(upload.data, filename=label, settings=turn.settings)
        except InvalidUpload as exc:
            lines.append(str(exc))
            continue
        digest = turn.services.blobs.put_bytes(checked.data)
        if digest in known:
            lines.append(f"{label}: you already sent this photo; skipped.")
            continue
        known.add(digest)
        persona_repo.add_reference(turn.session, persona=persona, blob=digest, filename=label,
                                   width=checked.width, height=checked.height)
        note = f" ({'; '.join(checked.notes)})" if checked.notes else ""
        lines.append(f"{label}: received{note}.")
    return lines


def done(turn: Turn, _cmd: grammar.Done) -> list[Reply]:
    """Finish the photos: queue the face analysis."""
    persona = _in_creation(turn)
    if persona.consent_at is None:
        raise UsageError("Please confirm consent with /consent first.")
    count = len(persona.references)
    if count < MIN_PHOTOS:
        raise UsageError(f"{persona.name} has {count} photo(s); send at least {MIN_PHOTOS - count} more, then /done.")
    persona.status = PersonaStatus.ANALYZING.value
    turn.user.dialogue = {}
    try:
        return turn.submit(PersonaAnalyzeSpec(persona_id=persona.id), label=f"Checking {count} photos of "
                           f"{persona.name}…")
    except StudioError:
        # Not queued: the user is back where they were, still collecting photos.
        persona.status = PersonaStatus.COLLECTING.value
        turn.user.dialogue = {"flow": "persona", "persona_id": persona.id}
        turn.session.commit()
        raise


def abort(turn: Turn, _cmd: object = None) -> list[Reply]:
    """/cancel without a job: leave persona creation, deleting what was sent."""
    dialogue = turn.user.dialogue or {}
    turn.user.dialogue = {}
    if dialogue.get("flow") != "persona":
        return [Reply(text="Nothing to cancel. To stop a job use /cancel <job> (see /jobs).")]
    persona = persona_repo.get_owned(turn.session, persona_id=int(dialogue["persona_id"]), owner_id=turn.owner_id)
    if persona is None:
        return [Reply(text="Cancelled.")]
    name = persona.name
    _delete(turn, persona)
    return [Reply(text=f"Cancelled: {name} and the photos you sent are deleted.")]


def listing(turn: Turn, _cmd: grammar.PersonaList) -> list[Reply]:
    personas = persona_repo.list_for(turn.session, owner_id=turn.owner_id)
    lines = [f"• {p.name} — {p.status}, {len(p.references)} photo(s)"
             + (f", LoRA v{p.loras[-1].version}" if p.loras else "") for p in personas]
    if not lines:
        return [Reply(text="No personas yet. Create one with /persona new <name>.")]
    return [Reply(text="Your personas:\n" + "\n".join(lines))]


def show(turn: Turn, cmd: grammar.PersonaShow) -> list[Reply]:
    persona = turn.persona(cmd.name)
    identity = "\n".join(f"Likeness ({engine}): {calibration_text(data) or 'calibrating'}"
                          for engine, data in persona.identity.items()) or "Likeness: not analysed yet"
    lora = f"v{persona.loras[-1].version}" if persona.loras else f"none (/persona train {persona.name})"
    text = f"{persona.name} — {persona.status}\nPhotos: {len(persona.references)}\n{identity}\nLoRA: {lora}"
    if persona.description:
        text += f"\n{persona.description}"
    text += "\n" + "\n".join(profile_lines(persona))
    media = [Media(blob=persona.card_blob, kind="image", filename=card_filename(persona.name),
                   caption=f"{persona.name}'s reference faces")] if persona.card_blob else []
    return [Reply(text=text, media=media)]


def profile_lines(persona: Persona) -> list[str]:
    """What a shoot of the persona starts from: its look, shoot size, platform and wardrobe."""
    name = persona.name
    lines = [f"Style: {persona.style_notes}" if persona.style_notes else
             f"Style: none yet (/persona set {name} style <the look every picture of {name} carries>)",
             f"Shoot size: {persona.shoot_size} photos" if persona.shoot_size else
             f"Shoot size: {SHOOT_SIZE_DEFAULT} photos (the default)",
             f"Platform: {persona.default_platform}" if persona.default_platform else
             "Platform: none (your /settings platform applies)"]
    if not persona.wardrobe:
        return [*lines, f"Wardrobe: empty (/wardrobe save {name}: <name> <description>)"]
    return [*lines, f"Wardrobe ({len(persona.wardrobe)}):",
            *(f"• {item.name} — {item.description}" for item in persona.wardrobe)]


_SET_WORDS = {"style": "style notes", "shoot-size": "shoot size", "platform": "platform"}


def set_profile(turn: Turn, cmd: grammar.PersonaSet) -> list[Reply]:
    """/persona set <name> style|shoot-size|platform <value>: what every picture and shoot of it starts from."""
    persona = turn.persona(cmd.name)
    what = _SET_WORDS[cmd.key]
    if cmd.key == "style":
        persona.style_notes = cmd.value or ""
        done = (f"Every picture of {persona.name} now carries: {cmd.value}." if cmd.value
                else f"{persona.name} has no style notes now.")
    elif cmd.key == "shoot-size":
        persona.shoot_size = int(cmd.value) if cmd.value else None
        done = f"A shoot of {persona.name} makes {persona.shoot_size or SHOOT_SIZE_DEFAULT} photos unless told."
    else:
        persona.default_platform = cmd.value
        done = (f"Pictures of {persona.name} are made for {cmd.value} unless told (--platform overrides)."
                if cmd.value else f"{persona.name} has no platform of its own now; your /settings platform applies.")
    return [Reply(text=f"Saved {persona.name}'s {what}. {done}")]


def rename(turn: Turn, cmd: grammar.PersonaRename) -> list[Reply]:
    persona = turn.persona(cmd.old)
    clash = persona_repo.by_name(turn.session, owner_id=persona.owner_id, name=cmd.new)
    if clash is not None and clash.id != persona.id:
        raise UsageError(f"You already have a persona called {cmd.new}.")
    persona.name, persona.name_key = cmd.new, persona_repo.name_key(cmd.new)
    return [Reply(text=f"Renamed {cmd.old} to {cmd.new}.")]


def delete_ask(turn: Turn, cmd: grammar.PersonaDelete) -> list[Reply]:
    persona = turn.persona(cmd.name)
    return [Reply(
        text=f"Delete {persona.name}, its photos, embeddings and LoRA weights? This cannot be undone.",
        buttons=[actions.button(f"Delete {persona.name}", actions.DeletePersona(persona.id)),
                 actions.button("Keep", actions.Noop())],
    )]


def delete_pressed(turn: Turn, action: actions.DeletePersona) -> list[Reply]:
    persona = turn.persona_by_id(action.persona_id)
    name = persona.name
    if (turn.user.dialogue or {}).get("persona_id") == persona.id:
        turn.user.dialogue = {}
    _delete(turn, persona)
    return [Reply(text=f"Deleted {name} with its photos, embeddings and LoRA weights.")]


def _delete(turn: Turn, persona: Persona) -> None:
    """Delete the persona's rows now and its files once that is committed (a rollback keeps both)."""
    digests = persona_repo.blobs_of(persona)
    turn.session.delete(persona)
    turn.session.flush()
    turn.forget_blobs(digests)


def train(turn: Turn, cmd: grammar.PersonaTrain) -> list[Reply]:
    persona = turn.persona(cmd.name)
    if persona.status != PersonaStatus.READY.value:
        raise UsageError(f"{persona.name} is {persona.status}; train once its photos are analysed.")
    return turn.submit(TrainSpec(persona_id=persona.id),
                       label=f"Training a LoRA for {persona.name}; you can keep using /imagine meanwhile.")


COMMANDS = {
    grammar.PersonaNew: new, grammar.Consent: consent, grammar.Done: done,
    grammar.PersonaList: listing, grammar.PersonaShow: show, grammar.PersonaRename: rename,
    grammar.PersonaDelete: delete_ask, grammar.PersonaTrain: train, grammar.PersonaSet: set_profile,
}
BUTTONS = {actions.Consent: consent, actions.Abort: abort, actions.DeletePersona: delete_pressed}
