"""split changes by consent, withdrawals to another address

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 12:00:00

The contract's updateTrack no longer moves a track's split: TrackUpdated lost its split,
and a split change is its own event (TrackSplitChanged), proposed and consented to by
the payees who lose share (SplitChangeProposed, SplitChangeAccepted) or withdrawn by the artist
(SplitProposalsCancelled). Those get a table each. Rows written from the earlier contract, whose TrackUpdated carried the split, keep
their split changes: each update that moved the split becomes a `track_split_change` row
(same log) before `track_update.split_id` is dropped.

Withdrawal gained `to` (withdrawTo pays another address): `withdrawal.paid_to`, which
for earlier rows is the account itself (the only place the earlier contract paid).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _chain_columns() -> list[sa.Column]:
    return [
        sa.Column('block_number', sa.Integer(), nullable=False),
        sa.Column('block_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('log_index', sa.Integer(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('track_split_change', *_chain_columns(),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('previous_split_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('split_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('block_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    with op.batch_alter_table('track_split_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_track_split_change_block_number'), ['block_number'], unique=False)
        batch_op.create_index('ix_track_split_change_track_block', ['track_id', 'block_number', 'log_index'], unique=False)

    op.create_table('split_proposal', *_chain_columns(),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('split_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('must_consent', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('block_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    with op.batch_alter_table('split_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_proposal_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_split_proposal_status'), ['status'], unique=False)
        batch_op.create_index('ix_split_proposal_track_block', ['track_id', 'block_number', 'log_index'], unique=False)

    op.create_table('split_consent', *_chain_columns(),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('split_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payee', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('missing', sa.Integer(), nullable=False),
    sa.Column('block_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    with op.batch_alter_table('split_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_consent_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_split_consent_payee'), ['payee'], unique=False)
        batch_op.create_index('ix_split_consent_track_split', ['track_id', 'split_id', 'block_number', 'log_index'],
                              unique=False)

    op.create_table('split_proposal_cancellation', *_chain_columns(),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('block_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    with op.batch_alter_table('split_proposal_cancellation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_proposal_cancellation_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_split_proposal_cancellation_track_id'), ['track_id'], unique=False)

    # Earlier updates that moved a split become split changes (their time: the track's
    # sales in that block carry it; else the registration's, the best the ledger has).
    conn = op.get_bind()
    track = sa.table('track', sa.column('track_id', sa.Integer), sa.column('registered_split_id', sa.String),
                     sa.column('block_time', sa.Integer))
    tu = sa.table('track_update', sa.column('track_id', sa.Integer), sa.column('split_id', sa.String),
                  sa.column('block_number', sa.Integer), sa.column('block_hash', sa.String),
                  sa.column('tx_hash', sa.String), sa.column('log_index', sa.Integer))
    ib = sa.table('indexed_block', sa.column('number', sa.Integer), sa.column('timestamp', sa.Integer))
    registered = {tid: (sid, when) for tid, sid, when in conn.execute(
        sa.select(track.c.track_id, track.c.registered_split_id, track.c.block_time))}
    times = dict(conn.execute(sa.select(ib.c.number, ib.c.timestamp)).all())
    current: dict[int, str] = {}
    changes = []
    for tid, sid, number, block_hash, tx_hash, log_index in conn.execute(
            sa.select(tu.c.track_id, tu.c.split_id, tu.c.block_number, tu.c.block_hash, tu.c.tx_hash, tu.c.log_index)
            .order_by(tu.c.block_number, tu.c.log_index)):
        if tid not in registered:
            continue
        previous = current.get(tid, registered[tid][0])
        if sid != previous:
            changes.append({"block_number": number, "block_hash": block_hash, "tx_hash": tx_hash,
                            "log_index": log_index, "track_id": tid, "previous_split_id": previous, "split_id": sid,
                            "block_time": times.get(number, registered[tid][1])})
            current[tid] = sid
    if changes:
        tsc = sa.table('track_split_change', *[sa.column(c) for c in changes[0]])
        op.bulk_insert(tsc, changes)
    with op.batch_alter_table('track_update', schema=None) as batch_op:
        batch_op.drop_column('split_id')

    with op.batch_alter_table('withdrawal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paid_to', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    withdrawal = sa.table('withdrawal', sa.column('account', sa.String), sa.column('paid_to', sa.String))
    op.execute(sa.update(withdrawal).values(paid_to=withdrawal.c.account))
    with op.batch_alter_table('withdrawal', schema=None) as batch_op:
        batch_op.alter_column('paid_to', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)


def downgrade() -> None:
    # The earlier shape: each update carries the split the track had after it (the
    # track's latest split change at or before the update, else its registered split).
    with op.batch_alter_table('withdrawal', schema=None) as batch_op:
        batch_op.drop_column('paid_to')
    with op.batch_alter_table('track_update', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    conn = op.get_bind()
    track = sa.table('track', sa.column('track_id', sa.Integer), sa.column('registered_split_id', sa.String))
    tu = sa.table('track_update', sa.column('id', sa.Integer), sa.column('track_id', sa.Integer),
                  sa.column('split_id', sa.String), sa.column('block_number', sa.Integer),
                  sa.column('log_index', sa.Integer))
    tsc = sa.table('track_split_change', sa.column('track_id', sa.Integer), sa.column('split_id', sa.String),
                   sa.column('block_number', sa.Integer), sa.column('log_index', sa.Integer))
    registered = dict(conn.execute(sa.select(track.c.track_id, track.c.registered_split_id)).all())
    changes: dict[int, list[tuple[int, int, str]]] = {}
    for tid, sid, number, log_index in conn.execute(
            sa.select(tsc.c.track_id, tsc.c.split_id, tsc.c.block_number, tsc.c.log_index)):
        changes.setdefault(tid, []).append((number, log_index, sid))
    for row_id, tid, number, log_index in conn.execute(
            sa.select(tu.c.id, tu.c.track_id, tu.c.block_number, tu.c.log_index)).all():
        earlier = [c for c in changes.get(tid, []) if (c[0], c[1]) <= (number, log_index)]
        sid = max(earlier)[2] if earlier else registered.get(tid, "")
        conn.execute(sa.update(tu).where(tu.c.id == row_id).values(split_id=sid))
    with op.batch_alter_table('track_update', schema=None) as batch_op:
        batch_op.alter_column('split_id', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
    for name, indexes in (('split_proposal_cancellation', ('ix_split_proposal_cancellation_track_id',
                                                           'ix_split_proposal_cancellation_block_number')),
                          ('split_consent', ('ix_split_consent_track_split', 'ix_split_consent_payee',
                                             'ix_split_consent_block_number')),
                          ('split_proposal', ('ix_split_proposal_track_block', 'ix_split_proposal_status',
                                              'ix_split_proposal_block_number')),
                          ('track_split_change', ('ix_track_split_change_track_block',
                                                  'ix_track_split_change_block_number'))):
        with op.batch_alter_table(name, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(name)
