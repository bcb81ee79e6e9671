"""release uploads: the metadata and artwork POST /api/releases pinned, per wallet

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 18:00:00.000000

The attestation route attests a release's metadata CID only for the wallet that uploaded
it (as for tracks' `upload` rows), and the catalog serves a release's artwork only from
what this server pinned.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('release_upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('artist', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('metadata_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('artwork_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('track_ids', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('release_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_upload_artist'), ['artist'], unique=False)
        batch_op.create_index(batch_op.f('ix_release_upload_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_release_upload_metadata_cid'), ['metadata_cid'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('release_upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_upload_metadata_cid'))
        batch_op.drop_index(batch_op.f('ix_release_upload_created_at'))
        batch_op.drop_index(batch_op.f('ix_release_upload_artist'))
    op.drop_table('release_upload')
