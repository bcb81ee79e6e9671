"""Uploads that must be refused, the audio formats accepted, and a node outage that must leave
nothing behind."""
from __future__ import annotations

import json

from ninety.cli.supervisor import free_port
from tests.support.media import png_bytes, wav_bytes
from tests.support.stack import Stack, upload
from tests.support.uploads import encoded, uploads


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


def test_flac_ogg_and_mp3_are_accepted_with_their_duration(stack):
    h = stack.login(1)
    for fmt, subtype, name, mime in (("FLAC", "PCM_16", "a.flac", "audio/flac"),
                                     ("OGG", "VORBIS", "a.ogg", "audio/ogg"),
                                     ("MP3", "MPEG_LAYER_III", "a.mp3", "audio/mpeg")):
        r = upload(stack, h, encoded(fmt, subtype), name=name, content_type=mime)
        assert r.status_code == 201, (fmt, r.text)
        assert abs(r.json()["duration"] - 3.0) < 0.1, (fmt, r.json()["duration"])
