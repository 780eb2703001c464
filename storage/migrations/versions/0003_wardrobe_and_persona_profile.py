"""wardrobe items and the persona's shoot profile (shoot size, default platform)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wardrobe_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('persona_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('name_key', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('description_source', sa.String(length=16), nullable=False),
    sa.Column('photo_blob', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['persona_id'], ['personas.id'], name=op.f('fk_wardrobe_items_persona_id_personas'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wardrobe_items')),
    sa.UniqueConstraint('persona_id', 'name_key', name='uq_wardrobe_items_persona_name')
    )
    with op.batch_alter_table('wardrobe_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wardrobe_items_persona_id'), ['persona_id'], unique=False)
    # Both nullable: existing personas keep the studio's defaults (6 photos, the user's /settings platform).
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shoot_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('default_platform', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_column('default_platform')
        batch_op.drop_column('shoot_size')
    with op.batch_alter_table('wardrobe_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wardrobe_items_persona_id'))
    op.drop_table('wardrobe_items')
