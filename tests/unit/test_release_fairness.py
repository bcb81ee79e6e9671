"""backend/release_fairness.py over a small SQLite ledger: a release sale counts only if the
release was fair at that sale, its tracks' splits and prices taken as of the sale's
(block, log index), else as registered."""
from __future__ import annotations

from sqlmodel import Session, SQLModel, create_engine

import backend.models  # noqa: F401  (registers the backend's tables)
from backend.release_fairness import current_unfairness, fair_sales
from ninety.models.chain import ReleaseTrack, Sale, SplitRecipient, Track, TrackSplitChange, TrackUpdate

ETH = "0x" + "0" * 40
ART = "0x" + "a" * 40
VIC = "0x" + "b" * 40
SOLO, SHARED, QUARTER = "0xsolo", "0xshared", "0xquarter"


def at(block: int, log: int) -> dict:
    return {"block_number": block, "log_index": log, "block_hash": f"0xb{block}", "tx_hash": f"0xt{block}.{log}"}


def listing(track_id: int, kind: str, split: str, price: int) -> Track:
    return Track(track_id=track_id, kind=kind, artist=ART, split_id=split, token=ETH, price=price,
                 metadata_cid=f"c{track_id}", registered_price=price, registered_split_id=split, block_time=0,
                 **at(1, track_id))


def sale(release: int, split: str, block: int, log: int) -> Sale:
    return Sale(track_id=release, buyer="0xfan", token=ETH, amount=1, platform_fee=0, split_id=split, artist=ART,
                fee_recipient=ART, block_time=0, **at(block, log))


def ledger():
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    db = Session(engine)
    for split, pairs in ((SOLO, [(ART, 1_000_000)]), (SHARED, [(ART, 500_000), (VIC, 500_000)]),
                         (QUARTER, [(ART, 750_000), (VIC, 250_000)])):
        db.add_all(SplitRecipient(split_id=split, position=i, recipient=a, share_ppm=s)
                   for i, (a, s) in enumerate(pairs))
    # Track 1 (solo, 10 wei) and track 3 (solo, 10 wei); release 2 = [1] (solo split), release 4 = [1, 3] (V 25%).
    db.add_all([listing(1, "track", SOLO, 10), listing(3, "track", SOLO, 10), listing(2, "release", SOLO, 1),
                listing(4, "release", QUARTER, 1), ReleaseTrack(release_id=2, position=0, track_id=1),
                ReleaseTrack(release_id=4, position=0, track_id=1), ReleaseTrack(release_id=4, position=1, track_id=3)])
    # At (5, 1) the victim joins track 1 at 50%; at (7, 0) track 1's price goes to 30.
    db.add(TrackSplitChange(track_id=1, previous_split_id=SOLO, split_id=SHARED, block_time=0, **at(5, 1)))
    db.add(TrackUpdate(track_id=1, price=30, listed=True, **at(7, 0)))
    db.commit()
    return db


def rows(db, *sales: Sale) -> list[dict]:
    db.add_all(sales)
    db.commit()
    return [{"track_id": s.track_id, "split_id": s.split_id, "block_number": s.block_number, "log_index": s.log_index}
            for s in sales]


def test_a_sale_counts_only_while_the_release_was_fair_by_block_and_log_index():
    db = ledger()
    before, same_block_after, later = rows(db, sale(2, SOLO, 5, 0), sale(2, SOLO, 5, 2), sale(2, SOLO, 6, 0))
    assert fair_sales(db, [before, same_block_after, later]) == [before]


def test_a_price_change_moves_the_weights_from_that_log_on():
    db = ledger()
    # Release 4 pays the victim 25%: fair when track 1 is solo, and at equal prices (50% x 10 / 20);
    # once track 1 costs 30 the victim is owed 50% x 30 / 40 = 37.5%.
    solo, even, dearer = rows(db, sale(4, QUARTER, 4, 0), sale(4, QUARTER, 6, 9), sale(4, QUARTER, 7, 1))
    assert fair_sales(db, [solo, even, dearer]) == [solo, even]


def test_now_the_releases_are_judged_against_the_current_splits_and_prices():
    db = ledger()
    track = SQLModel.metadata.tables["track"]
    db.execute(track.update().where(track.c.track_id == 1).values(split_id=SHARED, price=30))
    db.commit()
    releases = [dict(track_id=2, artist=ART, split_id=SOLO, token=ETH),
                dict(track_id=4, artist=ART, split_id=QUARTER, token=ETH)]
    members = {2: [dict(track_id=1, split_id=SHARED, token=ETH, price=30)],
               4: [dict(track_id=1, split_id=SHARED, token=ETH, price=30),
                   dict(track_id=3, split_id=SOLO, token=ETH, price=10)]}
    reasons = current_unfairness(db, releases, members)
    assert f"{VIC} 0% where their fair share is 50%" in reasons[2] and "proposeSplit on release 2" in reasons[2]
    assert f"{VIC} 25% where their fair share is 37.5%" in reasons[4]
    members[4][0]["price"] = 10
    assert current_unfairness(db, releases, members)[4] is None
