"""Upload quotas, the expiry of unregistered uploads, and the fingerprint backfill (the HTTP
side of quotas is in tests/security/test_quotas.py)."""
from __future__ import annotations

from sqlmodel import Session, select

from backend.models import Upload
from tests.support.media import png_bytes
from tests.support.uploads import uploads


def _pinned_upload(stack, wallet: str, size: int, created_at: float, artwork: bytes | None = None) -> Upload:
    import os

    ipfs = stack.services.ipfs
    cids = [ipfs.add_bytes(os.urandom(64)) for _ in range(3)]
    art = ipfs.add_bytes(artwork if artwork is not None else os.urandom(64))
    row = Upload(artist=wallet.lower(), metadata_cid=cids[0], audio_cid=cids[1], preview_cid=cids[2], artwork_cid=art,
                 file_name="a.wav", content_type="audio/wav", size=size, sha256="0" * 64, chunk_size=65536,
                 nonce_prefix="00" * 8, wrapped_key="x", created_at=created_at)
    with Session(stack.services.engine) as db:
        db.add(row)
        db.commit()
        db.refresh(row)
    return row


def _register(stack, cid: str, account: int) -> int:
    from ninety.market import ETH

    w = stack.world
    m, a = w.market, w.accounts
    split = m.create_split([(a[account], 1_000_000)], a[account])
    return m.register(cid, split, ETH, 1, a[account], w.attest(cid, a[account], split))


def test_quotas_count_todays_uploads_and_unregistered_bytes(stack):
    import dataclasses
    import time

    import pytest

    from backend import quotas
    from backend.errors import ApiError

    settings = dataclasses.replace(stack.settings, uploads_per_day=3, max_unregistered_bytes=1000)
    me, now = stack.world.accounts[1], time.time()
    engine = stack.services.engine
    quotas.check_upload_quota(engine, me, settings, incoming_bytes=1000, now=now)
    old = _pinned_upload(stack, me, 400, now - 2 * 86_400)  # unregistered, but not today
    _pinned_upload(stack, me, 400, now - 3600)
    with pytest.raises(ApiError) as refused:
        quotas.check_upload_quota(engine, me, settings, incoming_bytes=201, now=now)
    assert refused.value.status == 429 and "800 bytes uploaded but not registered" in refused.value.detail
    # Retry-After: when the oldest unregistered upload expires (it is already past its TTL).
    assert refused.value.headers == {"Retry-After": "1"}
    quotas.check_upload_quota(engine, me, settings, incoming_bytes=200, now=now)
    # Registering frees its bytes; a track with the same CID by another wallet does not
    # (possible only while registration is open: an attested CID lists once).
    w = stack.world
    w.market.set_catalog_signer("0x" + "00" * 20, w.owner)
    w.market.register(old.metadata_cid, w.market.create_split([(w.accounts[2], 1_000_000)], w.accounts[2]),
                      "0x" + "00" * 20, 1, w.accounts[2])
    w.require_attestations(w.catalog)
    stack.indexer.run(once=True)
    assert quotas.usage(engine, me, now).unregistered_bytes == 800
    _register(stack, old.metadata_cid, 1)
    stack.indexer.run(once=True)
    assert quotas.usage(engine, me, now).unregistered_bytes == 400
    _pinned_upload(stack, me, 1, now - 60)
    _pinned_upload(stack, me, 1, now - 30)
    with pytest.raises(ApiError) as refused:
        quotas.check_upload_quota(engine, me, settings, now=now)
    assert "3 uploads in the last 24 hours" in refused.value.detail
    assert 86_400 - 3600 - 5 < int(refused.value.headers["Retry-After"]) <= 86_400 - 3600 + 1
    # Another wallet has quotas of its own; 0 means no cap.
    quotas.check_upload_quota(engine, stack.world.accounts[2], settings, now=now)
    unlimited = dataclasses.replace(settings, uploads_per_day=0, max_unregistered_bytes=0)
    quotas.check_upload_quota(engine, me, unlimited, incoming_bytes=10**12, now=now)


def test_quota_decisions_are_serialised_per_wallet(stack):
    """Two uploads racing for a wallet's last place (each checks, then records a little
    later): under `lock_wallet` exactly one is recorded."""
    import dataclasses
    import threading
    import time

    from backend import quotas
    from backend.errors import ApiError

    settings = dataclasses.replace(stack.settings, uploads_per_day=1)
    me = stack.world.accounts[1].lower()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def upload(n: int) -> None:
        barrier.wait()
        with Session(stack.services.engine) as db:
            quotas.lock_wallet(db, me)
            try:
                quotas.check_upload_quota(db, me, settings)
            except ApiError:
                outcomes.append("refused")
                return
            time.sleep(0.3)  # decoding and pinning would happen around here
            db.add(Upload(artist=me, metadata_cid=f"bafkrace{n}", audio_cid=f"a{n}", preview_cid="p", artwork_cid="w",
                          file_name="a.wav", content_type="audio/wav", size=1, sha256="0", chunk_size=1,
                          nonce_prefix="00", wrapped_key="x", created_at=time.time()))
            db.commit()
            outcomes.append("recorded")

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["recorded", "refused"]
    assert uploads(stack) == 1


def test_unregistered_uploads_expire_once_the_ledger_covers_their_deadline(stack):

    from sqlalchemy import update

    from backend import quotas

    ipfs, engine, rpc = stack.services.ipfs, stack.services.engine, stack.services.rpc
    contract = stack.world.market.address
    me = stack.world.accounts[1]
    ttl = 100.0
    registered = _pinned_upload(stack, me, 10, 0.0)
    copied = _pinned_upload(stack, me, 10, 0.0)  # its CID registered, but by another wallet
    _register(stack, registered.metadata_cid, 1)
    _register(stack, copied.metadata_cid, 2)
    stack.indexer.run(once=True)
    tb = int(rpc.headers([rpc.block_number()])[0]["timestamp"], 16)  # the ledger's last block
    with engine.begin() as conn:
        conn.execute(update(Upload.__table__).values(created_at=tb - ttl - 50))
    cover = b"the same cover, on two uploads"
    expired = _pinned_upload(stack, me, 10, tb - ttl - 50, artwork=cover)
    # Times are the chain's: other tests move the shared Anvil's clock (sponsor-pool epochs).
    young = _pinned_upload(stack, me, 10, tb + 3600, artwork=cover)
    # A block the ledger has not indexed yet: it covers the chain only up to `tb`, so an
    # upload due just after `tb` is kept whatever the clock says (its registration may be
    # in that block).
    rpc.call("evm_mine")
    due_after = _pinned_upload(stack, me, 10, tb + 1 - ttl)
    first = quotas.collect_expired_uploads(engine, ipfs, rpc, contract, ttl, now=tb + 10**6)
    assert sorted(first) == sorted([expired.metadata_cid, copied.metadata_cid])
    rpc.call("evm_increaseTime", [2])  # a block clearly past `due_after`'s deadline
    rpc.call("evm_mine")
    stack.indexer.run(once=True)
    head_time = int(rpc.headers([rpc.block_number()])[0]["timestamp"], 16)
    # The head is indexed: the ledger now covers the chain up to a clock just past it.
    assert quotas.collect_expired_uploads(engine, ipfs, rpc, contract, ttl, now=head_time + 1) == [due_after.metadata_cid]
    with Session(engine) as db:
        assert {u.metadata_cid for u in db.exec(select(Upload))} == {registered.metadata_cid, young.metadata_cid}
    pins = ipfs.pins()
    for u in (expired, copied, due_after):
        assert not {u.metadata_cid, u.audio_cid, u.preview_cid} & pins
    assert young.artwork_cid == expired.artwork_cid and young.artwork_cid in pins, \
        "a file another upload still uses stays pinned"
    for u in (registered, young):
        assert {u.metadata_cid, u.audio_cid, u.preview_cid} <= pins


def test_backfill_fingerprints_uploads_made_before_fingerprints(stack):
    """`ninety moderate backfill`: uploads recorded without a hash or fingerprint get them
    from their own encrypted audio on IPFS, exactly as a fresh upload would."""
    from sqlalchemy import update

    from ninety.cli.moderation import backfill
    from tests.support.media import music_bytes

    r = stack.client.post("/api/uploads", headers=stack.login(1), data={"title": "Old", "artist_name": "A", "price": "1"},
                          files={"audio": ("old.wav", music_bytes(21, 35), "audio/wav"),
                                 "artwork": ("c.png", png_bytes(), "image/png")})
    assert r.status_code == 201, r.text
    engine = stack.services.engine
    with Session(engine) as db:
        fresh = db.exec(select(Upload).where(Upload.metadata_cid == r.json()["metadata_cid"])).one()
    assert fresh.audio_hash and fresh.fingerprint
    with engine.begin() as conn:  # as an upload made before this version
        conn.execute(update(Upload).values(audio_hash=None, fingerprint=None, duration=None))
    lines: list[str] = []
    assert backfill(engine, stack.services.ipfs, stack.services.master_key, say=lines.append) == 1
    with Session(engine) as db:
        again = db.exec(select(Upload).where(Upload.id == fresh.id)).one()
    assert (again.audio_hash, again.fingerprint, again.duration) == (fresh.audio_hash, fresh.fingerprint, fresh.duration)
    assert "fingerprinted" in lines[0]
    assert backfill(engine, stack.services.ipfs, stack.services.master_key, say=lines.append) == 0  # idempotent
