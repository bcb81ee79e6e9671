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


def sale(release: int, split: str, block: int, log: int, amount: int) -> Sale:
    return Sale(track_id=release, buyer="0xfan", token=ETH, amount=amount, platform_fee=0, split_id=split,
                artist=ART, fee_recipient=ART, block_time=0, **at(block, log))


def ledger():
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    db = Session(engine)
    for split, pairs in ((SOLO, [(ART, 1_000_000)]), (SHARED, [(ART, 500_000), (VIC, 500_000)]),
                         (QUARTER, [(ART, 750_000), (VIC, 250_000)])):
        db.add_all(SplitRecipient(split_id=split, position=i, recipient=a, share_ppm=s)
                   for i, (a, s) in enumerate(pairs))
    # Track 1 (solo, 10 wei) and track 3 (solo, 10 wei); release 2 = [1] (solo split, 10 wei),
    # release 4 = [1, 3] (V 25%, 20 wei).
    db.add_all([listing(1, "track", SOLO, 10), listing(3, "track", SOLO, 10), listing(2, "release", SOLO, 10),
                listing(4, "release", QUARTER, 20), ReleaseTrack(release_id=2, position=0, track_id=1),
                ReleaseTrack(release_id=4, position=0, track_id=1), ReleaseTrack(release_id=4, position=1, track_id=3)])
    # At (5, 1) the victim joins track 1 at 50%; at (7, 0) track 1's price goes to 30.
    db.add(TrackSplitChange(track_id=1, previous_split_id=SOLO, split_id=SHARED, block_time=0, **at(5, 1)))
    db.add(TrackUpdate(track_id=1, price=30, listed=True, **at(7, 0)))
    db.commit()
    return db


def rows(db, *sales: Sale) -> list[dict]:
    db.add_all(sales)
    db.commit()
    return [{"track_id": s.track_id, "split_id": s.split_id, "amount": s.amount, "block_number": s.block_number,
             "log_index": s.log_index} for s in sales]


def test_a_sale_counts_only_while_the_release_was_fair_by_block_and_log_index():
    db = ledger()
    before, same_block_after, later = rows(db, sale(2, SOLO, 5, 0, 10), sale(2, SOLO, 5, 2, 10),
                                           sale(2, SOLO, 6, 0, 10))
    assert fair_sales(db, [before, same_block_after, later]) == [before]


def test_each_sale_is_judged_at_its_amount_and_the_prices_of_its_time():
    db = ledger()
    # Release 4 pays the victim 25%. Track 1 solo: fair. Shared at 10 wei, a sale of it pays
    # the victim 5: at 20 that is 25%, fair; at 19, ceil(5 / 19) = 26.3158%, not. Once track
    # 1 costs 30 (15 to the victim), a 20-wei sale owes her 75%; a fan paying 60 pays her 25%
    # of 60 = 15: fair.
    solo, even, short, dearer, generous = rows(db, sale(4, QUARTER, 4, 0, 20), sale(4, QUARTER, 6, 9, 20),
                                               sale(4, QUARTER, 6, 10, 19), sale(4, QUARTER, 7, 1, 20),
                                               sale(4, QUARTER, 7, 2, 60))
    assert fair_sales(db, [solo, even, short, dearer, generous]) == [solo, even, generous]


def test_now_the_releases_are_judged_at_their_current_price_against_the_current_splits_and_prices():
    db = ledger()
    track = SQLModel.metadata.tables["track"]
    db.execute(track.update().where(track.c.track_id == 1).values(split_id=SHARED, price=30))
    db.commit()
    releases = [dict(track_id=2, artist=ART, split_id=SOLO, token=ETH, price=30),
                dict(track_id=4, artist=ART, split_id=QUARTER, token=ETH, price=20)]
    members = {2: [dict(track_id=1, split_id=SHARED, token=ETH, price=30)],
               4: [dict(track_id=1, split_id=SHARED, token=ETH, price=30),
                   dict(track_id=3, split_id=SOLO, token=ETH, price=10)]}
    reasons = current_unfairness(db, releases, members)
    assert f"{VIC} 0% where their fair share is 50%" in reasons[2] and "proposeSplit on release 2" in reasons[2]
    assert f"{VIC} 25% where their fair share is 75%" in reasons[4] and "raise the price" in reasons[4]
    releases[1]["price"] = 60  # 25% of 60 is the victim's 15 from a sale of track 1
    assert current_unfairness(db, releases, members)[4] is None
    releases[1]["price"] = 20
    members[4][0]["price"] = 10  # 50% of 10 over 20: 25%
    assert current_unfairness(db, releases, members)[4] is None
    releases[1]["price"] = 14  # the victim's 5 does not fit in 14 at 25% (ceil 35.7143%)
    assert f"{VIC} 25% where their fair share is 35.7143%" in current_unfairness(db, releases, members)[4]
    releases[0]["price"] = 14  # 50% of 30 is 15, more than the whole of 14: no split is fair
    assert "price it at 15 base units or more" in current_unfairness(db, releases, members)[2]
