"""Sponsor pools, claims with Merkle proofs (once, right split only, never above allocation),
and the money invariant with pools in it."""
import brownie
from brownie.test import given, strategy
from hypothesis import settings

from conftest import CID, ETH, LISTENS, distribute, end_epoch, fee_of, goto_epoch, proof, settled, sid, tree_for
from ninety.merkle import Allocation
from ninety.merkle import leaf as merkle_leaf

# ---------------------------------------------------------------- claims


def published(market, owner, accounts, split_of, artist, collaborator):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 10_000, {"from": sponsor, "value": 10_000})
    one = sid(split_of([(artist, 1_000_000)]))
    two = sid(split_of([(artist, 600_000), (collaborator, 400_000)]))
    allocations = [Allocation(one, ETH, 3_000), Allocation(two, ETH, 6_000)]
    tree, root = tree_for(0, allocations)
    goto_epoch(market, 1)
    market.publishEpoch(0, root, LISTENS, CID, [9_000], [1_000], {"from": owner})
    return tree, allocations


def test_claim_credits_the_split_and_pays_out_through_withdraw(market, owner, accounts, split_of, artist):
    collaborator = accounts[6]
    tree, (a, b) = published(market, owner, accounts, split_of, artist, collaborator)
    tx = market.claimFromPool(0, b.split_id, ETH, b.amount, proof(tree, b), {"from": accounts[7]})  # anyone
    assert list(tx.events["PoolClaimed"].values()) == [0, b.split_id, ETH, 6_000]
    assert market.splitBalance(b.split_id, ETH) == 6_000 and market.poolUnclaimed(0, ETH) == 3_000
    assert market.poolClaimed(0, "0x" + merkle_leaf(0, b).hex())
    distribute(market, b.split_id, ETH, collaborator)
    assert market.owed(collaborator, ETH) == 2_400 and market.owed(artist, ETH) == 3_600
    before = collaborator.balance()
    market.withdraw(collaborator, [ETH], {"from": collaborator, "gas_price": 0})
    assert collaborator.balance() == before + 2_400


def test_claim_an_erc20_allocation(market, usdc, owner, fan, accounts, split):
    market.depositToPool(0, usdc, 1_000_000, {"from": fan})
    a = Allocation(split, usdc.address.lower(), 900_000)
    tree, root = tree_for(0, [a])
    goto_epoch(market, 1)
    market.publishEpoch(0, root, LISTENS, CID, [900_000], [100_000], {"from": owner})
    market.claimFromPool(0, split, usdc, 900_000, proof(tree, a), {"from": fan})
    assert market.splitBalance(split, usdc) == 900_000 and market.poolUnclaimed(0, usdc) == 0


def test_claim_refusals(market, owner, accounts, split_of, artist, reverts_with):
    collaborator = accounts[6]
    with reverts_with("Marketplace__EpochNotPublished", 0):
        market.claimFromPool(0, "0x" + "11" * 32, ETH, 1, [], {"from": artist})
    tree, (a, b) = published(market, owner, accounts, split_of, artist, collaborator)
    # The proof of one split does not work for another, nor for another amount, token or epoch.
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, b.split_id, ETH, b.amount, proof(tree, a), {"from": artist})
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, a.split_id, ETH, a.amount + 1, proof(tree, a), {"from": artist})
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, a.split_id, accounts[3].address, a.amount, proof(tree, a), {"from": artist})
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, a.split_id, ETH, a.amount, [], {"from": artist})
    with reverts_with("Marketplace__EpochNotPublished", 1):
        market.claimFromPool(1, a.split_id, ETH, a.amount, proof(tree, a), {"from": artist})
    first = market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": artist})
    assert first.return_value is True
    # Claimed: the same claim again is a no-op returning false (so a batch with it
    # succeeds), not a revert, and credits nothing.
    leaf = "0x" + merkle_leaf(0, a).hex()
    assert market.poolClaimed(0, leaf)
    again = market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": accounts[7]})
    assert again.return_value is False and "PoolClaimed" not in again.events
    assert market.splitBalance(a.split_id, ETH) == a.amount and market.poolUnclaimed(0, ETH) == b.amount
    # Even without its proof (the claimed flag is read first): still false, never a credit.
    assert market.claimFromPool.call(0, a.split_id, ETH, a.amount, [], {"from": artist}) is False


def test_a_root_that_promises_more_than_allocated_cannot_pay_it(market, owner, accounts, split, reverts_with):
    market.depositToPool(0, ETH, 1_000, {"from": accounts[5], "value": 1_000})
    greedy = Allocation(split, ETH, 5_000)  # the leaf says 5,000; the pool had 1,000
    tree, root = tree_for(0, [greedy, Allocation(split, ETH, 1)])
    goto_epoch(market, 1)
    market.publishEpoch(0, root, LISTENS, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__ClaimAboveAllocation", 5_000, 900):
        market.claimFromPool(0, split, ETH, 5_000, proof(tree, greedy), {"from": accounts[7]})


def test_a_claim_for_a_split_that_does_not_exist_is_refused(market, owner, accounts, artist, reverts_with):
    market.depositToPool(0, ETH, 1_000, {"from": accounts[5], "value": 1_000})
    ghost = Allocation("0x" + "ab" * 32, ETH, 500)
    tree, root = tree_for(0, [ghost])
    goto_epoch(market, 1)
    market.publishEpoch(0, root, LISTENS, CID, [500], [0], {"from": owner})
    with reverts_with("Marketplace__UnknownSplit", ghost.split_id):
        market.claimFromPool(0, ghost.split_id, ETH, 500, proof(tree, ghost), {"from": artist})


def test_unclaimed_allocations_stay_claimable_epochs_later(market, owner, accounts, split_of, artist):
    collaborator = accounts[6]
    tree, (a, b) = published(market, owner, accounts, split_of, artist, collaborator)
    for epoch in (1, 2):
        market.depositToPool(epoch, ETH, 10, {"from": accounts[5], "value": 10})
        _, root = tree_for(epoch, [Allocation(a.split_id, ETH, 9)])
        end_epoch(market)
        market.publishEpoch(epoch, root, LISTENS, CID, [9], [1], {"from": owner})
    brownie.chain.sleep(365 * 86400)
    market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": artist})
    assert market.splitBalance(a.split_id, ETH) == a.amount


# ---------------------------------------------------------------- properties


@given(
    deposits=strategy("uint64[]", min_length=1, max_length=4, min_value=1),
    shares=strategy("uint16[]", min_length=1, max_length=5, min_value=1),
    bps=strategy("uint16", max_value=1000),
    late=strategy("uint8", max_value=3),
)
@settings(max_examples=25, deadline=None)
def test_pools_never_pay_more_than_deposited_and_each_allocation_once(market, owner, fee_recipient, accounts, split_of,
                                                                     deposits, shares, bps, late):
    """Any deposits, allocated by the off-chain rule at any fee rate up to the cap
    (D = pool * (1 - bps), allocations from D, fee = allocated * bps / (1 - bps)): the
    publish is accepted, every claim succeeds exactly once, and what the splits receive
    plus the fee plus the carry-over equals the deposits."""
    start_balance = market.balance()
    fees_before = market.owed(fee_recipient, ETH)
    for i, amount in enumerate(deposits):
        market.depositToPool(0, ETH, amount, {"from": accounts[5 + i % 3], "value": amount})
    pool = sum(deposits)
    distributable = pool * (10_000 - bps) // 10_000
    weights = sum(shares)
    splits = [sid(split_of([(accounts[1 + i % 4], 1_000_000)] if i % 2 == 0 else
                           [(accounts[1], 500_000), (accounts[2 + i % 3], 500_000)])) for i in range(len(shares))]
    allocations = {}
    for s, share in zip(splits, shares):
        allocations[s] = allocations.get(s, 0) + distributable * share // weights
    allocations = [Allocation(s, ETH, v) for s, v in allocations.items() if v > 0]
    allocated = sum(a.amount for a in allocations)
    fee = fee_of(allocated, bps)
    assert allocated + fee <= pool
    now = 1 + late
    goto_epoch(market, now)
    tree, root = tree_for(0, allocations or [Allocation(splits[0], ETH, 0)])
    tx = market.publishEpoch(0, root, LISTENS, CID, [allocated], [fee], {"from": owner})
    assert settled(tx) == [[0, ETH, pool, allocated, fee, pool - allocated - fee, now]]
    assert fee * 9 <= allocated
    assert market.poolBalance(now, ETH) == pool - allocated - fee
    for a in allocations:
        assert market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": accounts[8]}).return_value
        again = market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": accounts[8]})
        assert again.return_value is False and "PoolClaimed" not in again.events
    assert market.poolUnclaimed(0, ETH) == 0
    credited = sum(market.splitBalance(s, ETH) for s in set(splits))
    assert credited == allocated
    assert market.balance() - start_balance == pool
    assert credited + (market.owed(fee_recipient, ETH) - fees_before) + market.poolBalance(now, ETH) == pool


def test_holdings_equal_owed_split_balances_pools_and_unclaimed_through_every_step(
    market, usdc, owner, fan, accounts, artist, split_of
):
    """ETH and a token side by side through sales, a deposit, a publish with a fee and a
    carry-over, a claim, no-op repeats, distributions and withdrawals (to the payee and
    elsewhere): after every step each balance is exactly owed() + splitBalance() + open
    pools + unclaimed allocations, the stored sentinel never counted."""
    collaborator = accounts[6]
    payees = [artist, collaborator]
    sid = "0x" + bytes(split_of([(artist, 650_000), (collaborator, 350_000)])).hex()
    people = [*payees, market.feeRecipient(), accounts[7]]
    eth_track = market.registerTrack("e", sid, ETH, 0, b"", {"from": artist}).return_value
    usdc_track = market.registerTrack("u", sid, usdc, 1, b"", {"from": artist}).return_value

    def check():
        for token, held in ((ETH, market.balance()), (usdc, usdc.balanceOf(market))):
            owed = sum(market.owed(p, token) for p in people)
            pools = sum(market.poolBalance(e, token) for e in (0, 1))
            assert held == owed + market.splitBalance(sid, token) + pools + market.poolUnclaimed(0, token)

    check()
    for amount in (999, 10**16 + 1):
        market.buy(eth_track, amount, {"from": fan, "value": amount})
        market.buy(usdc_track, amount // 10**9 + 1, {"from": fan})
        check()
    market.depositToPool(0, ETH, 10_001, {"from": accounts[5], "value": 10_001})
    market.depositToPool(0, usdc, 7_777, {"from": fan})
    check()
    tree, root = tree_for(0, [Allocation(sid, ETH, 9_000), Allocation(sid, usdc.address.lower(), 7_000)])
    goto_epoch(market, 1)
    market.publishEpoch(0, root, LISTENS, CID, [9_000, 7_000], [1_000, 777], {"from": owner})
    check()
    a = Allocation(sid, ETH, 9_000)
    for _ in range(2):  # the second claim is a no-op
        market.claimFromPool(0, sid, ETH, 9_000, proof(tree, a), {"from": fan})
        check()
    for token in (ETH, usdc):
        for _ in range(2):  # the second distribute is a no-op
            distribute(market, sid, token, fan)
            check()
    market.withdraw(artist, [ETH, usdc], {"from": fan})
    check()
    market.withdrawTo(accounts[7], [ETH, usdc, ETH], {"from": collaborator})
    check()
    market.withdraw(collaborator, [ETH, usdc], {"from": fan})  # nothing left: a no-op
    check()
    # What is left: the fees, the carried-over pool, the unclaimed token allocation.
    assert market.owed(artist, ETH) == market.owed(collaborator, usdc) == 0
    assert market.poolUnclaimed(0, usdc) == 7_000 and market.poolBalance(1, ETH) == 1
