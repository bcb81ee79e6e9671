"""Release uploads (POST /api/releases, table release_upload) in the per-wallet upload
quotas: their pinned bytes count in NINETY_MAX_UNREGISTERED_BYTES until the release is
registered, and they share NINETY_UPLOADS_PER_DAY with track uploads (finding 5 of the
release adversary; its HTTP test is in tests/security/test_release_adversary.py)."""
from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest
from sqlmodel import Session

from backend import quotas
from backend.errors import ApiError
from backend.models import ReleaseUpload, Upload
from ninety.market import ETH
from tests.indexer.releases import register_release

NOBODY = "0x" + "00" * 20


def _track_upload(stack, wallet: str, size: int, created_at: float) -> Upload:
    row = Upload(artist=wallet.lower(), metadata_cid=f"bafkreitrack{os.urandom(6).hex()}", audio_cid="a",
                 preview_cid="p", artwork_cid="w", file_name="a.wav", content_type="audio/wav", size=size,
                 sha256="0" * 64, chunk_size=65536, nonce_prefix="00" * 8, wrapped_key="x", created_at=created_at)
    return _add(stack, row)


def _release_upload(stack, wallet: str, size: int, created_at: float, track_ids=(1,)) -> ReleaseUpload:
    row = ReleaseUpload(artist=wallet.lower(), metadata_cid=f"bafkreirelease{os.urandom(6).hex()}",
                        artwork_cid="w", track_ids=json.dumps(list(track_ids)), created_at=created_at, size=size)
    return _add(stack, row)


def _add(stack, row):
    with Session(stack.services.engine) as db:
        db.add(row)
        db.commit()
        db.refresh(row)
    return row


def _refusal(engine, wallet, settings, incoming: int = 0, now: float | None = None) -> ApiError:
    with pytest.raises(ApiError) as refused:
        quotas.check_upload_quota(engine, wallet, settings, incoming_bytes=incoming, now=now)
    assert refused.value.status == 429 and "Retry-After" in refused.value.headers
    return refused.value


def test_a_release_uploads_bytes_count_until_it_is_registered(stack):
    settings = dataclasses.replace(stack.settings, uploads_per_day=0, max_unregistered_bytes=1000)
    w, engine, now = stack.world, stack.services.engine, time.time()
    me = w.accounts[1]
    _track_upload(stack, me, 300, now - 60)
    release = _release_upload(stack, me, 600, now - 30)
    assert quotas.usage(engine, me, now).unregistered_bytes == 900
    # A track upload is refused for the bytes a release upload holds, and the other way
    # round (release_uploads.process makes this same call with the bytes it pinned).
    assert "900 bytes uploaded but not registered" in _refusal(engine, me, settings, 101, now).detail
    quotas.check_upload_quota(engine, me, settings, incoming_bytes=100, now=now)
    # Registering the release (its metadata CID, by its uploader) frees its bytes.
    w.market.set_catalog_signer(NOBODY, w.owner)  # open registration: no attestation to forge here
    solo = w.market.create_split([(me, 1_000_000)], me)
    track = w.market.register(f"bafkreimember{os.urandom(4).hex()}", solo, ETH, 1, me)
    register_release(w, release.metadata_cid, solo, [track], me)
    stack.indexer.run(once=True)
    assert quotas.usage(engine, me, now).unregistered_bytes == 300
    quotas.check_upload_quota(engine, me, settings, incoming_bytes=700, now=now)
    # Another wallet registering that CID would free nothing: only its uploader's release counts.
    other = _release_upload(stack, me, 500, now - 10)
    theirs = w.market.create_split([(w.accounts[2], 1_000_000)], w.accounts[2])
    mine = w.market.register(f"bafkreimember{os.urandom(4).hex()}", theirs, ETH, 1, w.accounts[2])
    register_release(w, other.metadata_cid, theirs, [mine], w.accounts[2])
    stack.indexer.run(once=True)
    assert quotas.usage(engine, me, now).unregistered_bytes == 800


def test_track_and_release_uploads_share_the_daily_count(stack):
    settings = dataclasses.replace(stack.settings, uploads_per_day=3, max_unregistered_bytes=0)
    engine, now = stack.services.engine, time.time()
    me = stack.world.accounts[1]
    _release_upload(stack, me, 1, now - 2 * 86_400)  # not today
    _release_upload(stack, me, 1, now - 3600)
    _track_upload(stack, me, 1, now - 60)
    quotas.check_upload_quota(engine, me, settings, now=now)
    _release_upload(stack, me, 1, now - 30)
    refused = _refusal(engine, me, settings, now=now)
    assert "3 uploads in the last 24 hours (tracks and releases together)" in refused.detail
    # The next place frees when the oldest of today's (the release upload an hour ago) is a day old.
    assert 86_400 - 3600 - 5 < int(refused.headers["Retry-After"]) <= 86_400 - 3600 + 1
    assert quotas.usage(engine, me, now).uploads_today == 3
    quotas.check_upload_quota(engine, stack.world.accounts[2], settings, now=now)
