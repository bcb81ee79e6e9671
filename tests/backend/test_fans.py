"""A fan's page on real components (SQLite and PostgreSQL): every purchase the ledger
has by that wallet, newest first, paged by cursor without gaps or repeats; the seller
named by the display-name rule; a listing that is not genuine or was taken down keeps
its row but not its title."""
from __future__ import annotations

import pytest

from ninety.market import ETH
from tests.backend.test_artists import stack  # noqa: F401  (the fixture: SQLite and PostgreSQL)
from tests.indexer.releases import pin, track_metadata

ARTIST, FAN, OTHER = 1, 2, 4
MILLI = 10**15


@pytest.fixture
def bought(stack):  # noqa: F811
    """Fan buys four genuine tracks of the artist (one twice), a copy listed by another
    wallet, and a track the owner then takes down. Indexed, metadata fetched."""
    w, m, ipfs = stack.world, stack.world.market, stack.services.ipfs
    artist, other, fan = w.accounts[ARTIST], w.accounts[OTHER], w.accounts[FAN]
    split = m.create_split([(artist, 1_000_000)], artist)
    tids = []
    for n in range(4):
        cid = pin(ipfs, track_metadata(f"Song {n}", artist, n))
        tids.append(m.register(cid, split, ETH, MILLI, artist, w.attest(cid, artist, split)))
    other_split = m.create_split([(other, 1_000_000)], other)
    cid = pin(ipfs, track_metadata("Copied Song", artist, 9))  # names the artist as uploader: not genuine
    copy = m.register(cid, other_split, ETH, MILLI, other, w.attest(cid, other, other_split))
    cid = pin(ipfs, track_metadata("Taken Down", artist, 8))
    down = m.register(cid, split, ETH, MILLI, artist, w.attest(cid, artist, split))
    order = [tids[0], tids[1], copy, tids[2], tids[0], down, tids[3]]
    for i, t in enumerate(order):
        m.buy(t, MILLI + i, fan)
    m.buy(tids[1], MILLI, w.accounts[5])  # someone else's purchase: not on this fan's page
    m.block_track(down, pin(ipfs, {"reason": "test"}), w.owner)
    stack.sync()
    return order, tids, copy, down


def test_a_fans_purchases_newest_first_in_pages(stack, bought):  # noqa: F811
    order, tids, copy, down = bought
    w = stack.world
    fan, artist = w.accounts[FAN].lower(), w.accounts[ARTIST].lower()
    whole = stack.client.get(f"/api/fans/{w.accounts[FAN]}").json()
    assert whole["address"] == fan and whole["name"] is None and whole["next_cursor"] is None
    items = whole["items"]
    assert [i["track_id"] for i in items] == order[::-1]
    assert [int(i["amount"]) for i in items] == [MILLI + i for i in range(len(order))][::-1]
    positions = [(i["block_time"], i["tx_hash"]) for i in items]
    assert len(set(positions)) == len(order)
    by_id = {i["track_id"]: i for i in items}
    assert by_id[tids[3]]["title"] == "Song 3" and by_id[tids[3]]["kind"] == "track"
    assert by_id[copy]["title"] is None and by_id[copy]["artist"] == w.accounts[OTHER].lower()
    assert by_id[down]["title"] is None  # taken down: the sale stays, the title goes
    # The seller's display name: its genuine listings' artist name; the copier has none.
    assert by_id[tids[0]]["artist_name"] == "The Testers" and by_id[copy]["artist_name"] is None
    assert all(i["token"] == ETH and i["artist"] in (artist, w.accounts[OTHER].lower()) for i in items)

    # Pages of 2 give the same rows, in order, then stop.
    seen, cursor = [], None
    while True:
        r = stack.client.get(f"/api/fans/{fan}", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == items

    # A wallet with no purchases has an empty page; bad input is refused.
    assert stack.client.get(f"/api/fans/{w.accounts[7]}").json()["items"] == []
    assert stack.client.get("/api/fans/not-an-address").status_code == 404
    assert stack.client.get(f"/api/fans/{fan}", params={"limit": 101}).status_code == 422
    assert stack.client.get(f"/api/fans/{fan}", params={"limit": 0}).status_code == 422
    assert stack.client.get(f"/api/fans/{fan}", params={"cursor": "garbage"}).status_code == 422
