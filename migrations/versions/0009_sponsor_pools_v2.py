"""sponsor pools v2: carry-over target epoch, listens root, committed pool rules, signed free downloads

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 14:00:00

The contract's PoolSettled now names the epoch its carry-over went to (the one current at
publication, no longer always epoch + 1), EpochPublished carries the Merkle root of the
counted free downloads, and PoolRulesSet commits the rules an epoch is allocated by.
Rows the indexer wrote from the earlier contract are backfilled with what that contract
did: carry-over into `epoch + 1`, and no listens root (the zero hash).

`free_download` rows used to be unsigned counts of GET requests; a download now counts
only with the listener's EIP-712 signature, which those rows do not have, so they are
deleted before the signature, block and receipt columns are added.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ZERO_HASH = "0x" + "00" * 32


def upgrade() -> None:
    # Added nullable, backfilled, then made NOT NULL (no default left behind: the
    # indexer always writes these columns).
    with op.batch_alter_table('pool_settlement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carried_to_epoch', sa.Integer(), nullable=True))
    with op.batch_alter_table('epoch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listens_root', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    settlement = sa.table('pool_settlement', sa.column('epoch', sa.Integer), sa.column('carried_to_epoch', sa.Integer))
    op.execute(sa.update(settlement).values(carried_to_epoch=settlement.c.epoch + 1))
    epoch = sa.table('epoch', sa.column('listens_root', sa.String))
    op.execute(sa.update(epoch).values(listens_root=ZERO_HASH))
    with op.batch_alter_table('pool_settlement', schema=None) as batch_op:
        batch_op.alter_column('carried_to_epoch', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('epoch', schema=None) as batch_op:
        batch_op.alter_column('listens_root', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)

    op.create_table('pool_rules',
    sa.Column('block_number', sa.Integer(), nullable=False),
    sa.Column('block_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_epoch', sa.Integer(), nullable=False),
    sa.Column('rules_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rules_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('block_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    with op.batch_alter_table('pool_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pool_rules_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_pool_rules_from_epoch'), ['from_epoch'], unique=False)

    # Unsigned counts cannot become signed downloads: gone, then the new NOT NULL columns
    # (SQLite cannot add a NOT NULL column without a default in place: the table is
    # rebuilt, empty).
    op.execute(sa.delete(sa.table('free_download')))
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table('free_download', schema=None, recreate="always" if sqlite else "auto") as batch_op:
        batch_op.add_column(sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(), nullable=False))
        batch_op.add_column(sa.Column('block_number', sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column('block_time', sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column('receipt', sqlmodel.sql.sqltypes.AutoString(), nullable=False))


def downgrade() -> None:
    # Signed downloads keep their (epoch, track, wallet, split) as the old unsigned shape.
    with op.batch_alter_table('free_download', schema=None) as batch_op:
        batch_op.drop_column('receipt')
        batch_op.drop_column('block_time')
        batch_op.drop_column('block_number')
        batch_op.drop_column('signature')
    with op.batch_alter_table('pool_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pool_rules_from_epoch'))
        batch_op.drop_index(batch_op.f('ix_pool_rules_block_number'))
    op.drop_table('pool_rules')
    with op.batch_alter_table('epoch', schema=None) as batch_op:
        batch_op.drop_column('listens_root')
    with op.batch_alter_table('pool_settlement', schema=None) as batch_op:
        batch_op.drop_column('carried_to_epoch')
