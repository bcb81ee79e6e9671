"""Downloads in other formats on real components: a track in a release, bought through
the release, downloaded as FLAC, MP3, Ogg Vorbis and AAC. Each decodes (PyAV) to the
original's duration within two codec frames, carries the tags (mutagen: title, the
artist's display name, album, track number, artwork), is made once and then served from
the cache (Range too), and is kept on IPFS encrypted, not as the audio."""
from __future__ import annotations

import base64
import dataclasses
import io

import av
import mutagen
from mutagen.flac import Picture
from sqlalchemy import select

from backend.crypto import decrypt_range
from backend.models import Transcode
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.ipfs import Ipfs
from tests.support.media import music_bytes
from tests.support.releases import register, release_form
from tests.support.stack import send, upload

ARTIST, FAN = 1, 2
MILLI = 10**15
SECONDS, RATE = 4, 44_100
# Codec frame sizes: the decoded length may differ by encoder padding of up to this much, twice.
FRAME = {"flac": 4608, "mp3": 1152, "ogg": 2048, "aac": 1024}
MAGIC = {"flac": b"fLaC", "mp3": b"ID3", "ogg": b"OggS", "aac": b"ftyp"}


def _decoded(data: bytes) -> tuple[int, int]:
    """(frames, rate) of the whole decoded stream."""
    frames, rate = 0, 0
    with av.open(io.BytesIO(data)) as c:
        for frame in c.decode(audio=0):
            frames, rate = frames + frame.samples, frame.sample_rate
    return frames, rate


def _tags(data: bytes, fmt: str) -> tuple[str, str, str, str, bytes]:
    """(title, artist, album, track number, artwork) as each container stores them."""
    f = mutagen.File(io.BytesIO(data))
    assert f is not None, fmt
    t = f.tags
    if fmt == "mp3":
        return (str(t["TIT2"]), str(t["TPE1"]), str(t["TALB"]), str(t["TRCK"]), t.getall("APIC")[0].data)
    if fmt == "aac":
        return (t["\xa9nam"][0], t["\xa9ART"][0], t["\xa9alb"][0], str(t["trkn"][0][0]), bytes(t["covr"][0]))
    if fmt == "flac":
        art = f.pictures[0].data
    else:
        art = Picture(base64.b64decode(t["metadata_block_picture"][0])).data
    return (t["title"][0], t["artist"][0], t["album"][0], t["tracknumber"][0], art)


def test_each_format_decodes_to_the_original_is_tagged_cached_and_encrypted(stack):
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    fan, _ = dev_account(DEV_MNEMONIC, FAN)
    h, fan_h = stack.login(ARTIST), stack.login(FAN)
    original = music_bytes(7, seconds=SECONDS, rate=RATE)
    r = upload(stack, h, original, name="song.wav", title="Neon Rain")
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], artist)
    send(stack, r.json()["register_call"], artist)
    tid = stack.world.market.contract.functions.trackCount().call()
    # The artist's profile name is its display name, whatever its listings' metadata says.
    p = stack.client.put("/api/artists/me/profile", data={"name": "Nova Lux", "bio": "", "links": "[]"}, headers=h)
    assert p.status_code == 200, p.text
    stack.sync()
    data, files = release_form([tid], title="Night Shift")
    rel = stack.client.post("/api/releases", data=data, files=files, headers=h)
    assert rel.status_code == 201, rel.text
    rid = register(stack.world, lambda path, body, headers: stack.client.post(path, json=body, headers=headers),
                   h, rel.json()["metadata_cid"], artist, [tid], price=MILLI)
    stack.world.market.buy(rid, MILLI, fan)
    stack.sync()

    # This test looks at which request made a file: each waits for its conversion (by
    # default a request waits NINETY_TRANSCODE_WAIT = 5 s, then is told to come back).
    stack.services.settings = dataclasses.replace(stack.services.settings, transcode_wait=120.0)
    want_frames, want_rate = _decoded(original)
    assert (want_frames, want_rate) == (SECONDS * RATE, RATE)
    ipfs = Ipfs(stack.settings.ipfs_api)
    url = f"/api/tracks/{tid}/download"
    for fmt, ext in (("flac", "flac"), ("mp3", "mp3"), ("ogg", "ogg"), ("aac", "m4a")):
        got = stack.client.get(url, params={"format": fmt}, headers=fan_h)
        assert got.status_code == 200, got.text
        assert got.headers["x-ninety-transcode"] == "made"
        assert got.headers["content-disposition"] == f'attachment; filename="Neon Rain.{ext}"'
        assert MAGIC[fmt] in got.content[:12]
        frames, rate = _decoded(got.content)
        assert rate == RATE
        assert abs(frames - want_frames) <= 2 * FRAME[fmt], (fmt, frames, want_frames)
        title, who, album, number, art = _tags(got.content, fmt)
        assert (title, who, album, number) == ("Neon Rain", "Nova Lux", "Night Shift", "1"), fmt
        assert art == ipfs.cat(r.json()["artwork_cid"]), fmt

        # The second request is served from the cache: the same bytes, no new encode; Range works.
        again = stack.client.get(url, params={"format": fmt}, headers=fan_h)
        assert again.headers["x-ninety-transcode"] == "cached" and again.content == got.content
        part = stack.client.get(url, params={"format": fmt}, headers={**fan_h, "Range": "bytes=100-70000"})
        assert part.status_code == 206 and part.content == got.content[100:70001]
        assert part.headers["content-range"] == f"bytes 100-70000/{len(got.content)}"

        # At rest it is ciphertext under its own wrapped key, not the audio.
        with stack.services.engine.connect() as conn:
            row = conn.execute(select(Transcode.__table__).where(Transcode.__table__.c.format == fmt)).mappings().one()
        stored = ipfs.cat(row["cid"])
        assert len(stored) > row["size"] and MAGIC[fmt] not in stored[:64] and got.content[:4096] not in stored
        key = stack.services.master_key.unwrap(row["wrapped_key"])
        plain = b"".join(decrypt_range(lambda off, n: ipfs.cat(row["cid"], offset=off, length=n), key,
                                       bytes.fromhex(row["nonce_prefix"]), row["size"], 0, row["size"] - 1,
                                       row["chunk_size"]))
        assert plain == got.content
    # A new display name changes the tags: the next request writes them into the kept
    # untagged encode (no decode, no encode) and replaces the file in place.
    p = stack.client.put("/api/artists/me/profile", data={"name": "Nova Lux Trio", "bio": "", "links": "[]"}, headers=h)
    assert p.status_code == 200, p.text
    renamed = stack.client.get(url, params={"format": "mp3"}, headers=fan_h)
    assert renamed.headers["x-ninety-transcode"] == "retagged" and _tags(renamed.content, "mp3")[1] == "Nova Lux Trio"
    assert _decoded(renamed.content) == _decoded(stack.client.get(url, params={"format": "mp3"}, headers=fan_h).content)
    assert abs(_decoded(renamed.content)[0] - want_frames) <= 2 * FRAME["mp3"]
    with stack.services.engine.connect() as conn:
        formats = conn.execute(select(Transcode.__table__.c.format)).scalars().all()
    assert formats.count("mp3") == 1 and formats.count("mp3-untagged") == 1, formats
    # The original is still the original.
    assert stack.client.get(url, headers=fan_h).content == original
    assert stack.client.get(url, params={"format": "original"}, headers=fan_h).content == original
