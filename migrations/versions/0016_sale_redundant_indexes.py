"""sale: drop the single-column indexes that a composite index already leads

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 01:15:00.000000

block_number, token, split_id, artist and block_time each lead one of the sale table's
composite indexes (ix_sale_block_log, ix_sale_token_block, ix_sale_split_block,
ix_sale_artist_block, ix_sale_time), which answer every lookup the single-column ones did.
Each index is one more B-tree insert per sale: five fewer make a backfill faster (issue 22).
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

DROPPED = (('ix_sale_block_number', 'block_number'), ('ix_sale_token', 'token'),
           ('ix_sale_split_id', 'split_id'), ('ix_sale_artist', 'artist'), ('ix_sale_block_time', 'block_time'))


def upgrade() -> None:
    for name, _column in DROPPED:
        op.drop_index(name, table_name='sale')


def downgrade() -> None:
    for name, column in DROPPED:
        op.create_index(name, 'sale', [column], unique=False)
