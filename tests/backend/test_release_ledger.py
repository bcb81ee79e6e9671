"""The ledger API with releases, over a ledger the real indexer built from real Anvil, with
metadata from the real IPFS node, on SQLite and PostgreSQL: a release's sale is a sale of
the release; a track's summary names the releases holding it and counts their sales; a
release's registration has a proof that covers its tracks. Expectations come from the
chain (logs, receipts), not from the database."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import update
from sqlmodel import SQLModel

from ninety.chain import Rpc
from ninety.ledger.events import Decoder
from ninety.market import ETH
from tests.indexer.releases import pin, register_release, release_metadata, track_metadata
from tests.support.stack import DATABASES, ledger_stack

T = SQLModel.metadata.tables
PRICE = 3 * 10**15


@pytest.fixture(params=DATABASES)
def stack(request, anvil, ipfs_node, tmp_path):
    with ledger_stack(request.param, anvil, ipfs_node, tmp_path) as s:
        yield s


@pytest.fixture
def albums(stack):
    """Wallet 1's three tracks, album A of them (in another order) and single B of the
    first, with metadata on IPFS; A bought twice, B once, the first track once on its
    own. Indexed, metadata not fetched yet."""
    w, m, ipfs = stack.world, stack.world.market, stack.services.ipfs
    artist = w.accounts[1]
    split = m.create_split([(artist, 700_000), (w.accounts[2], 300_000)], artist)
    tids = []
    for i in range(3):
        cid = pin(ipfs, track_metadata(f"Song {i}", artist, i))
        tids.append(m.register(cid, split, ETH, 10**15, artist, w.attest(cid, artist, split)))
    album_tracks = [tids[2], tids[0], tids[1]]
    album = register_release(w, pin(ipfs, release_metadata(album_tracks, artist, title="Night Shift")), split,
                             album_tracks, artist, price=PRICE)
    single = register_release(w, pin(ipfs, release_metadata(tids[:1], artist, title="Song 0 (single)",
                                                             release_type="single")),
                              split, tids[:1], artist, price=10**15)
    m.buy(album, PRICE, w.accounts[4])
    m.buy(album, PRICE + 5, w.accounts[5])
    m.buy(single, 10**15, w.accounts[4])
    m.buy(tids[0], 10**15, w.accounts[6])
    stack.indexer.run(once=True)
    return tids, album_tracks, album, single


def chain_events(stack, name: str) -> list:
    rpc = Rpc(stack.settings.rpc_url)
    logs = rpc.get_logs(stack.world.market.address, stack.world.deploy_block, rpc.block_number())
    return [e for e in Decoder().decode_all(logs) if e.name == name]


def sales_page(stack, **params) -> list[dict]:
    r = stack.client.get("/api/ledger/sales", params={"order": "asc", "limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_release_sale_is_a_sale_of_the_release_with_its_kind_and_title(stack, albums):
    tids, _, album, single = albums
    on_chain = [(e.args["trackId"], e.args["amount"], e.tx_hash) for e in chain_events(stack, "Sale")]
    items = sales_page(stack)
    assert [(s["track_id"], int(s["amount"]), s["tx_hash"]) for s in items] == on_chain
    assert [s["kind"] for s in items] == ["release", "release", "release", "track"]
    # Titles come from metadata: unknown (null) until the indexer fetched it.
    assert {s["title"] for s in items} == {None}
    stack.sync()
    items = sales_page(stack)
    assert [(s["track_id"], s["kind"], s["title"]) for s in items] == [
        (album, "release", "Night Shift"), (album, "release", "Night Shift"), (single, "release", "Song 0 (single)"),
        (tids[0], "track", "Song 0")]
    assert [s["tx_hash"] for s in sales_page(stack, track=album)] == [t for i, _, t in on_chain if i == album]
    r = stack.client.get("/api/ledger/sales", params={"order": "asc", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(int(x["track_id"]), x["kind"], x["title"]) for x in rows] == \
        [(s["track_id"], s["kind"], s["title"]) for s in items]


def test_summaries_of_a_release_and_of_the_tracks_it_holds(stack, albums):
    tids, album_tracks, album, single = albums
    # A release counts for its tracks once its metadata, fetched, shows it genuine (it lists
    # them): a "release" of any CID delivers nothing (finding 7 of the adversary).
    before = stack.client.get(f"/api/ledger/tracks/{tids[1]}")
    assert (before.json()["releases"], before.json()["release_sales"]) == ([], 0)
    stack.sync()
    after = stack.client.get(f"/api/ledger/tracks/{tids[1]}", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.json()["releases"] == [album]
    sales = [e.args for e in chain_events(stack, "Sale")]
    of_album = [s for s in sales if s["trackId"] == album]
    r = stack.client.get(f"/api/ledger/tracks/{album}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["kind"], got["tracks"], got["releases"], got["release_sales"]) == ("release", album_tracks, [], 0)
    assert got["sales"] == len(of_album) == 2
    assert got["gross"] == str(sum(s["amount"] for s in of_album))
    assert got["fees"] == str(sum(s["platformFee"] for s in of_album))
    assert sum(int(p["credited"]) for p in got["payees"]) == int(got["net"])
    assert sum(d["sales"] for d in got["sales_per_day"]) == 2
    first = stack.client.get(f"/api/ledger/tracks/{tids[0]}").json()
    assert (first["kind"], first["tracks"], first["sales"]) == ("track", [], 1)
    assert (first["releases"], first["release_sales"]) == ([album, single], 3)
    other = stack.client.get(f"/api/ledger/tracks/{tids[1]}").json()
    assert (other["sales"], other["releases"], other["release_sales"], other["gross"]) == (0, [album], 2, "0")


def test_a_release_summary_keeps_its_etag_until_a_release_sale_moves_it(stack, albums):
    tids, _, album, _ = albums
    stack.sync()  # the metadata: the releases are genuine
    paths = [f"/api/ledger/tracks/{album}", f"/api/ledger/tracks/{tids[1]}"]
    first = {p: stack.client.get(p) for p in paths}
    for p, r in first.items():
        again = stack.client.get(p, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", p
    stack.world.market.buy(album, PRICE, stack.world.accounts[7])
    stack.indexer.run(once=True)
    now = {p: stack.client.get(p, headers={"If-None-Match": r.headers["etag"]}) for p, r in first.items()}
    assert all(r.status_code == 200 and r.headers["etag"] != first[p].headers["etag"] for p, r in now.items())
    assert now[paths[0]].json()["sales"] == 3 and now[paths[1]].json()["release_sales"] == 3


def test_a_release_registration_has_a_proof_covering_its_tracks(stack, albums):
    _, album_tracks, album, _ = albums
    e = next(e for e in chain_events(stack, "ReleaseRegistered") if e.args["releaseId"] == album)
    path = f"/api/ledger/proofs/{e.tx_hash}/{e.log_index}"
    r = stack.client.get(path)
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["table"], p["matches"], p["canonical"]) == ("track", True, True)
    assert (p["row"]["track_id"], p["row"]["kind"], p["row"]["tracks"]) == (album, "release", album_tracks)
    assert p["decoded"]["event"] == "ReleaseRegistered" and p["decoded"]["args"]["trackIds"] == album_tracks
    rt, track = T["release_track"], T["track"]
    with stack.services.engine.begin() as conn:  # another member in its place
        conn.execute(update(rt).where(rt.c.release_id == album, rt.c.position == 0).values(track_id=album_tracks[1]))
    assert stack.client.get(path).json()["matches"] is False
    with stack.services.engine.begin() as conn:
        conn.execute(update(rt).where(rt.c.release_id == album, rt.c.position == 0).values(track_id=album_tracks[0]))
        conn.execute(update(track).where(track.c.track_id == album).values(kind="track"))
    assert stack.client.get(path).json()["matches"] is False
    with stack.services.engine.begin() as conn:
        conn.execute(update(track).where(track.c.track_id == album).values(kind="release"))
    assert stack.client.get(path).json()["matches"] is True
