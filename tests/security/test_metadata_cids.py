"""Attacker-chosen CIDs, against the real stack (`ninety index` and `ninety serve` in
processes of their own, Anvil, the offline js-ipfs node): registering a track whose
metadata CID exists nowhere, or is a huge object, never holds up the sales behind it or
the indexer's memory; metadata pointing its preview and artwork at a huge object gets
nothing served; this server's own files are streamed, never loaded whole."""
from __future__ import annotations

import json
import os
import time

import aleph_cid
import httpx
from sqlmodel import Session

from backend.models import Upload
from ninety.db import make_engine
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.support.live_api import MemoryWatch, until

BIG = 96 * 1024 * 1024
MEMORY_MB = 48  # half the object: loading it whole (even once) passes this


def missing_cid() -> str:
    """A valid CID of bytes nobody has: the offline node waits for it until its timeout."""
    hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    hasher.update(os.urandom(64))
    return str(hasher.finalize())


def metadata(title: str, **extra: str) -> bytes:
    return json.dumps({"name": title, "properties": {"title": title, "artist": "Someone", **extra}}).encode()


def listing(world, cid: str, price: int = 1000, artist_index: int = 1) -> int:
    a = world.accounts
    split = world.market.create_split([(a[artist_index], 1_000_000)], a[artist_index])
    return world.market.register(cid, split, ETH, price, a[artist_index])


def track(api, track_id: int) -> dict | None:
    return api.track_row(track_id)


def test_a_sale_is_indexed_promptly_while_hostile_metadata_hangs(live_api, ipfs_node):
    api = live_api()
    api.start_indexer()
    world = api.world
    honest = listing(world, Ipfs(ipfs_node.url).add_bytes(metadata("Honest")))
    until(lambda: (track(api, honest) or {}).get("metadata_status") == "ok", 60, "the honest track's metadata")

    hostile = [listing(world, missing_cid()) for _ in range(3)]
    until(lambda: track(api, hostile[-1]), 30, "the hostile registrations indexed")
    # The node is now waiting (10 s, `ninety index`'s IPFS timeout) for CIDs that exist nowhere.
    started = time.monotonic()
    world.market.buy(honest, 1000, world.accounts[2])
    mined = time.monotonic()
    sales = until(lambda: api.get("/api/ledger/sales", params={"track": honest}).json()["items"], 60,
                  "the sale in the API")
    seen = time.monotonic()
    print(f"\nsale in the API {seen - mined:.2f} s after it was mined (buy took {mined - started:.2f} s), "
          f"while {len(hostile)} hostile registrations' metadata hung")
    assert sales[0]["buyer"] == world.accounts[2].lower()
    assert seen - mined < 5, "the sale waited behind the hostile metadata (the node's timeout is 10 s)"
    assert all((track(api, t) or {}).get("metadata_status") == "pending" for t in hostile)


def test_huge_metadata_is_refused_without_being_read(live_api, ipfs_node):
    api = live_api()
    indexer = api.start_indexer()
    world = api.world
    first = listing(world, Ipfs(ipfs_node.url).add_bytes(metadata("Warm-up")))
    until(lambda: (track(api, first) or {}).get("metadata_status") == "ok", 60, "the first track's metadata")
    huge = Ipfs(ipfs_node.url).add_bytes(b"{" + os.urandom(BIG))
    with MemoryWatch(indexer.pid) as watch:
        t0 = time.monotonic()
        tid = listing(world, huge)
        row = until(lambda: (t := track(api, tid)) and t["metadata_status"] != "pending" and t, 60,
                    "the huge metadata judged")
        took = time.monotonic() - t0
    print(f"\n{BIG:,}-byte metadata refused in {took:.2f} s; indexer +{watch.growth_mb:.1f} MB")
    assert row["metadata_status"] == "invalid" and row["title"] is None
    assert watch.growth_mb < MEMORY_MB


def test_only_files_this_server_pinned_are_served(live_api, ipfs_node):
    """Metadata written by hand can name any CID as its preview and artwork: a huge one
    here. The server serves neither (it did not make them), and reads none of it."""
    api = live_api()
    api.start_indexer()
    ipfs = Ipfs(ipfs_node.url)
    big = ipfs.add_bytes(os.urandom(BIG))
    # Complete and naming its registrant as uploader, like this server's own metadata.
    meta = ipfs.add_bytes(metadata("Pointing elsewhere", preview_cid=big, artwork_cid=big, audio_cid=big,
                                   uploaded_by=api.world.accounts[1].lower()))
    tid = listing(api.world, meta)
    until(lambda: (track(api, tid) or {}).get("metadata_status") == "ok", 60, "the track's metadata")
    assert track(api, tid)["preview_cid"] == big
    with MemoryWatch(api.pid) as watch:
        t0 = time.monotonic()
        preview, artwork = api.get(f"/api/tracks/{tid}/preview", timeout=120), api.get(f"/api/tracks/{tid}/artwork")
        took = time.monotonic() - t0
    print(f"\npreview and artwork of another's CID: {preview.status_code}, {artwork.status_code} in {took:.2f} s; "
          f"server +{watch.growth_mb:.1f} MB")
    assert preview.status_code == 404 and artwork.status_code == 404, preview.text[:300]
    assert "not uploaded through this server" in preview.json()["detail"]
    assert track(api, tid)["genuine"], "the 404 is for the files' origin, not for the metadata"
    assert watch.growth_mb < MEMORY_MB


def test_this_servers_own_preview_is_streamed_not_loaded(live_api, ipfs_node):
    """An upload of this server's (recorded in its `upload` table) whose preview is
    large: served whole and by range, with the server's memory flat."""
    api = live_api()
    api.start_indexer()
    ipfs = Ipfs(ipfs_node.url)
    body = b"OggS" + os.urandom(BIG - 4)
    big = ipfs.add_bytes(body)
    artist = api.world.accounts[1].lower()
    meta = ipfs.add_bytes(metadata("Ours", preview_cid=big, artwork_cid=big, audio_cid=big, uploaded_by=artist))
    engine = make_engine(api.db_url)
    with Session(engine) as db:
        db.add(Upload(artist=artist, metadata_cid=meta, audio_cid=big, preview_cid=big, artwork_cid=big,
                      file_name="ours.ogg", content_type="audio/ogg", size=BIG, sha256="0" * 64, chunk_size=65536,
                      nonce_prefix="00" * 8, wrapped_key="x", created_at=time.time()))
        db.commit()
    engine.dispose()
    tid = listing(api.world, meta)
    until(lambda: (track(api, tid) or {}).get("metadata_status") == "ok", 60, "the track's metadata")
    with MemoryWatch(api.pid) as watch:
        t0 = time.monotonic()
        received = 0
        with httpx.stream("GET", f"{api.url}/api/tracks/{tid}/preview", timeout=120) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
            assert int(r.headers["content-length"]) == BIG
            for chunk in r.iter_bytes():
                received += len(chunk)
        took = time.monotonic() - t0
        part = api.get(f"/api/tracks/{tid}/preview", headers={"Range": "bytes=1000000-1000099"})
    print(f"\nown {BIG:,}-byte preview streamed in {took:.2f} s; server +{watch.growth_mb:.1f} MB")
    assert received == BIG
    assert part.status_code == 206 and part.content == body[1_000_000:1_000_100]
    assert part.headers["content-range"] == f"bytes 1000000-1000099/{BIG}"
    assert watch.growth_mb < MEMORY_MB
