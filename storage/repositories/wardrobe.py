"""A persona's wardrobe: outfits by name, unique per persona however the name is spelt ("Red Dress" = red-dress)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Persona, WardrobeItem

_SEPARATORS = re.compile(r"[\s_-]+")


def name_key(name: str) -> str:
    """The form outfit names are compared by: case-folded, spaces, underscores and dashes as one dash."""
    return _SEPARATORS.sub("-", name.strip().casefold()).strip("-")


def by_name(session: Session, *, persona_id: int, name: str) -> WardrobeItem | None:
    """The persona's outfit called ``name`` (any case or separator)."""
    stmt = select(WardrobeItem).where(WardrobeItem.persona_id == persona_id, WardrobeItem.name_key == name_key(name))
    return session.scalars(stmt).first()


def list_for(session: Session, *, persona_id: int) -> Sequence[WardrobeItem]:
    """The persona's outfits by name."""
    stmt = select(WardrobeItem).where(WardrobeItem.persona_id == persona_id).order_by(WardrobeItem.name_key)
    return session.scalars(stmt).all()


def save(session: Session, *, persona: Persona, name: str, description: str, description_source: str = "user",
         photo_blob: str | None = None) -> tuple[WardrobeItem, str | None]:
    """Add the outfit, or replace the description (and the photo, when one is given) of the one so named (which
    keeps the name as first spelt: it is how the owner knows it).

    Returns the item and the photo digest it no longer refers to (delete its file once committed, if unused).
    """
    item = by_name(session, persona_id=persona.id, name=name)
    if item is None:
        item = WardrobeItem(persona_id=persona.id, name=name.strip(), name_key=name_key(name),
                            description=description, description_source=description_source, photo_blob=photo_blob)
        persona.wardrobe.append(item)
        session.flush()
        return item, None
    replaced = item.photo_blob if photo_blob is not None and item.photo_blob != photo_blob else None
    item.description, item.description_source = description, description_source
    if photo_blob is not None:
        item.photo_blob = photo_blob
    session.flush()
    return item, replaced


def delete(session: Session, *, item: WardrobeItem) -> str | None:
    """Remove the outfit; returns its photo digest (delete the file once committed, if nothing else uses it)."""
    photo = item.photo_blob
    persona = item.persona
    persona.wardrobe.remove(item)
    session.flush()
    return photo
