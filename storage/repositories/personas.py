"""Personas and their reference photos; names are unique per owner, case-insensitively."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Persona, ReferenceImage, User
from storage.states import PersonaStatus


def name_key(name: str) -> str:
    """The case-folded form names are compared by."""
    return name.strip().casefold()


def create(session: Session, *, owner_id: int, name: str, trigger_token: str = "") -> Persona:
    """A new persona in ``collecting`` state."""
    persona = Persona(owner_id=owner_id, name=name.strip(), name_key=name_key(name), trigger_token=trigger_token)
    session.add(persona)
    session.flush()
    return persona


def by_name(session: Session, *, owner_id: int, name: str) -> Persona | None:
    """The owner's persona called ``name`` (any case)."""
    stmt = select(Persona).where(Persona.owner_id == owner_id, Persona.name_key == name_key(name))
    return session.scalars(stmt).first()


def get_owned(session: Session, *, persona_id: int, owner_id: int) -> Persona | None:
    """The persona only if ``owner_id`` owns it."""
    persona = session.get(Persona, persona_id)
    return persona if persona is not None and persona.owner_id == owner_id else None


def list_for(session: Session, *, owner_id: int) -> Sequence[Persona]:
    """The owner's personas by name."""
    return session.scalars(select(Persona).where(Persona.owner_id == owner_id).order_by(Persona.name_key)).all()


def add_reference(
    session: Session, *, persona: Persona, blob: str, filename: str, width: int, height: int
) -> ReferenceImage:
    """Attach a reference photo (analysis fills in faces and embeddings later)."""
    ref = ReferenceImage(
        persona_id=persona.id,
        position=len(persona.references),
        blob=blob,
        filename=filename[:255],
        width=width,
        height=height,
    )
    persona.references.append(ref)
    session.flush()
    return ref


def blobs_of(persona: Persona) -> list[str]:
    """Every blob a persona refers to (references, card, LoRA weights, outfit photos), for deletion."""
    blobs = [ref.blob for ref in persona.references] + [lora.blob for lora in persona.loras]
    blobs += [item.photo_blob for item in persona.wardrobe if item.photo_blob]
    if persona.card_blob:
        blobs.append(persona.card_blob)
    return blobs


def reopen_collection(session: Session, *, persona_id: int, user_id: int) -> bool:
    """Put a persona whose analysis did not finish back to collecting photos, and ``user_id`` back into
    that dialogue (unless they started another), so more photos and ``/done`` work; returns whether it moved."""
    persona = session.get(Persona, persona_id)
    if persona is None or persona.status not in (PersonaStatus.ANALYZING.value, PersonaStatus.COLLECTING.value):
        return False
    persona.status = PersonaStatus.COLLECTING.value
    user = session.get(User, user_id)
    if user is not None and not user.dialogue:
        user.dialogue = {"flow": "persona", "persona_id": persona_id}
    return True
