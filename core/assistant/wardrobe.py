"""Wardrobe: outfits a persona wears by name — save (words, or a photo of the outfit), list, delete."""

from __future__ import annotations

from dataclasses import replace

from core import grammar
from core.assistant.turn import Turn
from core.colour_names import dominant_colours, in_words
from core.errors import NotFound, UsageError
from core.limits import MAX_OUTFITS
from core.messages import Media, Reply
from storage.blobs import BlobNotFound
from storage.models import Persona, WardrobeItem
from storage.repositories import personas as persona_repo
from storage.repositories import wardrobe as wardrobe_repo

NO_PERSONA = "Outfits belong to a persona: create one first with /persona new <name>."
COLOURS_NOTE = "colours read from the photo"


def save(turn: Turn, cmd: grammar.WardrobeSave) -> list[Reply]:
    """Keep the outfit under its name for the persona (replacing one of that name); ask whose when unclear."""
    if not cmd.description and cmd.photo is None and not turn.msg.uploads:
        raise UsageError(f"Describe {cmd.name}: /wardrobe save {cmd.name} a red satin slip dress, or send a photo "
                         f"of the outfit with the caption /wardrobe save {cmd.name}.")
    persona = _persona(turn, cmd.persona)
    if isinstance(persona, list):
        # The photo cannot ride on a button: it is kept now and its digest goes with each choice.
        photo = cmd.photo or _checked_photo(turn)[0]
        return turn.dispatch(grammar.Ask(
            f"Whose outfit is {cmd.name}?",
            tuple(grammar.Choice(name, replace(cmd, persona=name, photo=photo)) for name in persona)))
    photo, notes = (cmd.photo, []) if cmd.photo else _checked_photo(turn)
    if photo is not None and not turn.services.blobs.exists(photo):
        photo, notes = None, ["The photo was no longer kept (the question waited too long); saved without it."]
    existing = wardrobe_repo.by_name(turn.session, persona_id=persona.id, name=cmd.name)
    if existing is None and len(persona.wardrobe) >= MAX_OUTFITS:
        raise UsageError(f"{persona.name} has {MAX_OUTFITS} outfits, the most one persona keeps; delete one first "
                         f"(/wardrobe list {persona.name}).")
    description, source = cmd.description, "user"
    if not description:
        if photo is None:  # a new description is needed and nothing stands in for it
            raise UsageError(f"Describe {cmd.name}, e.g. /wardrobe save {persona.name}: {cmd.name} a red satin "
                             "slip dress.")
        description, source = f"{in_words(dominant_colours(turn.services.blobs.read_bytes(photo)))} outfit", "colours"
    item, replaced = wardrobe_repo.save(turn.session, persona=persona, name=cmd.name, description=description,
                                        description_source=source, photo_blob=photo)
    if replaced:
        turn.forget_blobs([replaced])
    verb = "Updated" if existing is not None else "Saved"
    lines = [f"{verb} {persona.name}'s {item.name}: {item.description}."]
    if source == "colours":
        lines.append(f"I can't tell what an outfit is from a photo, only its colours, so that is what I wrote. Say "
                     f"what it is for better pictures: /wardrobe save {persona.name}: {item.name} <description> "
                     "(the photo stays).")
    elif item.photo_blob:
        lines.append("The photo is kept with it as a reference for you (/wardrobe list shows it); pictures are "
                     "drawn from the words.")
    lines += notes
    lines.append(f"Use it by name: /imagine {persona.name} in {item.name} at a café.")
    return [Reply(text="\n".join(lines))]


def listing(turn: Turn, cmd: grammar.WardrobeList) -> list[Reply]:
    """One persona's outfits, else every persona's; outfit photos come along."""
    personas = [turn.persona(cmd.persona)] if cmd.persona else list(
        persona_repo.list_for(turn.session, owner_id=turn.owner_id))
    if not personas:
        raise UsageError(NO_PERSONA)
    lines: list[str] = []
    media: list[Media] = []
    for persona in personas:
        if not persona.wardrobe:
            if cmd.persona:
                lines.append(f"{persona.name}'s wardrobe is empty. Add an outfit: /wardrobe save {persona.name}: "
                             "red-dress a red satin slip dress (a photo of it may come along).")
            continue
        lines.append(f"{persona.name}'s wardrobe:")
        lines += [f"• {item.name} — {describe(item)}" + (" (photo)" if item.photo_blob else "")
                  for item in persona.wardrobe]
        media += [photo for item in persona.wardrobe if (photo := _photo(turn, persona, item)) is not None]
    if not lines:
        return [Reply(text="No outfits yet. Add one: /wardrobe save <persona>: red-dress a red satin slip dress, "
                           "then /imagine <persona> in her red-dress at a café.")]
    return [Reply(text="\n".join(lines), media=media[:10])]


def delete(turn: Turn, cmd: grammar.WardrobeDelete) -> list[Reply]:
    """Remove the outfit (its photo too, where nothing else uses it); ask whose when several have that name."""
    if cmd.persona:
        persona = turn.persona(cmd.persona)
        item = wardrobe_repo.by_name(turn.session, persona_id=persona.id, name=cmd.name)
        if item is None:
            raise NotFound(unknown_outfit(persona, cmd.name))
    else:
        found = [(persona, item) for persona in persona_repo.list_for(turn.session, owner_id=turn.owner_id)
                 if (item := wardrobe_repo.by_name(turn.session, persona_id=persona.id, name=cmd.name)) is not None]
        if not found:
            raise NotFound(f"None of your personas has an outfit called {cmd.name}; /wardrobe list shows them.")
        if len(found) > 1:
            return turn.dispatch(grammar.Ask(
                f"Several personas have {cmd.name}. Whose should go?",
                tuple(grammar.Choice(p.name, replace(cmd, persona=p.name)) for p, _ in found)))
        persona, item = found[0]
    name = item.name
    photo = wardrobe_repo.delete(turn.session, item=item)
    if photo:
        turn.forget_blobs([photo])
    return [Reply(text=f"Deleted {persona.name}'s {name}.")]


def _photo(turn: Turn, persona: Persona, item: WardrobeItem) -> Media | None:
    if not item.photo_blob:
        return None
    # Intake keeps a photo as JPEG or PNG; the file's first bytes say which, so the name does not mislead.
    try:
        head = b"".join(turn.services.blobs.read_range(item.photo_blob, 0, 2))
    except BlobNotFound:  # housekeeping reports a referenced blob that is missing; the list still shows the words
        return None
    extension, mime = ("jpg", "image/jpeg") if head.startswith(b"\xff\xd8\xff") else ("png", "image/png")
    return Media(blob=item.photo_blob, kind="image", filename=f"{item.name}.{extension}", mime=mime,
                 caption=f"{persona.name} · {item.name}")


def describe(item: WardrobeItem) -> str:
    """The outfit's description, saying so when it was read from the photo's colours."""
    return f"{item.description} ({COLOURS_NOTE})" if item.description_source == "colours" else item.description


def unknown_outfit(persona: Persona, name: str) -> str:
    """"Ava has no outfit called x; …" with the outfits there are."""
    if not persona.wardrobe:
        return f"{persona.name} has no outfits yet; add one with /wardrobe save {persona.name}: {name} <description>."
    names = ", ".join(item.name for item in persona.wardrobe)
    return f"{persona.name} has no outfit called {name}; the wardrobe has {names}."


def _persona(turn: Turn, name: str | None) -> Persona | list[str]:
    """The named persona, the user's only one, or (several, none named) their names to ask from."""
    if name:
        return turn.persona(name)
    personas = persona_repo.list_for(turn.session, owner_id=turn.owner_id)
    if not personas:
        raise UsageError(NO_PERSONA)
    if len(personas) == 1:
        return personas[0]
    return [persona.name for persona in personas]


def _checked_photo(turn: Turn) -> tuple[str | None, list[str]]:
    """The photo sent with the message, checked and kept: its digest and what intake changed."""
    from core.uploads import check_image  # intake checks run before anything else touches a file

    uploads = turn.msg.uploads
    if not uploads:
        return None, []
    if len(uploads) > 1:
        raise UsageError("Send one photo per outfit with /wardrobe save.")
    checked = check_image(uploads[0].data, filename=uploads[0].filename or "your photo", settings=turn.settings)
    return turn.services.blobs.put_bytes(checked.data), checked.notes


COMMANDS = {grammar.WardrobeSave: save, grammar.WardrobeList: listing, grammar.WardrobeDelete: delete}
