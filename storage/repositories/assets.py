"""Assets: images and videos a user owns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Asset, new_id
from storage.states import AssetOrigin


def create(
    session: Session,
    *,
    owner_id: int,
    kind: str,
    origin: AssetOrigin,
    blob: str,
    mime: str,
    width: int = 0,
    height: int = 0,
    duration_s: float | None = None,
    persona_id: int | None = None,
    job_id: str | None = None,
    tags: list[str] | None = None,
    identity_score: float | None = None,
    meta: dict[str, Any] | None = None,
    asset_id: str | None = None,
) -> Asset:
    """A new asset row pointing at a stored blob; ``asset_id`` when the file already carries its id (its
    watermark), else a new one."""
    asset = Asset(
        id=asset_id or new_id(),
        owner_id=owner_id,
        kind=kind,
        origin=AssetOrigin(origin).value,
        blob=blob,
        mime=mime,
        width=width,
        height=height,
        duration_s=duration_s,
        persona_id=persona_id,
        job_id=job_id,
        tags=tags or [],
        identity_score=identity_score,
        meta=meta or {},
    )
    session.add(asset)
    session.flush()
    return asset


def get_owned(session: Session, *, asset_id: str, owner_id: int) -> Asset | None:
    """The asset only if ``owner_id`` owns it."""
    asset = session.get(Asset, asset_id)
    return asset if asset is not None and asset.owner_id == owner_id else None


def for_job(session: Session, *, job_id: str) -> Sequence[Asset]:
    """Outputs of a job, oldest first."""
    stmt = select(Asset).where(Asset.job_id == job_id).order_by(Asset.created_at, Asset.id)
    return session.scalars(stmt).all()


RESULTS = (AssetOrigin.GENERATED, AssetOrigin.EDITED)


def recent(session: Session, *, owner_id: int, limit: int = 10, kind: str | None = None,
           origins: Sequence[AssetOrigin] | None = RESULTS) -> Sequence[Asset]:
    """The user's newest assets first: results only unless ``origins`` says otherwise (None: everything)."""
    stmt = select(Asset).where(Asset.owner_id == owner_id)
    if origins is not None:
        stmt = stmt.where(Asset.origin.in_([AssetOrigin(o).value for o in origins]))
    if kind is not None:
        stmt = stmt.where(Asset.kind == kind)
    return session.scalars(stmt.order_by(Asset.created_at.desc(), Asset.id).limit(limit)).all()

