"""asset origin: uploaded, generated or edited

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=16), nullable=False, server_default='generated'))
        batch_op.create_index(batch_op.f('ix_assets_origin'), ['origin'], unique=False)
    # Rows from before this column said where they came from only in their tags.
    assets = sa.table('assets', sa.column('origin', sa.String), sa.column('tags', sa.JSON), sa.column('id', sa.String))
    connection = op.get_bind()
    for asset_id, tags in connection.execute(sa.select(assets.c.id, assets.c.tags)).all():
        tags = tags or []
        origin = 'uploaded' if 'uploaded' in tags else 'edited' if 'swapped' in tags else 'generated'
        if origin != 'generated':
            connection.execute(assets.update().where(assets.c.id == asset_id).values(origin=origin))


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_origin'))
        batch_op.drop_column('origin')
