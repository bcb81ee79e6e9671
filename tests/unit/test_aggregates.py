"""ninety.ledger.aggregates: what ledger rows add to the aggregate tables, worked out by
hand, and the contract's split arithmetic (`allot`)."""
from __future__ import annotations

import pytest

from ninety.contract import ETH
from ninety.ledger.aggregates import allot, deltas

F, A, B, R1, R2 = ("0x" + c * 40 for c in ("f", "a", "b", "1", "2"))
S = "0x" + "5" * 64
DAY = 86_400

ROWS = {
    "sale": [{"track_id": 1, "token": ETH, "amount": "1000", "platform_fee": "50", "fee_recipient": F,
              "split_id": S, "artist": A, "buyer": B, "block_time": 3 * DAY + 5}],
    "distribution": [{"split_id": S, "token": ETH, "amount": 1001}],
    "withdrawal": [{"account": R1, "token": ETH, "amount": "300"}],
    "pool_deposit": [{"epoch": 2, "token": ETH, "amount": 500}],
    "pool_withdrawal": [{"epoch": 2, "token": ETH, "amount": 100}],
    "pool_settlement": [{"epoch": 2, "token": ETH, "pool": 400, "allocated": 300, "platform_fee": 15,
                         "carried_over": 85, "carried_to_epoch": 4, "fee_recipient": F}],
    "pool_claim": [{"epoch": 2, "split_id": S, "token": ETH, "amount": 120}],
    "track": [{"track_id": 1}],  # not summed: ignored
}


def recipients(split_id: str) -> list[tuple[str, int]]:
    assert split_id == S
    return [(R1, 333_333), (R2, 666_667)]


def nonzero(d) -> dict:
    return {table: {k: list(v) for k, v in keys.items() if any(v)} for table, keys in d.items() if
            any(any(v) for v in keys.values())}


def test_every_summed_row_lands_in_its_aggregates():
    # The distribution of 1001: R1 floor(333.666) = 333 plus the 1 of dust, R2 floor(667.33) = 667.
    # The settlement's carry-over (85) funds epoch 4, its fee credits the fee recipient.
    assert nonzero(deltas(ROWS, recipients)) == {
        "account_balance": {(F, ETH): [50 + 15, 0], (R1, ETH): [334, 300], (R2, ETH): [667, 0]},
        "split_balance": {(S, ETH): [950 + 120, 1001]},
        "track_stats": {(1, ETH): [1, 1000, 50]},
        "artist_stats": {(A, ETH): [1, 1000, 50]},
        "artist_buyer": {(A, ETH, B): [1]},
        "track_day": {(1, ETH, 3): [1, 1000]},
        "track_split": {(1, S, ETH): [950]},
        "pool_total": {(2, ETH): [500, 100, 400, 300, 120], (4, ETH): [85, 0, 0, 0, 0]},
    }


def test_a_sale_without_a_fee_credits_no_fee_recipient():
    sale = {**ROWS["sale"][0], "platform_fee": 0}
    d = deltas({"sale": [sale]}, recipients)
    assert (F, ETH) not in d["account_balance"]
    assert d["split_balance"][(S, ETH)] == [1000, 0]


def test_undo_with_sign_minus_one_returns_every_aggregate_to_zero():
    d = deltas(ROWS, recipients)
    deltas(ROWS, recipients, sign=-1, into=d)
    assert nonzero(d) == {}


def test_two_sales_in_one_batch_add_up():
    second = {**ROWS["sale"][0], "amount": 2000, "platform_fee": 100, "block_time": 4 * DAY}
    d = deltas({"sale": [ROWS["sale"][0], second]}, recipients)
    assert d["track_stats"][(1, ETH)] == [2, 3000, 150]
    assert d["artist_buyer"][(A, ETH, B)] == [1 + 1]
    assert d["track_day"][(1, ETH, 3)] == [1, 1000] and d["track_day"][(1, ETH, 4)] == [1, 2000]


@pytest.mark.parametrize("amount, shares, expected", [
    (10, [500_000, 500_000], [5, 5]),
    (11, [500_000, 500_000], [6, 5]),  # the dust goes to the first recipient
    (7, [1, 999_999], [1, 6]),  # 0 + 1 of dust, floor(6.99) = 6
    (1001, [333_333, 666_667], [334, 667]),
    (10**18 + 1, [1_000_000], [10**18 + 1]),
    (0, [250_000, 750_000], [0, 0]),
])
def test_allot_floors_each_share_and_gives_the_dust_to_the_first(amount, shares, expected):
    names = [f"r{i}" for i in range(len(shares))]
    assert allot(amount, list(zip(names, shares))) == list(zip(names, expected))
