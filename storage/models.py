"""SQLAlchemy tables: users, personas with their reference photos and wardrobes, assets, jobs, export packages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp in the database is UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A short random id for rows that appear in links and button data (not guessable, not sequential)."""
    return uuid.uuid4().hex[:16]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class User(Base):
    """One account per (platform, platform user id); linked accounts share the primary's content."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id", name="uq_users_platform_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Per-user defaults set with /settings (aspect ratio, steps, platform ...).
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Multi-step dialogue state (e.g. collecting persona photos); empty when idle.
    dialogue: Mapped[dict[str, Any]] = mapped_column(default=dict)
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    link_code: Mapped[str | None] = mapped_column(String(16), default=None)
    link_code_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Persona(Base):
    """An identity owned by one user: reference photos, aggregate embeddings and optional LoRA weights."""

    __tablename__ = "personas"
    __table_args__ = (UniqueConstraint("owner_id", "name_key", name="uq_personas_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # Case-folded name: "Ava" and "ava" are the same persona for one owner.
    name_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="collecting")
    description: Mapped[str] = mapped_column(Text, default="")
    style_notes: Mapped[str] = mapped_column(Text, default="")
    consent_at: Mapped[datetime | None] = mapped_column(default=None)
    trigger_token: Mapped[str] = mapped_column(String(32), default="")
    # {engine name: {"vector": [...], "threshold": float, "spread": float}} - never mixed across engines.
    identity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    card_blob: Mapped[str | None] = mapped_column(String(64), default=None)
    notes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What a photoshoot of this persona defaults to; None: the studio's default (core.limits.SHOOT_SIZE_DEFAULT,
    # the user's /settings platform).
    shoot_size: Mapped[int | None] = mapped_column(Integer, default=None)
    default_platform: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    references: Mapped[list[ReferenceImage]] = relationship(
        back_populates="persona", cascade="all, delete-orphan", order_by="ReferenceImage.position"
    )
    loras: Mapped[list[LoraWeights]] = relationship(
        back_populates="persona", cascade="all, delete-orphan", order_by="LoraWeights.version"
    )
    wardrobe: Mapped[list[WardrobeItem]] = relationship(
        back_populates="persona", cascade="all, delete-orphan", order_by="WardrobeItem.name_key"
    )


class ReferenceImage(Base):
    """One reference photo of a persona with what face analysis found in it."""

    __tablename__ = "reference_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    persona_id: Mapped[int] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    blob: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    face_box: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    landmarks: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {engine name: [floats]}: one identity embedding per face engine.
    embeddings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    persona: Mapped[Persona] = relationship(back_populates="references")


class LoraWeights(Base):
    """A trained LoRA for a persona; versions accumulate and one is active."""

    __tablename__ = "lora_weights"
    __table_args__ = (UniqueConstraint("persona_id", "version", name="uq_lora_weights_persona_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    persona_id: Mapped[int] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    blob: Mapped[str] = mapped_column(String(64))
    base_model: Mapped[str] = mapped_column(String(128), default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    persona: Mapped[Persona] = relationship(back_populates="loras")


class WardrobeItem(Base):
    """An outfit a persona wears by name ("Ava in her red-dress"): a description for prompts, maybe a photo."""

    __tablename__ = "wardrobe_items"
    __table_args__ = (UniqueConstraint("persona_id", "name_key", name="uq_wardrobe_items_persona_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    persona_id: Mapped[int] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    # "Red Dress", "red_dress" and "red-dress" are one outfit (storage.repositories.wardrobe.name_key).
    name_key: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    # user: the owner's words; colours: read from the photo (no model describes outfits), said so when shown.
    description_source: Mapped[str] = mapped_column(String(16), default="user")
    photo_blob: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    persona: Mapped[Persona] = relationship(back_populates="wardrobe")


class Job(Base):
    """A unit of work on the queue and the chat it answers to."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(128), default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rq_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where to answer: {"platform", "chat_id", "status_message_id", ...}; written by the front end.
    chat: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Asset(Base):
    """An image or video a user owns: generated by a job or uploaded."""

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    blob: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    persona_id: Mapped[int | None] = mapped_column(ForeignKey("personas.id", ondelete="SET NULL"), default=None)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # uploaded | generated | edited (storage.states.AssetOrigin): what labels and galleries rely on.
    origin: Mapped[str] = mapped_column(String(16), default="generated", index=True)
    # Similarity of the face to its persona (None where no face or no persona).
    identity_score: Mapped[float | None] = mapped_column(Float, default=None)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ExportPackage(Base):
    """Assets × platform preset packed as a zip with a manifest, behind a signed expiring link."""

    __tablename__ = "export_packages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    asset_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    blob: Mapped[str | None] = mapped_column(String(64), default=None)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
