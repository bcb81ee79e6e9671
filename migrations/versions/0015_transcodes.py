"""transcode: downloads in other formats, cached encrypted at rest

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 20:50:00.000000

GET /api/tracks/{id}/download?format=flac|mp3|ogg|aac makes the file on first request
(backend/transcode.py) and keeps it here: the CID of its ciphertext on IPFS, its size,
and its own AES key wrapped by the master key, one row per upload and format.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'transcode',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('upload_id', sa.Integer(), nullable=False),
        sa.Column('format', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('chunk_size', sa.Integer(), nullable=False),
        sa.Column('nonce_prefix', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('wrapped_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('tags_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('duration', sa.Float(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('upload_id', 'format', name='uq_transcode_upload_format'),
    )
    op.create_index(op.f('ix_transcode_upload_id'), 'transcode', ['upload_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_transcode_upload_id'), table_name='transcode')
    op.drop_table('transcode')
