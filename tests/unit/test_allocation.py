"""ninety.epochs.allocation: the sponsor-pool rule on hand-made inputs, every expected
number worked out by hand from the rule's statement (ninety.epochs.rules)."""
from __future__ import annotations

from ninety.contract import ETH
from ninety.epochs.allocation import Listen, Purchase, compute, distributable, fee_on, fees_paid, qualification
from ninety.epochs.rules import Rules
from ninety.merkle import Allocation

USDC = "0x" + "aB" * 20  # mixed case: the rule compares tokens in lower case
S1, S2, S3 = ("0x" + c * 64 for c in "123")
A, B, C, D = ("0x" + c * 40 for c in "AbCd")
RULES = Rules(window=4, multiplier=1, fee_bps=500, qualifying={ETH: 10**15})
E15, E16, E17, E18 = 10**15, 10**16, 10**17, 10**18


def bought(wallet: str, amount: int, fee: int, token: str = ETH, at: int = 100, log: int = 0) -> Purchase:
    return Purchase(wallet, f"0x{at:064x}", log, track_id=99, token=token, amount=amount, platform_fee=fee,
                    block_time=at)


def listened(wallet: str, track: int, split: str, eligible: bool = True, why_not: str = "") -> Listen:
    return Listen(wallet, track, signature=f"0xsig{track}", block_number=500 + track, split_id=split,
                  eligible=eligible, why_not=why_not)


def test_the_distributable_pool_and_the_fee_round_down():
    assert distributable(10_000, 500) == 9_500
    assert distributable(19, 500) == 18  # 18.05
    assert distributable(1, 500) == 0
    assert fee_on(9_500, 500) == 500
    assert fee_on(19, 500) == 1  # 1.0526...
    assert fee_on(18, 500) == 0  # 0.947...
    assert fee_on(0, 500) == 0


def test_a_wallet_qualifies_with_one_purchase_of_at_least_the_qualifying_amount_of_its_token():
    assert qualification(RULES, [bought(A, E15, 5 * 10**13)]) == (True, "")
    assert qualification(RULES, [bought(A, E15 - 1, 1), bought(A, 2 * E15, 1)]) == (True, "")
    no, why = qualification(RULES, [bought(A, E15 - 1, 1)])
    assert not no and why == "no purchase in the window reached the qualifying amount for its token"
    no, why = qualification(RULES, [bought(A, E18, 1, token=USDC)])  # no qualifying amount set for USDC
    assert not no and "qualifying amount" in why
    no, why = qualification(RULES, [])
    assert not no and "in the last 4 epochs" in why


def test_fees_paid_are_summed_per_lower_case_token():
    assert fees_paid([bought(A, 1, 3), bought(A, 1, 4, token=USDC), bought(A, 1, 5, token=USDC.upper())]) == \
        {ETH: 3, USDC.lower(): 9}


def test_an_epoch_with_two_qualified_listeners_one_capped_by_its_fees():
    # A paid 4e16 of fees in the window: its cap is 1 * 4e16 / 4 = 1e16, spread over its two
    # tracks. B paid 4e18: its cap (1e18) is above its equal share, 0.95e18 / 2 = 4.75e17.
    purchases = [bought(A, 8 * E17, 4 * E16), bought(B, 80 * E18, 4 * E18, at=90), bought(C, E15 - 1, 1)]
    listens = [listened(A.upper().replace("0X", "0x"), 2, S2), listened(A, 1, S1), listened(B, 1, S1),
               listened(C, 1, S1), listened(D, 1, S1, eligible=False, why_not="the track was not free"),
               listened(A, 3, S3)]
    out = compute(7, RULES, [(ETH, E18), (USDC, 5 * E18)], listens, purchases, not_genuine=[3])

    assert out.allocations == [Allocation(S1, ETH, 5 * E15 + 475 * E15), Allocation(S2, ETH, 5 * E15)]
    assert out.settlements == [
        {"token": ETH, "pool": E18, "allocated": 485 * E15, "platform_fee": 25526315789473684,
         "carried_over": 489473684210526316},
        # Nobody paid fees in USDC: nothing directed, no fee, all carried over.
        {"token": USDC.lower(), "pool": 5 * E18, "allocated": 0, "platform_fee": 0, "carried_over": 5 * E18},
    ]
    assert out.pools == [(ETH, E18), (USDC.lower(), 5 * E18)]
    fates = [(x["wallet"], x["track_id"], x["counted"], x["reason"]) for x in out.listens]
    assert fates == [
        (A.lower(), 1, True, ""),
        (A.lower(), 2, True, ""),
        (A.lower(), 3, False, "the recording was judged not genuine (fingerprint)"),
        (B.lower(), 1, True, ""),
        (C.lower(), 1, False, "no purchase in the window reached the qualifying amount for its token"),
        (D.lower(), 1, False, "the track was not free"),
    ]
    by_wallet = {x["wallet"]: x for x in out.listeners}
    assert by_wallet[A.lower()]["directed"] == {ETH: str(E16)}
    assert by_wallet[A.lower()]["counted_tracks"] == [1, 2]
    assert by_wallet[A.lower()]["fees_paid"] == {ETH: str(4 * E16)}
    assert by_wallet[B.lower()]["directed"] == {ETH: str(475 * E15)}
    assert by_wallet[C.lower()]["qualified"] is False and by_wallet[C.lower()]["directed"] == {}
    assert [x["wallet"] for x in out.listeners] == sorted([A.lower(), B.lower(), C.lower(), D.lower()])


def test_a_share_that_does_not_divide_evenly_over_the_tracks_leaves_the_remainder_in_the_pool():
    # One listener, three tracks, no cap in the way: D = 1000 * 9500 / 10000 = 950, each
    # track gets floor(950 / 3) = 316, so 948 is allocated; fee floor(948 * 500 / 9500) = 49.
    out = compute(0, RULES, [(ETH, 1000)], [listened(A, t, s) for t, s in ((1, S1), (2, S2), (3, S3))],
                  [bought(A, E18, E18)])
    assert out.allocations == [Allocation(S1, ETH, 316), Allocation(S2, ETH, 316), Allocation(S3, ETH, 316)]
    assert out.settlements == [{"token": ETH, "pool": 1000, "allocated": 948, "platform_fee": 49, "carried_over": 3}]


def test_two_downloads_of_one_track_count_once_and_listeners_of_one_split_add_up():
    out = compute(0, RULES, [(ETH, 1000)], [listened(A, 1, S1), listened(A, 1, S1), listened(B, 2, S1)],
                  [bought(A, E18, E18), bought(B, E18, E18)])
    # N = 2 listeners: 950 // 2 = 475 each, both to S1.
    assert out.allocations == [Allocation(S1, ETH, 950)]
    assert out.settlements[0]["allocated"] == 950 and out.settlements[0]["platform_fee"] == 50
    assert out.settlements[0]["carried_over"] == 0


def test_a_multiplier_of_zero_directs_nothing():
    rules = Rules(window=4, multiplier=0, fee_bps=500, qualifying={ETH: 1})
    out = compute(0, rules, [(ETH, E18)], [listened(A, 1, S1)], [bought(A, E18, E17)])
    assert out.allocations == []
    assert out.settlements == [{"token": ETH, "pool": E18, "allocated": 0, "platform_fee": 0, "carried_over": E18}]


def test_an_epoch_without_listens_carries_every_pool_over():
    out = compute(3, RULES, [(ETH, 123)], [], [])
    assert out.allocations == [] and out.listens == [] and out.listeners == []
    assert out.settlements == [{"token": ETH, "pool": 123, "allocated": 0, "platform_fee": 0, "carried_over": 123}]
