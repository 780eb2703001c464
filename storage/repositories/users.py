"""Users: one per (platform, platform user id)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import User


def get_or_create(
    session: Session, *, platform: str, platform_user_id: str, display_name: str = "", is_admin: bool = False
) -> User:
    """The user for this platform account, created on first contact."""
    stmt = select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
    user = session.scalars(stmt).first()
    if user is not None:
        if display_name and user.display_name != display_name:
            user.display_name = display_name
        if user.is_admin != is_admin:
            # STUDIO_ADMINS is the only source: removing someone there takes their exemption away too.
            user.is_admin = is_admin
        return user
    user = User(
        platform=platform, platform_user_id=platform_user_id, display_name=display_name, is_admin=is_admin
    )
    try:
        # A savepoint: two first messages from one user racing in two processes must not both insert.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        return session.scalars(stmt).one()
    return user


def get(session: Session, *, user_id: int) -> User | None:
    """The user with this id."""
    return session.get(User, user_id)


def content_owner_id(user: User) -> int:
    """The id whose personas and assets this user sees: the primary account when linked."""
    return user.linked_to_id or user.id
