"""Which rows still refer to a blob: the one check made before a blob file is deleted."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Asset, ExportPackage, LoraWeights, Persona, ReferenceImage, WardrobeItem

_COLUMNS = (ReferenceImage.blob, Persona.card_blob, LoraWeights.blob, Asset.blob, ExportPackage.blob,
            WardrobeItem.photo_blob)


def in_use(session: Session, *, blob: str) -> bool:
    """Whether any reference photo, persona card, LoRA, asset, export package or outfit photo refers to ``blob``."""
    return any(session.scalars(select(column).where(column == blob).limit(1)).first() for column in _COLUMNS)


def unused(session: Session, digests: Iterable[str]) -> list[str]:
    """Those of ``digests`` that no row refers to once pending changes are flushed.

    Delete their files only after the session committed: a rollback must not leave rows without files.
    """
    session.flush()
    return sorted(digest for digest in set(digests) if not in_use(session, blob=digest))


def referenced(session: Session) -> set[str]:
    """Every digest some row refers to (housekeeping compares the store's listing with it)."""
    found: set[str] = set()
    for column in _COLUMNS:
        found.update(digest for digest in session.scalars(select(column).distinct()) if digest)
    return found
