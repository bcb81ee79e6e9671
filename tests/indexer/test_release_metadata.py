"""A release's metadata through the real IPFS node: parsed as a release (no audio of its
own) and genuine only when it is the registrant's, has its artwork and lists exactly the
chain's members in order; on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from indexer.metadata import fetch_pending
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.indexer.releases import pin, register_release, release_metadata, track_metadata
from tests.support.indexing import make_indexer

T = SQLModel.metadata.tables


def row(engine, listing_id: int):
    with engine.connect() as conn:
        return conn.execute(select(T["track"]).where(T["track"].c.track_id == listing_id)).mappings().one()


@pytest.fixture
def catalog(anvil, ipfs_node, world):
    """Three genuine tracks of wallet 1 (real metadata on IPFS) and its split."""
    ipfs = Ipfs(ipfs_node.url)
    m, artist = world.market, world.accounts[1]
    split = m.create_split([(artist, 1_000_000)], artist)
    tids = [m.register(pin(ipfs, track_metadata(f"Song {i}", artist, i)), split, ETH, 10**14, artist) for i in range(3)]
    return ipfs, artist, split, tids


def list_and_fetch(anvil, engine, world, ipfs, doc, split, tids, artist) -> int:
    rid = register_release(world, pin(ipfs, doc), split, tids, artist)
    make_indexer(anvil.url, engine, world).run(once=True)
    fetch_pending(engine, ipfs, limit=50)
    return rid


def test_a_well_formed_release_is_genuine_and_read_as_a_release(anvil, world, engine, catalog):
    ipfs, artist, split, tids = catalog
    order = [tids[1], tids[2], tids[0]]
    doc = release_metadata(order, artist, title="Night Shift", animation_url="ipfs://bafkreinotarelease",
                           audio_cid="bafkreinotarelease", duration=99)
    rid = list_and_fetch(anvil, engine, world, ipfs, doc, split, order, artist)
    got = row(engine, rid)
    assert (got["kind"], got["metadata_status"], got["genuine"]) == ("release", "ok", True)
    assert (got["title"], got["artist_name"], got["genre"], got["artwork_cid"], got["uploaded_by"]) == \
        ("Night Shift", "The Testers", "synthwave", "bafkreireleaseartwork", artist.lower())
    # A release has no audio, preview or length of its own, whatever its JSON says.
    assert (got["audio_cid"], got["preview_cid"], got["duration"]) == (None, None, None)
    assert [row(engine, t)["genuine"] for t in tids] == [True] * 3


@pytest.mark.parametrize("case", ["other order", "missing member", "extra track", "other uploader", "no artwork"])
def test_a_release_whose_metadata_does_not_match_its_listing_is_not_genuine(anvil, world, engine, catalog, case):
    ipfs, artist, split, tids = catalog
    listed = tids[:2]
    doc = {
        "other order": release_metadata(listed[::-1], artist),
        "missing member": release_metadata(listed[:1], artist),
        "extra track": release_metadata([*listed, tids[2]], artist),
        "other uploader": release_metadata(listed, world.accounts[2]),
        "no artwork": release_metadata(listed, artist, artwork_cid=None),
    }[case]
    rid = list_and_fetch(anvil, engine, world, ipfs, doc, split, listed, artist)
    got = row(engine, rid)
    assert (got["metadata_status"], got["genuine"]) == ("ok", False)


def test_a_release_listed_with_a_tracks_metadata_and_the_reverse_are_not_genuine(anvil, world, engine, catalog):
    ipfs, artist, split, tids = catalog
    # A genuine track's own metadata CID listed again as a release (no catalog signer here).
    as_release = list_and_fetch(anvil, engine, world, ipfs, track_metadata("Song 0", artist, 0), split, tids[:1],
                                artist)
    assert (row(engine, as_release)["kind"], row(engine, as_release)["genuine"]) == ("release", False)
    # Release metadata listed as a track: complete as a release, but not a track.
    cid = pin(ipfs, release_metadata(tids, artist, title="Posing"))
    as_track = world.market.register(cid, split, ETH, 10**14, artist)
    make_indexer(anvil.url, engine, world).run(once=True)
    fetch_pending(engine, ipfs, limit=50)
    assert (row(engine, as_track)["kind"], row(engine, as_track)["metadata_status"]) == ("track", "ok")
    assert row(engine, as_track)["genuine"] is False


@pytest.mark.parametrize("tracks", [[], "1,2", [1, "2"], [1, True], [2**40], None])
def test_release_metadata_without_a_usable_track_list_is_invalid_and_retried(anvil, world, engine, catalog, tracks):
    ipfs, artist, split, tids = catalog
    doc = release_metadata(tids, artist)
    doc["properties"]["tracks"] = tracks
    rid = list_and_fetch(anvil, engine, world, ipfs, doc, split, tids, artist)
    got = row(engine, rid)
    assert (got["metadata_status"], got["genuine"], got["title"]) == ("invalid", False, None)
    assert "properties.tracks" in got["metadata_error"] and got["metadata_next_attempt"] > 0
