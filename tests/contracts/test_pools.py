"""Sponsor pools: deposits, withdrawals before close, publishing an epoch (caps, order,
carry-over), claims with Merkle proofs (once, right split only, never above allocation),
and the money invariant with pools in it."""
import brownie
from brownie.test import given, strategy
from conftest import ETH
from hypothesis import settings

from ninety.merkle import Allocation, MerkleTree
from ninety.merkle import leaf as merkle_leaf

CID = "bafkreiepochreport"


def tree_for(epoch, allocations):
    tree = MerkleTree(epoch, allocations)
    return tree, "0x" + tree.root.hex()


def proof(tree, a):
    return ["0x" + p.hex() for p in tree.proof(a)]


def sid(split):
    return "0x" + bytes(split).hex() if not isinstance(split, str) else split


# ---------------------------------------------------------------- deposits


def test_deposit_eth_and_token_are_recorded_with_events(market, usdc, fan, accounts):
    sponsor = accounts[5]
    tx = market.depositToPool(0, ETH, 10**18, {"from": sponsor, "value": 10**18})
    assert list(tx.events["PoolDeposited"].values()) == [0, sponsor, ETH, 10**18]
    market.depositToPool(0, usdc, 7_000_000, {"from": fan})
    assert market.poolBalance(0, ETH) == 10**18 and market.poolBalance(0, usdc) == 7_000_000
    assert market.poolDeposit(0, sponsor, ETH) == 10**18 and market.poolDeposit(0, fan, usdc) == 7_000_000
    assert list(market.poolTokens(0)) == [ETH, usdc.address]
    market.depositToPool(3, ETH, 5, {"from": sponsor, "value": 5})  # a later epoch is fine too
    assert market.poolBalance(3, ETH) == 5


def test_deposit_refusals(market, usdc, owner, fan, accounts, reverts_with, MockUSDC, split_of, artist):
    sponsor = accounts[5]
    with reverts_with("Marketplace__ZeroAmount"):
        market.depositToPool(0, ETH, 0, {"from": sponsor})
    with reverts_with("Marketplace__EpochTooFar", 1001, 1000):
        market.depositToPool(1001, ETH, 1, {"from": sponsor, "value": 1})
    market.depositToPool(1000, ETH, 1, {"from": sponsor, "value": 1})  # the last one allowed
    with reverts_with("Marketplace__WrongEthValue", 1, 2):
        market.depositToPool(0, ETH, 2, {"from": sponsor, "value": 1})
    with reverts_with("Marketplace__EthSentForTokenTrack", 1, usdc.address):
        market.depositToPool(0, usdc, 5, {"from": fan, "value": 1})
    stranger = MockUSDC.deploy({"from": owner})
    with reverts_with("Marketplace__TokenNotAllowed", stranger.address):
        market.depositToPool(0, stranger, 5, {"from": fan})
    # A closed epoch takes no more deposits.
    market.depositToPool(0, ETH, 100, {"from": sponsor, "value": 100})
    a = Allocation(sid(split_of([(artist, 1_000_000)])), ETH, 90)
    tree, root = tree_for(0, [a])
    market.publishEpoch(0, root, CID, [90], [10], {"from": owner})
    with reverts_with("Marketplace__EpochClosed", 0, 1):
        market.depositToPool(0, ETH, 1, {"from": sponsor, "value": 1})


def test_fee_on_transfer_token_credits_what_arrived(market, owner, fan, FeeOnTransferToken):
    fot = FeeOnTransferToken.deploy({"from": owner})
    market.setTokenAllowed(fot, True, {"from": owner})
    fot.mint(fan, 10_000, {"from": owner})
    fot.approve(market, 10_000, {"from": fan})
    fee_percent = fot.feePercent()
    tx = market.depositToPool(0, fot, 1_000, {"from": fan})
    arrived = 1_000 - 1_000 * fee_percent // 100
    assert tx.events["PoolDeposited"]["amount"] == arrived == market.poolBalance(0, fot)


# ---------------------------------------------------------------- withdrawing a deposit


def test_sponsor_takes_a_deposit_back_while_the_epoch_is_open(market, accounts):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    before = sponsor.balance()
    tx = market.withdrawPoolDeposit(0, ETH, 400, {"from": sponsor, "gas_price": 0})
    assert sponsor.balance() == before + 400
    assert list(tx.events["PoolDepositWithdrawn"].values()) == [0, sponsor, ETH, 400]
    assert market.poolBalance(0, ETH) == 600 and market.poolDeposit(0, sponsor, ETH) == 600


def test_withdraw_deposit_refusals(market, owner, accounts, reverts_with, split_of, artist):
    sponsor, other = accounts[5], accounts[6]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    with reverts_with("Marketplace__ZeroAmount"):
        market.withdrawPoolDeposit(0, ETH, 0, {"from": sponsor})
    with reverts_with("Marketplace__DepositTooSmall", 1001, 1000):
        market.withdrawPoolDeposit(0, ETH, 1001, {"from": sponsor})
    with reverts_with("Marketplace__DepositTooSmall", 1, 0):
        market.withdrawPoolDeposit(0, ETH, 1, {"from": other})  # someone else's deposit
    a = Allocation(sid(split_of([(artist, 1_000_000)])), ETH, 900)
    _, root = tree_for(0, [a])
    market.publishEpoch(0, root, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__EpochClosed", 0, 1):
        market.withdrawPoolDeposit(0, ETH, 1, {"from": sponsor})


def test_a_sponsor_that_rejects_eth_keeps_its_deposit(market, owner, PoolSponsor, reverts_with):
    sponsor = PoolSponsor.deploy(market, {"from": owner})
    sponsor.deposit(0, {"from": owner, "value": 1000})
    sponsor.setMode(True, False, {"from": owner})
    with reverts_with("Marketplace__EthTransferFailed", sponsor.address, 1000):
        sponsor.takeBack(0, 1000, {"from": owner})
    assert market.poolDeposit(0, sponsor, ETH) == 1000 and market.poolBalance(0, ETH) == 1000


def test_taking_a_deposit_back_cannot_be_reentered(market, owner, PoolSponsor):
    sponsor = PoolSponsor.deploy(market, {"from": owner})
    sponsor.deposit(0, {"from": owner, "value": 1000})
    sponsor.setMode(False, True, {"from": owner})
    with brownie.reverts():  # the nested call hits the reentrancy lock, so the whole call fails
        sponsor.takeBack(0, 500, {"from": owner})
    assert market.poolDeposit(0, sponsor, ETH) == 1000 and sponsor.balance() == 0


# ---------------------------------------------------------------- publishing


def test_publish_settles_each_token_and_carries_the_rest_over(market, usdc, owner, fan, fee_recipient, accounts, split_of, artist):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    market.depositToPool(0, usdc, 5_000_000, {"from": fan})
    split = sid(split_of([(artist, 1_000_000)]))
    allocations = [Allocation(split, ETH, 800), Allocation(split, usdc.address.lower(), 4_500_000)]
    tree, root = tree_for(0, allocations)
    fee_before = market.owed(fee_recipient, ETH)
    tx = market.publishEpoch(0, root, CID, [800, 4_500_000], [100, 500_000], {"from": owner})
    settled = [list(e.values()) for e in tx.events["PoolSettled"]]
    assert settled == [[0, ETH, 1000, 800, 100, 100], [0, usdc.address, 5_000_000, 4_500_000, 500_000, 0]]
    assert list(tx.events["EpochPublished"].values()) == [0, root, CID]
    assert market.epochRoot(0) == root and market.openEpoch() == 1
    assert market.poolBalance(0, ETH) == 0 and market.poolUnclaimed(0, ETH) == 800
    assert market.owed(fee_recipient, ETH) == fee_before + 100
    assert market.poolBalance(1, ETH) == 100 and list(market.poolTokens(1)) == [ETH]


def test_publish_refusals(market, owner, fan, accounts, reverts_with, split_of, artist):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    split = sid(split_of([(artist, 1_000_000)]))
    _, root = tree_for(0, [Allocation(split, ETH, 900)])
    with brownie.reverts():
        market.publishEpoch(0, root, CID, [900], [100], {"from": fan})  # only the owner
    with reverts_with("Marketplace__NotNextEpoch", 1, 0):
        market.publishEpoch(1, root, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__InvalidEpochReport"):
        market.publishEpoch(0, "0x" + "00" * 32, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__InvalidEpochReport"):
        market.publishEpoch(0, root, "", [900], [100], {"from": owner})
    with reverts_with("Marketplace__WrongTokenCount", 2, 1):
        market.publishEpoch(0, root, CID, [900, 1], [100], {"from": owner})
    with reverts_with("Marketplace__WrongTokenCount", 0, 1):
        market.publishEpoch(0, root, CID, [900], [], {"from": owner})
    with reverts_with("Marketplace__PoolFeeAboveCap", ETH, 101, 1000):
        market.publishEpoch(0, root, CID, [800], [101], {"from": owner})  # more than 10%
    with reverts_with("Marketplace__AllocationAbovePool", ETH, 901, 100, 1000):
        market.publishEpoch(0, root, CID, [901], [100], {"from": owner})
    market.publishEpoch(0, root, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__NotNextEpoch", 0, 1):
        market.publishEpoch(0, root, CID, [900], [100], {"from": owner})  # not twice


def test_an_epoch_without_deposits_publishes_nothing_to_settle(market, owner, split_of, artist):
    _, root = tree_for(0, [Allocation(sid(split_of([(artist, 1_000_000)])), ETH, 0)])
    tx = market.publishEpoch(0, root, CID, [], [], {"from": owner})
    assert "PoolSettled" not in tx.events and market.openEpoch() == 1


# ---------------------------------------------------------------- claims


def published(market, owner, accounts, split_of, artist, collaborator):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 10_000, {"from": sponsor, "value": 10_000})
    one = sid(split_of([(artist, 1_000_000)]))
    two = sid(split_of([(artist, 600_000), (collaborator, 400_000)]))
    allocations = [Allocation(one, ETH, 3_000), Allocation(two, ETH, 6_000)]
    tree, root = tree_for(0, allocations)
    market.publishEpoch(0, root, CID, [9_000], [1_000], {"from": owner})
    return tree, allocations


def test_claim_credits_the_split_and_pays_out_through_withdraw(market, owner, accounts, split_of, artist):
    collaborator = accounts[6]
    tree, (a, b) = published(market, owner, accounts, split_of, artist, collaborator)
    tx = market.claimFromPool(0, b.split_id, ETH, b.amount, proof(tree, b), {"from": accounts[7]})  # anyone
    assert list(tx.events["PoolClaimed"].values()) == [0, b.split_id, ETH, 6_000]
    assert market.splitBalance(b.split_id, ETH) == 6_000 and market.poolUnclaimed(0, ETH) == 3_000
    market.distribute(b.split_id, ETH, {"from": collaborator})
    assert market.owed(collaborator, ETH) == 2_400 and market.owed(artist, ETH) == 3_600
    before = collaborator.balance()
    market.withdraw(collaborator, [ETH], {"from": collaborator, "gas_price": 0})
    assert collaborator.balance() == before + 2_400


def test_claim_refusals(market, owner, accounts, split_of, artist, reverts_with):
    collaborator = accounts[6]
    with reverts_with("Marketplace__EpochNotPublished", 0):
        market.claimFromPool(0, "0x" + "11" * 32, ETH, 1, [], {"from": artist})
    tree, (a, b) = published(market, owner, accounts, split_of, artist, collaborator)
    # The proof of one split does not work for another, nor for another amount or token.
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, b.split_id, ETH, b.amount, proof(tree, a), {"from": artist})
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, a.split_id, ETH, a.amount + 1, proof(tree, a), {"from": artist})
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, a.split_id, accounts[3].address, a.amount, proof(tree, a), {"from": artist})
    with reverts_with("Marketplace__InvalidProof"):
        market.claimFromPool(0, a.split_id, ETH, a.amount, [], {"from": artist})
    market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": artist})
    leaf = "0x" + merkle_leaf(0, a).hex()
    with reverts_with("Marketplace__AlreadyClaimed", 0, leaf):
        market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": artist})


def test_a_root_that_promises_more_than_allocated_cannot_pay_it(market, owner, accounts, split_of, artist, reverts_with):
    market.depositToPool(0, ETH, 1_000, {"from": accounts[5], "value": 1_000})
    one = sid(split_of([(artist, 1_000_000)]))
    greedy = Allocation(one, ETH, 5_000)  # the leaf says 5,000; the pool had 1,000
    tree, root = tree_for(0, [greedy, Allocation(one, ETH, 1)])
    market.publishEpoch(0, root, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__ClaimAboveAllocation", 5_000, 900):
        market.claimFromPool(0, one, ETH, 5_000, proof(tree, greedy), {"from": artist})


def test_a_claim_for_a_split_that_does_not_exist_is_refused(market, owner, accounts, artist, reverts_with):
    market.depositToPool(0, ETH, 1_000, {"from": accounts[5], "value": 1_000})
    ghost = Allocation("0x" + "ab" * 32, ETH, 500)
    tree, root = tree_for(0, [ghost])
    market.publishEpoch(0, root, CID, [500], [0], {"from": owner})
    with reverts_with("Marketplace__UnknownSplit", ghost.split_id):
        market.claimFromPool(0, ghost.split_id, ETH, 500, proof(tree, ghost), {"from": artist})


def test_unclaimed_allocations_stay_claimable_epochs_later(market, owner, accounts, split_of, artist):
    collaborator = accounts[6]
    tree, (a, b) = published(market, owner, accounts, split_of, artist, collaborator)
    for epoch in (1, 2):
        market.depositToPool(epoch, ETH, 10, {"from": accounts[5], "value": 10})
        _, root = tree_for(epoch, [Allocation(a.split_id, ETH, 9)])
        market.publishEpoch(epoch, root, CID, [9], [1], {"from": owner})
    brownie.chain.sleep(365 * 86400)
    market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": artist})
    assert market.splitBalance(a.split_id, ETH) == a.amount


# ---------------------------------------------------------------- properties


@given(
    deposits=strategy("uint64[]", min_length=1, max_length=4, min_value=1),
    shares=strategy("uint16[]", min_length=1, max_length=5, min_value=1),
    fee_permille=strategy("uint8", max_value=100),
)
@settings(max_examples=25, deadline=None)
def test_pools_never_pay_more_than_deposited_and_each_allocation_once(market, owner, accounts, split_of, deposits, shares, fee_permille):
    """Any deposits, any allocation of them (fee at most 10%): every claim succeeds
    exactly once, the contract's ETH balance always covers owed + split balances + pools,
    and what the splits receive plus the fee plus the carry-over equals the deposits."""
    start_balance = market.balance()
    for i, amount in enumerate(deposits):
        market.depositToPool(0, ETH, amount, {"from": accounts[5 + i % 3], "value": amount})
    pool = sum(deposits)
    fee = pool * fee_permille // 1000
    budget = pool - fee
    weights = sum(shares)
    splits = [sid(split_of([(accounts[1 + i % 4], 1_000_000)] if i % 2 == 0 else
                           [(accounts[1], 500_000), (accounts[2 + i % 3], 500_000)])) for i in range(len(shares))]
    allocations = {}
    for split, share in zip(splits, shares):
        allocations[split] = allocations.get(split, 0) + budget * share // weights
    allocations = [Allocation(s, ETH, v) for s, v in allocations.items() if v > 0]
    allocated = sum(a.amount for a in allocations)
    if not allocations:
        return
    tree, root = tree_for(0, allocations)
    market.publishEpoch(0, root, CID, [allocated], [fee], {"from": owner})
    assert market.poolBalance(1, ETH) == pool - allocated - fee
    for a in allocations:
        market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": accounts[8]})
        with brownie.reverts():
            market.claimFromPool(0, a.split_id, ETH, a.amount, proof(tree, a), {"from": accounts[8]})
    assert market.poolUnclaimed(0, ETH) == 0
    credited = sum(market.splitBalance(s, ETH) for s in set(splits))
    assert credited == allocated
    assert market.balance() - start_balance == pool
    assert credited + fee + market.poolBalance(1, ETH) == pool
