"""artist profiles: a name, a bio, links and an avatar per address

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 20:40:00.000000

PUT /api/artists/me/profile keeps the signed-in wallet's latest profile here (its JSON is
also pinned to IPFS, `profile_cid`); backend/names.py reads `name` first when it names
an address.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('artist_profile',
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('bio', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('links_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('avatar_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('profile_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('address')
    )
    with op.batch_alter_table('artist_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_artist_profile_name'), ['name'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('artist_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_artist_profile_name'))
    op.drop_table('artist_profile')
