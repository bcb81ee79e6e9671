"""Track metadata through the real IPFS node: fetched and verified after TrackRegistered,
retried later when the node is unreachable or the JSON is bad, never blocking the ledger."""
from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlmodel import SQLModel

from conftest import make_indexer
from indexer.metadata import fetch_pending, parse_metadata
from ninety.ipfs import Ipfs
from ninety.market import ETH
from ninety.supervisor import free_port

T = SQLModel.metadata.tables

METADATA = {
    "name": "Night Drive",
    "description": "A test track",
    "image": "ipfs://bafkreiartworkcid",
    "animation_url": "ipfs://bafkreipreviewcid",
    "properties": {"artist": "The Testers", "title": "Night Drive", "genre": "synthwave",
                   "duration": 184.5, "audio_cid": "bafkreiaudiocid"},
}


def register(world, cid: str) -> int:
    m, a = world.market, world.accounts
    sid = m.create_split([(a[1], 1_000_000)], a[1])
    return m.register(cid, sid, ETH, 1, a[1])


def track_row(engine, track_id: int):
    with engine.connect() as conn:
        return conn.execute(select(T["track"]).where(T["track"].c.track_id == track_id)).mappings().one()


def test_metadata_is_fetched_verified_and_stored(anvil, ipfs_node, world, engine):
    ipfs = Ipfs(ipfs_node.url)
    cid = ipfs.add_bytes(json.dumps(METADATA).encode())
    track_id = register(world, cid)
    make_indexer(anvil.url, engine, world).run(once=True)
    assert track_row(engine, track_id)["metadata_status"] == "pending"
    assert fetch_pending(engine, ipfs) == 1
    row = track_row(engine, track_id)
    assert row["metadata_status"] == "ok"
    assert (row["title"], row["artist_name"], row["genre"], row["duration"]) == ("Night Drive", "The Testers", "synthwave", 184.5)
    assert (row["artwork_cid"], row["preview_cid"], row["audio_cid"]) == ("bafkreiartworkcid", "bafkreipreviewcid", "bafkreiaudiocid")


def test_unreachable_ipfs_is_retried_later_and_the_ledger_goes_on(anvil, ipfs_node, world, engine):
    cid = Ipfs(ipfs_node.url).add_bytes(json.dumps({"name": "Later", "artist": "Someone"}).encode())
    track_id = register(world, cid)
    make_indexer(anvil.url, engine, world).run(once=True)
    down = Ipfs(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert fetch_pending(engine, down, now=1000.0) == 0
    row = track_row(engine, track_id)
    assert row["metadata_status"] == "pending" and row["metadata_attempts"] == 1
    assert "unreachable" in row["metadata_error"]
    assert row["metadata_next_attempt"] > 1000.0
    # Not due yet: nothing is tried; once due, the real node answers.
    assert fetch_pending(engine, Ipfs(ipfs_node.url), now=1000.0) == 0
    assert fetch_pending(engine, Ipfs(ipfs_node.url), now=row["metadata_next_attempt"]) == 1
    assert track_row(engine, track_id)["title"] == "Later"


def test_invalid_metadata_is_marked_and_retried_with_backoff(anvil, ipfs_node, world, engine):
    cid = Ipfs(ipfs_node.url).add_bytes(b"this is not json")
    track_id = register(world, cid)
    make_indexer(anvil.url, engine, world).run(once=True)
    fetch_pending(engine, Ipfs(ipfs_node.url), now=0.0)
    row = track_row(engine, track_id)
    assert row["metadata_status"] == "invalid" and row["title"] is None
    with engine.begin() as conn:  # two failures later the wait is longer
        conn.execute(update(T["track"]).values(metadata_next_attempt=0.0))
    fetch_pending(engine, Ipfs(ipfs_node.url), now=0.0)
    assert track_row(engine, track_id)["metadata_next_attempt"] > row["metadata_next_attempt"]


def test_parse_metadata_accepts_top_level_and_properties():
    assert parse_metadata(json.dumps({"title": "A", "artist": "B", "duration": 3}).encode())["artist_name"] == "B"
    for bad in (b"[]", b'{"artist": "no title"}', b"{", b"x" * 300_000):
        try:
            parse_metadata(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad[:20]!r}")
