"""rate limit counters; indexes that let expired nonces and sessions be purged in batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fixed-window counters shared by every API worker (backend/ratelimit.py).
    op.create_table('rate_limit',
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('rate_limit', schema=None) as batch_op:
        batch_op.create_index('ix_rate_limit_expires_at', ['expires_at'], unique=False)
    with op.batch_alter_table('auth_nonce', schema=None) as batch_op:
        batch_op.create_index('ix_auth_nonce_expires_at', ['expires_at'], unique=False)
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.create_index('ix_auth_session_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_session_expires_at')
    with op.batch_alter_table('auth_nonce', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_nonce_expires_at')
    with op.batch_alter_table('rate_limit', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_limit_expires_at')
    op.drop_table('rate_limit')
