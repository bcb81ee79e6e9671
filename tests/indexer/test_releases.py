"""Releases in the ledger against real Anvil and SQLite/PostgreSQL: a release is a listing of
kind 'release' with its members in order, its sales and aggregates are under its own id,
a reorg takes it and its members away, and `ninety verify` checks them against the logs
and the contract's `releaseTracks`."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import SQLModel

from indexer.verify import verify
from ninety.chain import Rpc
from ninety.market import ETH
from tests.indexer.releases import register_release
from tests.support.indexing import make_indexer

T = SQLModel.metadata.tables


def _artist_tracks(world, n: int, artist_index: int = 1) -> tuple[str, str, list[int]]:
    m, artist = world.market, world.accounts[artist_index]
    split = m.create_split([(artist, 1_000_000)], artist)
    return artist, split, [m.register(f"bafkreimember{artist_index}x{i}", split, ETH, 10**14, artist) for i in range(n)]


def members(engine, release_id: int) -> list[int]:
    rt = T["release_track"]
    with engine.connect() as conn:
        return list(conn.execute(select(rt.c.track_id).where(rt.c.release_id == release_id).order_by(rt.c.position))
                    .scalars())


def listing(engine, listing_id: int):
    with engine.connect() as conn:
        return conn.execute(select(T["track"]).where(T["track"].c.track_id == listing_id)).mappings().first()


def test_a_release_is_a_listing_with_its_members_in_order_and_its_own_sales(anvil, world, engine):
    m = world.market
    artist, split, tids = _artist_tracks(world, 3)
    order = [tids[2], tids[0], tids[1]]
    rid = register_release(world, "bafkreirelease1", split, order, artist, price=5 * 10**15)
    buyer = world.accounts[4]
    m.buy(rid, 5 * 10**15, buyer)
    m.buy(rid, 6 * 10**15, world.accounts[5])
    m.update_track(rid, 7 * 10**15, True, artist)
    make_indexer(anvil.url, engine, world).run(once=True)

    row = listing(engine, rid)
    assert (row["kind"], row["artist"], row["split_id"], int(row["price"]), row["listed"], row["sales"]) == \
        ("release", artist.lower(), split, 7 * 10**15, True, 2)
    assert (row["metadata_cid"], row["audio_cid"], row["preview_cid"]) == ("bafkreirelease1", None, None)
    assert [listing(engine, t)["kind"] for t in tids] == ["track"] * 3
    assert members(engine, rid) == order
    with engine.connect() as conn:
        sales = conn.execute(select(T["sale"].c.track_id, T["sale"].c.artist)).all()
        stats = conn.execute(select(T["track_stats"])).mappings().all()
        days = conn.execute(select(T["track_day"].c.track_id, T["track_day"].c.sales)).all()
        nets = conn.execute(select(T["track_split"].c.track_id, T["track_split"].c.split_id)).all()
        artists = conn.execute(select(T["artist_stats"].c.artist, T["artist_stats"].c.sales)).all()
    assert sales == [(rid, artist.lower())] * 2
    assert [(s["track_id"], s["sales"], int(s["gross"])) for s in stats] == [(rid, 2, 11 * 10**15)]
    assert (days, nets, artists) == ([(rid, 2)], [(rid, split)], [(artist.lower(), 2)])
    _, diffs = verify(Rpc(anvil.url), engine, m.address, world.deploy_block)
    assert diffs == []


def test_a_reorg_takes_a_release_and_its_members_away(anvil, world, engine):
    m, w3 = world.market, world.w3
    artist, split, tids = _artist_tracks(world, 2)
    kept = register_release(world, "bafkreikeptrelease", split, tids[::-1], artist)
    make_indexer(anvil.url, engine, world).run(once=True)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    doomed = register_release(world, "bafkreidoomedrelease", split, tids, artist)
    m.buy(doomed, 10**15, world.accounts[4])
    m.update_track(kept, 42, False, artist)
    m.block_track(kept, "bafkreitakendown", world.owner)
    make_indexer(anvil.url, engine, world).run(once=True)
    assert members(engine, doomed) == tids and listing(engine, doomed)["sales"] == 1
    assert (int(listing(engine, kept)["price"]), listing(engine, kept)["listed"], listing(engine, kept)["blocked"]) \
        == (42, False, True)

    # Another history: a different release (the same id, other members) on a longer chain.
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]
    other = m.register("bafkreiothermember", split, ETH, 10**14, artist)
    rid = register_release(world, "bafkreiotherrelease", split, [tids[1], other], artist)
    for i in range(3):
        m.buy(tids[0], 10**14 + i, world.accounts[5])
    ix = make_indexer(anvil.url, engine, world)
    ix.run(once=True)
    assert ix.stats.reorgs >= 1
    assert rid == doomed + 1 and listing(engine, doomed)["kind"] == "track"
    assert members(engine, doomed) == [] and members(engine, rid) == [tids[1], other]
    assert listing(engine, rid)["metadata_cid"] == "bafkreiotherrelease" and listing(engine, rid)["sales"] == 0
    # The release from before the fork is back as it was, with its tracks.
    assert (int(listing(engine, kept)["price"]), listing(engine, kept)["listed"], listing(engine, kept)["blocked"]) \
        == (10**15, True, False)
    assert members(engine, kept) == tids[::-1]
    with engine.connect() as conn:
        assert conn.execute(select(T["track_stats"].c.track_id)).scalars().all() == [tids[0]]
    _, diffs = verify(Rpc(anvil.url), engine, m.address, world.deploy_block)
    assert diffs == []


def test_verify_names_a_release_whose_members_or_kind_were_changed(anvil, world, engine):
    m = world.market
    artist, split, tids = _artist_tracks(world, 3)
    rid = register_release(world, "bafkreiverified", split, tids, artist)
    make_indexer(anvil.url, engine, world).run(once=True)
    assert verify(Rpc(anvil.url), engine, m.address, world.deploy_block)[1] == []
    rt = T["release_track"]
    with engine.begin() as conn:
        conn.execute(update(rt).where(rt.c.release_id == rid, rt.c.position == 0).values(track_id=tids[2]))
        conn.execute(update(T["track"]).where(T["track"].c.track_id == tids[0]).values(kind="release"))
    _, diffs = verify(Rpc(anvil.url), engine, m.address, world.deploy_block)
    want = [tids[2], tids[1], tids[2]]
    assert f"release_track {rid}: {want} in the database, {tids} in its log" in diffs, diffs
    assert f"release_track {rid}: {want} in the database, {tids} from the contract" in diffs, diffs
    assert any(d.startswith("track ") and ": kind is 'release' in the database, 'track' on chain" in d for d in diffs)


def _releases_among(world, rng) -> list[int]:
    """Each artist with two or more unblocked tracks lists a release of some of them (in a
    random order); releases are bought, repriced, moved to another split, taken down and
    put back like tracks."""
    m = world.market
    for artist in world.accounts[1:4]:  # at least three artists with tracks enough for a release
        split = m.create_split([(artist, 1_000_000)], artist)
        for _ in range(2):
            world.listed += 1
            world.tracks.append((m.register(f"bafkreirandomtrack{world.listed}", split, ETH, 10**14, artist),
                                 ETH, 10**14))
    by_artist: dict[str, list[int]] = {}
    for tid, _, _ in world.tracks:
        if tid not in world.blocked:
            by_artist.setdefault(m.contract.functions.tracks(tid).call()[0], []).append(tid)
    releases = []
    for artist, tids in sorted(by_artist.items()):
        if len(tids) < 2:
            continue
        chosen = rng.sample(tids, rng.randint(2, len(tids)))
        split = m.create_split([(artist, 1_000_000)], artist)
        world.listed += 1
        releases.append(register_release(world, f"bafkreirandomrelease{world.listed}", split, chosen, artist,
                                         price=rng.randint(1, 10**16)))
    for rid in releases:
        artist, _, _, price = m.contract.functions.tracks(rid).call()[:4]
        for _ in range(rng.randint(1, 3)):
            m.buy(rid, price + rng.randint(0, 10**15), rng.choice(world.accounts[1:8]))
        m.update_track(rid, price * 2 + 1, True, artist)
        m.buy(rid, price * 2 + 1, rng.choice(world.accounts[1:8]))
        sid = rng.choice(world.splits)
        if sid != m.track_split(rid):  # proposing the current split reverts
            m.propose_split(rid, sid, artist)
    m.block_track(releases[0], "bafkreiblockrelease", world.owner)
    m.block_track(releases[-1], "bafkreiblockrelease2", world.owner)
    m.unblock_track(releases[-1], "bafkreiunblockrelease", world.owner)
    return releases


def test_releases_among_random_activity_are_mirrored_and_replayed_exactly(anvil, world, engine):
    import random

    from tests.support.activity import random_activity
    from tests.support.indexing import dump

    random_activity(world, 60, seed=23, pools=False)
    releases = _releases_among(world, random.Random(23))
    assert len(releases) >= 3
    random_activity(world, 30, seed=24, pools=False)
    make_indexer(anvil.url, engine, world).run(once=True)
    _, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    assert diffs == []
    f = world.market.contract.functions
    for rid in releases:
        assert members(engine, rid) == f.releaseTracks(rid).call()
        row = listing(engine, rid)
        on_chain = f.tracks(rid).call()
        assert (row["kind"], row["artist"], int(row["price"]), row["split_id"]) == \
            ("release", on_chain[0].lower(), on_chain[3], "0x" + bytes(on_chain[1]).hex())
    assert listing(engine, releases[0])["blocked"] is True
    # Replaying every block adds nothing: no second copy of any release's tracks.
    before = dump(engine)
    with engine.begin() as conn:
        conn.execute(update(T["checkpoint"]).values(block_number=world.deploy_block - 1, block_hash=""))
    make_indexer(anvil.url, engine, world).run(once=True)
    after = dump(engine)
    after["checkpoint"] = before["checkpoint"] = []
    assert after == before and len(before["release_track"]) >= 4
