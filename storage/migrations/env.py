"""Alembic environment: the URL comes from the caller's config (``studio db upgrade``) or settings."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # storage imports nothing above it: the URL comes from `studio db upgrade` or, for the bare alembic CLI,
    # from STUDIO_DATABASE_URL.
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("STUDIO_DATABASE_URL", "")
    if not url:
        raise SystemExit("run `studio db upgrade`, or set STUDIO_DATABASE_URL for the alembic command")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        section = config.get_section(config.config_ini_section) or {}
        section["sqlalchemy.url"] = _url()
        engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection: Connection) -> None:
    # Batch mode lets the same migration ALTER tables on SQLite, which cannot drop or alter columns in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
