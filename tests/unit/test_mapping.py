"""ninety.ledger.mapping: decoded events to ledger rows, one batch at a time, with what the
batch's own earlier events and the earlier blocks (through the Context) say."""
from __future__ import annotations

import dataclasses
from itertools import count

from ninety.contract import ETH
from ninety.ledger.events import Event
from ninety.ledger.mapping import map_events
from ninety.ledger.rows import APPLIED, CANCELLED, PENDING, Context

F, G, A, OLD_ARTIST, B, R1, R2 = ("0x" + c * 40 for c in ("f", "9", "a", "7", "b", "1", "2"))
S, S2, S3 = ("0x" + c * 64 for c in ("5", "6", "3"))
BLOCK_HASH = "0x" + "bb" * 32


def events(*specs: tuple[str, dict, int]) -> list[Event]:
    """Events in chain order from (name, args, block); block times come from `TIMES`."""
    logs = count()
    return [Event(name, args, block, BLOCK_HASH, None, f"0x{block:064x}", next(logs)) for name, args, block in specs]


TIMES = {10: 1_000, 11: 1_012, 12: 1_024}


def context() -> Context:
    return Context(fee_recipient=F, split_recipients=lambda sid: [(OLD_ARTIST, 1_000_000)],
                   track_artist=lambda tid: {7: OLD_ARTIST}[tid])


def test_a_new_track_carries_the_batchs_later_updates_and_its_sales_its_artist():
    ctx = context()
    out = map_events(events(
        ("SplitCreated", {"splitId": S, "recipients": [R1, R2], "sharesPpm": [600_000, 400_000]}, 10),
        ("TrackRegistered", {"trackId": 1, "artist": A, "token": ETH, "metadataCid": "bafymeta", "price": 1000,
                             "splitId": S}, 10),
        ("TrackUpdated", {"trackId": 1, "price": 2000, "listed": False}, 11),
        ("Sale", {"trackId": 1, "buyer": B, "token": ETH, "amount": 2000, "platformFee": 100, "splitId": S}, 11),
    ), ctx, TIMES)

    assert out.tables["split"] == [{"block_number": 10, "block_hash": BLOCK_HASH, "tx_hash": f"0x{10:064x}",
                                    "log_index": 0, "split_id": S, "recipient_count": 2}]
    assert out.split_recipients == [{"split_id": S, "position": 0, "recipient": R1, "share_ppm": 600_000},
                                    {"split_id": S, "position": 1, "recipient": R2, "share_ppm": 400_000}]
    track = out.tables["track"][0]
    assert {k: track[k] for k in ("track_id", "artist", "registered_price", "price", "listed", "split_id",
                                  "registered_split_id", "blocked", "block_reason_cid", "block_time")} == {
        "track_id": 1, "artist": A, "registered_price": 1000, "price": 2000, "listed": False, "split_id": S,
        "registered_split_id": S, "blocked": False, "block_reason_cid": None, "block_time": 1_000}
    assert track["price_sort"] == "0" * 74 + "2000"
    assert out.track_state == []  # the update was folded into the new row
    sale = out.tables["sale"][0]
    assert (sale["artist"], sale["fee_recipient"], sale["amount"], sale["block_time"], sale["log_index"]) == \
        (A, F, 2000, 1_012, 3)
    # After the batch, the context finds the split it created, and still the older ones.
    assert ctx.split_recipients(S) == [(R1, 600_000), (R2, 400_000)]
    assert ctx.split_recipients(S3) == [(OLD_ARTIST, 1_000_000)]


def test_changes_to_earlier_tracks_are_returned_as_state_in_chain_order():
    out = map_events(events(
        ("TrackUpdated", {"trackId": 7, "price": 5, "listed": True}, 10),
        ("TrackSplitChanged", {"trackId": 7, "previousSplitId": S, "splitId": S2}, 11),
        ("TrackBlocked", {"trackId": 7, "reasonCid": "bafyreason"}, 11),
        ("TrackUnblocked", {"trackId": 7, "reasonCid": "bafylifted"}, 12),
    ), context(), TIMES)
    assert out.track_state == [(7, 5, True)]
    assert out.split_state == [(7, S2)]
    assert out.proposal_closes == [(7, S2, 11, 1)]
    assert out.block_state == [(7, True, "bafyreason"), (7, False, "bafylifted")]
    assert [(r["blocked"], r["reason_cid"]) for r in out.tables["track_block"]] == \
        [(True, "bafyreason"), (False, "bafylifted")]


def test_sales_take_the_fee_recipient_of_their_moment_and_the_artist_of_an_earlier_track():
    ctx = context()
    out = map_events(events(
        ("Sale", {"trackId": 7, "buyer": B, "token": ETH, "amount": 10, "platformFee": 1, "splitId": S}, 10),
        ("FeeRecipientChanged", {"previousRecipient": F, "newRecipient": G}, 11),
        ("Sale", {"trackId": 7, "buyer": B, "token": ETH, "amount": 20, "platformFee": 2, "splitId": S}, 11),
        ("PoolSettled", {"epoch": 1, "token": ETH, "pool": 100, "allocated": 90, "platformFee": 4,
                         "carriedOver": 6, "carriedToEpoch": 2}, 12),
    ), ctx, TIMES)
    assert [(s["artist"], s["fee_recipient"]) for s in out.tables["sale"]] == [(OLD_ARTIST, F), (OLD_ARTIST, G)]
    assert out.tables["pool_settlement"][0]["fee_recipient"] == G
    assert ctx.fee_recipient == G
    assert "block_time" not in out.tables["fee_recipient_change"][0]  # an untimed kind


def test_a_proposal_is_applied_by_its_change_and_cancelled_by_the_artist():
    out = map_events(events(
        ("SplitChangeProposed", {"trackId": 7, "splitId": S2, "mustConsent": [R1.upper().replace("0X", "0x")]}, 10),
        ("SplitChangeProposed", {"trackId": 8, "splitId": S3, "mustConsent": []}, 10),
        ("SplitChangeProposed", {"trackId": 9, "splitId": S3, "mustConsent": [R2]}, 10),
        ("TrackSplitChanged", {"trackId": 7, "previousSplitId": S, "splitId": S2}, 11),
        ("SplitProposalsCancelled", {"trackId": 8}, 12),
    ), context(), TIMES)
    proposals = {p["track_id"]: p for p in out.tables["split_proposal"]}
    assert proposals[7]["status"] == APPLIED and proposals[7]["must_consent"] == f'["{R1}"]'
    assert proposals[8]["status"] == CANCELLED and proposals[8]["must_consent"] == "[]"
    assert proposals[9]["status"] == PENDING
    assert out.proposal_closes == [(7, S2, 11, 3), (8, None, 12, 4)]


def test_events_the_ledger_does_not_keep_are_skipped_and_block_times_fill_in():
    evs = events(("OwnershipTransferred", {"previousOwner": A, "newOwner": B}, 10),
                 ("PoolDeposited", {"epoch": 3, "sponsor": B, "token": ETH, "amount": 50}, 12))
    evs[1] = dataclasses.replace(evs[1], block_time=77)  # a log that came with its block's time
    out = map_events(evs, context(), {})
    assert {t: len(r) for t, r in out.tables.items() if r} == {"pool_deposit": 1}
    assert out.tables["pool_deposit"][0] == {"block_number": 12, "block_hash": BLOCK_HASH, "tx_hash": f"0x{12:064x}",
                                             "log_index": 1, "epoch": 3, "sponsor": B, "token": ETH, "amount": 50,
                                             "block_time": 77}
