"""releases: listings of an artist's tracks

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 18:00:00

The contract lists releases (ReleaseRegistered) in the track id space: a release is a
`track` row of kind 'release', and its member tracks, in the log's order, are its
`release_track` rows. Every row written before is a track (the earlier contract had no
releases), so the new column's default backfills them.

A downgrade drops the members and the kind; releases already indexed stay as listings
without audio, which the earlier code never counts as genuine, so they stay out of the
catalog it serves.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('track', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default='track'))
        batch_op.create_index(batch_op.f('ix_track_kind'), ['kind'], unique=False)
    op.create_table('release_track',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['track.track_id'], ),
    sa.PrimaryKeyConstraint('release_id', 'position')
    )
    with op.batch_alter_table('release_track', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_track_track_id'), ['track_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('release_track', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_track_track_id'))
    op.drop_table('release_track')
    with op.batch_alter_table('track', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_track_kind'))
        batch_op.drop_column('kind')
