"""release uploads' pinned size, for the unregistered-bytes quota

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 18:30:00.000000

NINETY_MAX_UNREGISTERED_BYTES counts what a wallet has pinned here and not registered:
a release upload's artwork and metadata count like a track upload's audio. Rows made
before this revision count 0 (they expire within NINETY_UPLOAD_TTL anyway).
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('release_upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('size', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('release_upload', schema=None) as batch_op:
        batch_op.drop_column('size')
