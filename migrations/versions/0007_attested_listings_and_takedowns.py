"""attested listings, takedowns, recording fingerprints, moderation; keyset catalog orders

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 06:40:00

The new track columns are backfilled from what the ledger already holds: `uploaded_by`
and `genuine` from the fetched metadata, `price_sort` from the price, `sales` from
track_stats. Uploads made before fingerprints get theirs from `ninety moderate backfill`
(it decodes audio, which a migration should not).
"""
import json

from alembic import op
import sqlalchemy as sa
import sqlmodel
import ninety.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('track_block',
    sa.Column('block_number', sa.Integer(), nullable=False),
    sa.Column('block_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('reason_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('block_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    op.create_index(op.f('ix_track_block_block_number'), 'track_block', ['block_number'], unique=False)
    op.create_index(op.f('ix_track_block_track_id'), 'track_block', ['track_id'], unique=False)
    op.create_table('catalog_signer_change',
    sa.Column('block_number', sa.Integer(), nullable=False),
    sa.Column('block_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('previous_signer', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('new_signer', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index')
    )
    op.create_index(op.f('ix_catalog_signer_change_block_number'), 'catalog_signer_change', ['block_number'], unique=False)
    op.create_table('upload_refusal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wallet', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('audio_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('matched_track_id', sa.Integer(), nullable=False),
    sa.Column('match_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=True),
    sa.Column('overlap_seconds', sa.Float(), nullable=True),
    sa.Column('blocked_match', sa.Boolean(), nullable=False),
    sa.Column('allowed_at', sa.Float(), nullable=True),
    sa.Column('allowed_note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_upload_refusal_wallet'), 'upload_refusal', ['wallet'], unique=False)
    op.create_index(op.f('ix_upload_refusal_created_at'), 'upload_refusal', ['created_at'], unique=False)
    op.create_index(op.f('ix_upload_refusal_audio_hash'), 'upload_refusal', ['audio_hash'], unique=False)
    op.create_table('counter_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wallet', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('refusal_id', sa.Integer(), nullable=True),
    sa.Column('track_id', sa.Integer(), nullable=True),
    sa.Column('statement', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('contact', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_counter_notice_wallet'), 'counter_notice', ['wallet'], unique=False)
    op.create_index(op.f('ix_counter_notice_refusal_id'), 'counter_notice', ['refusal_id'], unique=False)
    op.create_index(op.f('ix_counter_notice_track_id'), 'counter_notice', ['track_id'], unique=False)
    with op.batch_alter_table('track', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uploaded_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('genuine', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('blocked', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('block_reason_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('price_sort', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('sales', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index(batch_op.f('ix_track_genuine'), ['genuine'], unique=False)
        batch_op.create_index(batch_op.f('ix_track_price_sort'), ['price_sort'], unique=False)
        batch_op.create_index(batch_op.f('ix_track_sales'), ['sales'], unique=False)
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audio_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('fingerprint', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('duration', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_upload_audio_hash'), ['audio_hash'], unique=False)
    _backfill_tracks()


def _backfill_tracks() -> None:
    conn = op.get_bind()
    track = sa.table('track', sa.column('track_id', sa.Integer), sa.column('artist', sa.String),
                     sa.column('price'), sa.column('metadata_json', sa.String), sa.column('metadata_status', sa.String),
                     sa.column('uploaded_by', sa.String), sa.column('genuine', sa.Boolean),
                     sa.column('price_sort', sa.String), sa.column('sales', sa.Integer),
                     sa.column('audio_cid', sa.String), sa.column('preview_cid', sa.String),
                     sa.column('artwork_cid', sa.String), sa.column('token', sa.String))
    stats = sa.table('track_stats', sa.column('track_id', sa.Integer), sa.column('token', sa.String),
                     sa.column('sales', sa.Integer))
    sales = {(tid, token): int(n) for tid, token, n in conn.execute(sa.select(stats.c.track_id, stats.c.token, stats.c.sales))}
    rows = conn.execute(sa.select(track.c.track_id, track.c.artist, track.c.price, track.c.metadata_json,
                                  track.c.metadata_status, track.c.audio_cid, track.c.preview_cid,
                                  track.c.artwork_cid, track.c.token)).all()
    for tid, artist, price, raw, status, audio, preview, art, token in rows:
        uploaded_by = None
        if status == "ok" and raw:
            try:
                props = json.loads(raw).get("properties") or {}
                uploaded_by = str(props.get("uploaded_by") or "").lower() or None
            except (ValueError, AttributeError):
                uploaded_by = None
        genuine = bool(uploaded_by and uploaded_by == artist and audio and preview and art)
        conn.execute(sa.update(track).where(track.c.track_id == tid).values(
            uploaded_by=uploaded_by, genuine=genuine, price_sort=str(int(price)).zfill(78),
            sales=sales.get((tid, token), 0)))


def downgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_audio_hash'))
        batch_op.drop_column('duration')
        batch_op.drop_column('fingerprint')
        batch_op.drop_column('audio_hash')
    with op.batch_alter_table('track', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_track_sales'))
        batch_op.drop_index(batch_op.f('ix_track_price_sort'))
        batch_op.drop_index(batch_op.f('ix_track_genuine'))
        batch_op.drop_column('sales')
        batch_op.drop_column('price_sort')
        batch_op.drop_column('block_reason_cid')
        batch_op.drop_column('blocked')
        batch_op.drop_column('genuine')
        batch_op.drop_column('uploaded_by')
    op.drop_index(op.f('ix_counter_notice_track_id'), table_name='counter_notice')
    op.drop_index(op.f('ix_counter_notice_refusal_id'), table_name='counter_notice')
    op.drop_index(op.f('ix_counter_notice_wallet'), table_name='counter_notice')
    op.drop_table('counter_notice')
    op.drop_index(op.f('ix_upload_refusal_audio_hash'), table_name='upload_refusal')
    op.drop_index(op.f('ix_upload_refusal_created_at'), table_name='upload_refusal')
    op.drop_index(op.f('ix_upload_refusal_wallet'), table_name='upload_refusal')
    op.drop_table('upload_refusal')
    op.drop_index(op.f('ix_catalog_signer_change_block_number'), table_name='catalog_signer_change')
    op.drop_table('catalog_signer_change')
    op.drop_index(op.f('ix_track_block_track_id'), table_name='track_block')
    op.drop_index(op.f('ix_track_block_block_number'), table_name='track_block')
    op.drop_table('track_block')
