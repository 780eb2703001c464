"""Persistence: SQLAlchemy tables, repositories, Alembic migrations and the content-addressed blob store."""
