"""Track metadata through the real IPFS node: fetched and verified after TrackRegistered,
retried later when the node is unreachable or the JSON is bad, never blocking the ledger."""
from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlmodel import SQLModel

from indexer.metadata import fetch_pending, parse_metadata
from ninety.ipfs import Ipfs
from ninety.market import ETH
from ninety.cli.supervisor import free_port
from tests.support.indexing import make_indexer

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


def _missing_cid() -> str:
    """A valid CID of bytes nobody has: an offline node waits for it until its timeout."""
    import os

    import aleph_cid

    hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    hasher.update(os.urandom(64))
    return str(hasher.finalize())


def test_metadata_past_the_cap_is_refused_without_reading_the_rest(anvil, ipfs_node, world, engine):
    import os

    from indexer.metadata import MAX_METADATA_BYTES

    ipfs = Ipfs(ipfs_node.url)
    huge = ipfs.add_bytes(b"{" + os.urandom(8 * 1024 * 1024))
    track_id = register(world, huge)
    make_indexer(anvil.url, engine, world).run(once=True)
    received = []
    stream = ipfs.stream

    def counting(cid, *args, **kwargs):
        for chunk in stream(cid, *args, **kwargs):
            received.append(len(chunk))
            yield chunk

    ipfs.stream = counting
    assert fetch_pending(engine, ipfs, now=0.0) == 0
    row = track_row(engine, track_id)
    assert row["metadata_status"] == "invalid" and f"more than {MAX_METADATA_BYTES:,} bytes" in row["metadata_error"]
    assert sum(received) <= MAX_METADATA_BYTES + 1024 * 1024, f"read {sum(received):,} bytes of 8 MiB"
    assert row["metadata_next_attempt"] >= 3600.0  # fixed bytes: no quick retries


def test_the_worker_fetches_honest_metadata_while_a_hostile_cid_hangs(anvil, ipfs_node, world, engine):
    import time

    from indexer.metadata import MetadataWorker

    ipfs = Ipfs(ipfs_node.url, timeout=6)
    hostile = register(world, _missing_cid())
    honest = register(world, ipfs.add_bytes(json.dumps(METADATA).encode()))
    make_indexer(anvil.url, engine, world).run(once=True)
    worker = MetadataWorker(engine, ipfs, concurrency=2, interval=0.2).start()
    try:
        started = time.monotonic()
        while track_row(engine, honest)["metadata_status"] != "ok":
            assert time.monotonic() - started < 5, "honest metadata waited behind the hostile CID"
            time.sleep(0.05)
        took = time.monotonic() - started
        assert track_row(engine, hostile)["metadata_attempts"] == 0  # still hanging on the node
        while track_row(engine, hostile)["metadata_attempts"] == 0:
            assert time.monotonic() - started < 30
            time.sleep(0.1)
    finally:
        worker.stop()
    row = track_row(engine, hostile)
    print(f"\nhonest metadata in {took:.2f} s while the hostile CID hung for {time.monotonic() - started:.1f} s")
    assert row["metadata_status"] == "pending" and "did not answer" in row["metadata_error"]


def test_new_registrations_are_fetched_before_retries_of_old_failures(anvil, ipfs_node, world, engine):
    from indexer.metadata import _due

    ipfs = Ipfs(ipfs_node.url)
    old = register(world, ipfs.add_bytes(b"not json"))
    make_indexer(anvil.url, engine, world).run(once=True)
    fetch_pending(engine, ipfs, now=0.0)
    new = register(world, ipfs.add_bytes(json.dumps(METADATA).encode()))
    make_indexer(anvil.url, engine, world).run(once=True)
    assert [r.track_id for r in _due(engine, 1, now=10**10)] == [new]
    assert [r.track_id for r in _due(engine, 5, now=10**10)] == [new, old]
