"""Uploads that must be refused, and a node outage that must leave nothing behind."""
from __future__ import annotations

import io
import json

import soundfile
from sqlmodel import Session, func, select

from backend.errors import ApiError
from backend.models import Upload
from ninety.config import load_settings
from ninety.cli.supervisor import free_port
from tests.support.media import png_bytes, wav_bytes
from tests.support.stack import Stack, upload


def uploads(stack) -> int:
    with Session(stack.services.engine) as db:
        return db.exec(select(func.count()).select_from(Upload)).one()


def test_uploading_needs_a_session(stack):
    r = upload(stack, {}, wav_bytes(2.0))
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_non_audio_is_refused_with_415(stack):
    h = stack.login(1)
    r = upload(stack, h, b"hello, I am a text file" * 100, name="song.wav")
    assert r.status_code == 415 and "WAV, FLAC, MP3 or OGG" in r.json()["detail"]
    assert upload(stack, h, png_bytes(), name="song.wav").status_code == 415


def test_mislabelled_audio_is_refused_with_415(stack):
    h = stack.login(1)
    r = upload(stack, h, wav_bytes(2.0), name="song.mp3", content_type="audio/mpeg")
    assert r.status_code == 415 and "says MP3 but its bytes are WAV" in r.json()["detail"]


def test_truncated_audio_is_refused_with_422(stack):
    h = stack.login(1)
    whole = wav_bytes(5.0)
    r = upload(stack, h, whole[: len(whole) // 2])
    assert r.status_code == 422 and "truncated" in r.json()["detail"]


def test_artwork_must_be_an_image(stack):
    h = stack.login(1)
    files = {"audio": ("a.wav", wav_bytes(2.0), "audio/wav"), "artwork": ("a.png", b"not an image", "image/png")}
    r = stack.client.post("/api/uploads", data={"title": "t", "artist_name": "a"}, files=files, headers=h)
    assert r.status_code == 415


def test_bad_fields_are_refused_with_422(stack):
    h = stack.login(1)
    me = stack.world.accounts[1]
    for fields, words in (
        ({"title": ""}, "title is required"),
        ({"price": "-1"}, "price"),
        ({"price": "ten"}, "price"),
        ({"token": "usd"}, "not an address"),
        ({"split": "[1,2]"}, "split must be JSON"),
        ({"split": json.dumps([{"address": me, "share_ppm": 500_000}])}, "1,000,000"),
        ({"split": json.dumps([{"address": me, "share_ppm": 500_000}] * 2)}, "twice"),
        # createSplit would refuse them: funds owed there could never be withdrawn.
        ({"split": json.dumps([{"address": me, "share_ppm": 500_000},
                               {"address": stack.world.market.address, "share_ppm": 500_000}])}, "cannot be paid"),
        ({"split": json.dumps([{"address": me, "share_ppm": 500_000},
                               {"address": "0x" + "00" * 20, "share_ppm": 500_000}])}, "cannot be paid"),
        ({"preview_start": "999"}, "past the end"),
    ):
        r = upload(stack, h, wav_bytes(2.0), **fields)
        assert r.status_code == 422 and words in r.json()["detail"], (fields, r.text)
    assert uploads(stack) == 0


def test_oversize_uploads_are_cut_off_with_413(anvil, ipfs_node, tmp_path, stack):
    small = Stack(anvil.url, ipfs_node.url, tmp_path / "small", stack.world, max_upload_bytes=100_000)
    # The limit allows the artwork and fields besides the audio; send audio well past both.

    h = small.login(1)
    r = upload(small, h, wav_bytes(900.0))  # ~14 MB
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert uploads(small) == 0


def test_ipfs_down_during_upload_is_503_and_leaves_nothing(anvil, tmp_path, stack):
    down = Stack(anvil.url, f"http://127.0.0.1:{free_port()}", tmp_path / "down", stack.world)
    down.services.ipfs.timeout = 2
    r = upload(down, down.login(1), wav_bytes(3.0))
    assert r.status_code == 503 and "IPFS" in r.json()["title"]
    assert uploads(down) == 0


def encoded(fmt: str, subtype: str, seconds: float = 3.0, rate: int = 16000) -> bytes:
    import io

    import numpy as np
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    soundfile.write(out, (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"), rate, format=fmt, subtype=subtype)
    return out.getvalue()


def test_flac_ogg_and_mp3_are_accepted_with_their_duration(stack):
    h = stack.login(1)
    for fmt, subtype, name, mime in (("FLAC", "PCM_16", "a.flac", "audio/flac"),
                                     ("OGG", "VORBIS", "a.ogg", "audio/ogg"),
                                     ("MP3", "MPEG_LAYER_III", "a.mp3", "audio/mpeg")):
        r = upload(stack, h, encoded(fmt, subtype), name=name, content_type=mime)
        assert r.status_code == 201, (fmt, r.text)
        assert abs(r.json()["duration"] - 3.0) < 0.1, (fmt, r.json()["duration"])


# ---------------------------------------------------------------- quotas and expiry
# (the HTTP side is in tests/security/test_quotas.py)


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


# ---------------------------------------------------------------- media within limits
# (bombs through the HTTP endpoint are in tests/security/test_media.py)


def test_audio_is_measured_and_previewed_in_the_sandbox(tmp_path):
    from backend import audio

    path = tmp_path / "a.flac"
    path.write_bytes(encoded("FLAC", "PCM_16", seconds=40.0, rate=96_000))
    out = audio.analyse(path, "flac", 5.0, load_settings({}))
    assert abs(out.info.duration - 40.0) < 0.01 and out.info.samplerate == 96_000
    clip = soundfile.info(io.BytesIO(out.preview))
    assert clip.samplerate == 48_000 and 29.9 < clip.duration <= 30.01  # decimated to at most 48 kHz
    for start, words in ((float("nan"), "number of seconds"), (-1.0, "number of seconds"), (40.0, "past the end")):
        try:
            audio.analyse(path, "flac", start, load_settings({}))
        except ApiError as e:
            assert e.status == 422 and words in e.detail, e.detail
        else:
            raise AssertionError(f"preview_start {start} accepted")


def test_audio_limits_come_from_the_settings(tmp_path):
    from backend import audio

    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(61.0))
    try:
        audio.analyse(path, "wav", 0.0, load_settings({"NINETY_MAX_AUDIO_SECONDS": "60"}))
    except ApiError as e:
        assert e.status == 422 and "at most 1 min" in e.detail
    else:
        raise AssertionError("a 61 s file passed a 60 s limit")


def test_decode_slots_make_the_next_caller_wait_then_429(tmp_path):
    import threading

    from backend import audio, sandbox

    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(2.0))
    settings = load_settings({"NINETY_MAX_DECODES": "1", "NINETY_DECODE_WAIT": "0.2"})
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sandbox.decode_slot(1, 0):
            holding.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(5)
    try:
        audio.analyse(path, "wav", 0.0, settings)
    except ApiError as e:
        assert e.status == 429 and e.headers and int(e.headers["Retry-After"]) >= 1
    else:
        raise AssertionError("a second decode ran beside the first")
    finally:
        release.set()
        t.join()
    assert audio.analyse(path, "wav", 0.0, settings).info.duration == 2.0  # the slot is free again


def test_artwork_is_re_encoded_without_exif_or_gps(tmp_path):
    from PIL import Image

    from backend import artwork

    im = Image.new("RGB", (4000, 3000), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif[0x0112] = 6  # rotated: the cleaned image is turned upright
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    raw = io.BytesIO()
    im.save(raw, "JPEG", exif=exif.tobytes(), comment=b"secret")
    out = artwork.clean(raw.getvalue(), load_settings({}), tmp_path)
    assert out.media_type == "image/jpeg" and (out.width, out.height) == (2250, 3000)
    with Image.open(io.BytesIO(out.data)) as got:
        assert not dict(got.getexif()) and "comment" not in got.info and "exif" not in got.info
    png = artwork.clean(png_bytes(), load_settings({}), tmp_path)
    assert png.media_type == "image/png" and (png.width, png.height) == (4, 4)
    for data, words in ((b"\x89PNG\r\n\x1a\n" + b"x" * 100, "could not be decoded"),
                        (_png_declaring(20_000, 20_000), "20,000 x 20,000 pixels")):
        try:
            artwork.clean(data, load_settings({}), tmp_path)
        except ApiError as e:
            assert e.status == 422 and words in e.detail, e.detail
        else:
            raise AssertionError("bad artwork accepted")


def _png_declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


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
