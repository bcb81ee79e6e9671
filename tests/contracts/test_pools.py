"""Sponsor pools: deposits (current epoch up to 1,000 ahead, with committed rules), taking
them back (before the end, or as a rescue when still unpublished 8 epochs later), publishing
an ended epoch (in order, empty epochs skipped, fee at most 1/9 of what is allocated,
carry-over into the epoch current at publication), claims with Merkle proofs (once, right
split only, never above allocation), and the money invariant with pools in it."""
import brownie
import pytest
from brownie.test import given, strategy
from eth_utils import keccak
from hypothesis import settings

from conftest import EPOCH_SECONDS, ETH, FEE_BPS, distribute, end_epoch, goto_epoch, mine_at
from ninety.merkle import Allocation, MerkleTree
from ninety.merkle import leaf as merkle_leaf

CID = "bafkreiepochreport"
LISTENS = "0x" + keccak(b"listens").hex()
ZERO = "0x" + "00" * 32


def tree_for(epoch, allocations):
    tree = MerkleTree(epoch, allocations)
    return tree, "0x" + tree.root.hex()


def proof(tree, a):
    return ["0x" + p.hex() for p in tree.proof(a)]


def sid(split):
    return "0x" + bytes(split).hex() if not isinstance(split, str) else split


def fee_of(allocated, bps=FEE_BPS):
    """The off-chain rule's fee: bps of what is paid out (allocated + fee)."""
    return allocated * bps // (10_000 - bps)


def settled(tx):
    return [list(e.values()) for e in tx.events["PoolSettled"]]


@pytest.fixture(scope="module")
def split(split_of, artist):
    return sid(split_of([(artist, 1_000_000)]))


@pytest.fixture(scope="module")
def root(split):
    """Some root: the contract does not read the leaves, only bounds them."""
    return tree_for(0, [Allocation(split, ETH, 1)])[1]


# ---------------------------------------------------------------- deposits


def test_deposit_eth_and_token_are_recorded_with_events(market, usdc, fan, accounts):
    sponsor = accounts[5]
    tx = market.depositToPool(0, ETH, 10**18, {"from": sponsor, "value": 10**18})
    assert list(tx.events["PoolDeposited"].values()) == [0, sponsor, ETH, 10**18]
    market.depositToPool(0, usdc, 7_000_000, {"from": fan})
    market.depositToPool(0, ETH, 5, {"from": fan, "value": 5})
    assert market.poolBalance(0, ETH) == 10**18 + 5 and market.poolBalance(0, usdc) == 7_000_000
    assert market.poolDeposit(0, sponsor, ETH) == 10**18 and market.poolDeposit(0, fan, usdc) == 7_000_000
    assert list(market.poolTokens(0)) == [ETH, usdc.address]  # each token once, in first-deposit order
    assert usdc.balanceOf(market) == 7_000_000 and market.balance() == 10**18 + 5
    market.depositToPool(3, ETH, 5, {"from": sponsor, "value": 5})  # a later epoch is fine too
    market.depositToPool(1000, usdc, 1, {"from": fan})  # the last one allowed
    assert market.poolBalance(3, ETH) == 5 and list(market.poolTokens(1000)) == [usdc.address]


def test_deposit_refusals(market, usdc, owner, fan, accounts, reverts_with, MockUSDC):
    sponsor = accounts[5]
    with reverts_with("Marketplace__ZeroAmount"):
        market.depositToPool(0, ETH, 0, {"from": sponsor})
    with reverts_with("Marketplace__EpochTooFar", 1001, 1000):
        market.depositToPool(1001, ETH, 1, {"from": sponsor, "value": 1})
    with reverts_with("Marketplace__WrongEthValue", 1, 2):
        market.depositToPool(0, ETH, 2, {"from": sponsor, "value": 1})
    with reverts_with("Marketplace__EthSentForTokenTrack", 1, usdc.address):
        market.depositToPool(0, usdc, 5, {"from": fan, "value": 1})
    stranger = MockUSDC.deploy({"from": owner})
    with reverts_with("Marketplace__TokenNotAllowed", stranger.address):
        market.depositToPool(0, stranger, 5, {"from": fan})
    # An ERC-20 deposit needs an approval like a purchase.
    usdc.mint(sponsor, 100, {"from": owner})
    with brownie.reverts():
        market.depositToPool(0, usdc, 100, {"from": sponsor})


def test_an_ended_epoch_takes_no_deposit_and_the_horizon_moves_with_time(market, accounts, reverts_with):
    sponsor = accounts[5]
    goto_epoch(market, 2)
    for epoch in (0, 1):
        with reverts_with("Marketplace__EpochEnded", epoch, 2):
            market.depositToPool(epoch, ETH, 1, {"from": sponsor, "value": 1})
    with reverts_with("Marketplace__EpochTooFar", 1003, 1002):
        market.depositToPool(1003, ETH, 1, {"from": sponsor, "value": 1})
    market.depositToPool(2, ETH, 1, {"from": sponsor, "value": 1})
    market.depositToPool(1002, ETH, 1, {"from": sponsor, "value": 1})


def test_a_deposit_needs_rules_committed_for_its_epoch(Marketplace, owner, fee_recipient, accounts, reverts_with):
    m = Marketplace.deploy(fee_recipient, FEE_BPS, EPOCH_SECONDS, {"from": owner})
    with reverts_with("Marketplace__NoPoolRules", 0):
        m.depositToPool(0, ETH, 1, {"from": accounts[5], "value": 1})
    goto_epoch(m, 2)
    m.setPoolRules("0x" + keccak(b"late rules").hex(), "bafylaterules", {"from": owner})  # from epoch 3
    with reverts_with("Marketplace__NoPoolRules", 2):
        m.depositToPool(2, ETH, 1, {"from": accounts[5], "value": 1})
    m.depositToPool(3, ETH, 1, {"from": accounts[5], "value": 1})
    assert m.poolBalance(3, ETH) == 1


def test_fee_on_transfer_token_credits_what_arrived(market, owner, fan, FeeOnTransferToken, reverts_with):
    fot = FeeOnTransferToken.deploy({"from": owner})
    market.setTokenAllowed(fot, True, {"from": owner})
    fot.mint(fan, 10_000, {"from": owner})
    fot.approve(market, 10_000, {"from": fan})
    fee_percent = fot.feePercent()
    tx = market.depositToPool(0, fot, 1_000, {"from": fan})
    arrived = 1_000 - 1_000 * fee_percent // 100
    assert tx.events["PoolDeposited"]["amount"] == arrived == market.poolBalance(0, fot) == market.poolDeposit(0, fan, fot)
    fot.setFeePercent(100, {"from": owner})  # a token that delivers nothing is refused
    with reverts_with("Marketplace__NothingReceived", fot.address, 1_000):
        market.depositToPool(0, fot, 1_000, {"from": fan})


# ---------------------------------------------------------------- withdrawing a deposit


def test_sponsor_takes_a_deposit_back_until_the_epoch_ends(market, accounts):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    market.depositToPool(4, ETH, 1000, {"from": sponsor, "value": 1000})
    before = sponsor.balance()
    tx = market.withdrawPoolDeposit(0, ETH, 400, {"from": sponsor, "gas_price": 0})
    assert sponsor.balance() == before + 400
    assert list(tx.events["PoolDepositWithdrawn"].values()) == [0, sponsor, ETH, 400]
    assert market.poolBalance(0, ETH) == 600 and market.poolDeposit(0, sponsor, ETH) == 600
    # The last second of the epoch still counts as before its end.
    end = market.epochStart() + EPOCH_SECONDS
    mine_at(end - 2)
    brownie.web3.provider.make_request("evm_setNextBlockTimestamp", [end - 1])
    market.withdrawPoolDeposit(0, ETH, 600, {"from": sponsor, "gas_price": 0})
    assert market.poolBalance(0, ETH) == 0 and sponsor.balance() == before + 1000
    # A later epoch's deposit can be taken back while that epoch has not ended.
    goto_epoch(market, 4)
    market.withdrawPoolDeposit(4, ETH, 1000, {"from": sponsor, "gas_price": 0})
    assert market.poolBalance(4, ETH) == 0 and sponsor.balance() == before + 2000


def test_an_erc20_deposit_is_taken_back_in_the_token(market, usdc, fan):
    market.depositToPool(0, usdc, 3_000_000, {"from": fan})
    before = usdc.balanceOf(fan)
    tx = market.withdrawPoolDeposit(0, usdc, 1_000_000, {"from": fan})
    assert list(tx.events["PoolDepositWithdrawn"].values()) == [0, fan, usdc.address, 1_000_000]
    assert usdc.balanceOf(fan) == before + 1_000_000 and usdc.balanceOf(market) == 2_000_000
    assert market.poolBalance(0, usdc) == 2_000_000


def test_withdraw_deposit_refusals(market, accounts, reverts_with):
    sponsor, other = accounts[5], accounts[6]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    with reverts_with("Marketplace__ZeroAmount"):
        market.withdrawPoolDeposit(0, ETH, 0, {"from": sponsor})
    with reverts_with("Marketplace__DepositTooSmall", 1001, 1000):
        market.withdrawPoolDeposit(0, ETH, 1001, {"from": sponsor})
    with reverts_with("Marketplace__DepositTooSmall", 1, 0):
        market.withdrawPoolDeposit(0, ETH, 1, {"from": other})  # someone else's deposit
    with reverts_with("Marketplace__DepositTooSmall", 1, 0):
        market.withdrawPoolDeposit(1, ETH, 1, {"from": sponsor})  # another epoch's
    market.withdrawPoolDeposit(0, ETH, 600, {"from": sponsor})
    with reverts_with("Marketplace__DepositTooSmall", 401, 400):
        market.withdrawPoolDeposit(0, ETH, 401, {"from": sponsor})  # what is left, no more


def test_an_ended_epochs_deposits_are_locked_until_the_rescue_epoch(market, accounts, reverts_with):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    for epoch in (1, 5, 8):
        goto_epoch(market, epoch)
        with reverts_with("Marketplace__DepositLocked", 0, 9):
            market.withdrawPoolDeposit(0, ETH, 1, {"from": sponsor})
    # Still unpublished 8 epochs after its end: the sponsor takes it back (a lost owner
    # key locks nothing), in parts, and the published report can no longer count on it.
    mine_at(market.epochStart() + 9 * EPOCH_SECONDS)
    before = sponsor.balance()
    tx = market.withdrawPoolDeposit(0, ETH, 300, {"from": sponsor, "gas_price": 0})
    assert list(tx.events["PoolDepositWithdrawn"].values()) == [0, sponsor, ETH, 300]
    goto_epoch(market, 40)
    market.withdrawPoolDeposit(0, ETH, 700, {"from": sponsor, "gas_price": 0})
    assert sponsor.balance() == before + 1000 and market.poolBalance(0, ETH) == 0


def test_a_published_epochs_deposits_are_never_taken_back(market, owner, accounts, root, reverts_with):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    goto_epoch(market, 1)
    market.publishEpoch(0, root, LISTENS, CID, [0], [0], {"from": owner})  # all carried to epoch 1
    with reverts_with("Marketplace__EpochAlreadyPublished", 0):
        market.withdrawPoolDeposit(0, ETH, 1, {"from": sponsor})
    goto_epoch(market, 20)  # not even in the rescue window
    with reverts_with("Marketplace__EpochAlreadyPublished", 0):
        market.withdrawPoolDeposit(0, ETH, 1, {"from": sponsor})
    # Money carried into epoch 1 belongs to no sponsor: nobody can take it back.
    with reverts_with("Marketplace__DepositTooSmall", 1, 0):
        market.withdrawPoolDeposit(1, ETH, 1, {"from": sponsor})


def test_a_sponsor_that_rejects_eth_keeps_its_deposit(market, owner, PoolSponsor, reverts_with):
    sponsor = PoolSponsor.deploy(market, {"from": owner})
    sponsor.deposit(0, {"from": owner, "value": 1000})
    sponsor.setMode(True, False, {"from": owner})
    with reverts_with("Marketplace__EthTransferFailed", sponsor.address, 1000):
        sponsor.takeBack(0, 1000, {"from": owner})
    assert market.poolDeposit(0, sponsor, ETH) == 1000 and market.poolBalance(0, ETH) == 1000


@pytest.mark.parametrize("epoch, now", [(0, 0), (2, 0), (0, 9)])
def test_taking_a_deposit_back_cannot_be_reentered(market, owner, PoolSponsor, epoch, now):
    """Before the end, for a later epoch, and in the rescue window: the nested withdrawal
    hits the reentrancy lock and the sponsor is paid once."""
    sponsor = PoolSponsor.deploy(market, {"from": owner})
    sponsor.deposit(epoch, {"from": owner, "value": 1000})
    sponsor.setMode(False, True, {"from": owner})
    if now:
        goto_epoch(market, now)
    sponsor.takeBack(epoch, 500, {"from": owner})
    assert sponsor.attempts() == 1
    assert sponsor.reentryError() == "0x" + keccak(text="ReentrancyGuardReentrantCall()")[:4].hex()
    assert sponsor.balance() == 500
    assert market.poolDeposit(epoch, sponsor, ETH) == 500 and market.poolBalance(epoch, ETH) == 500


# ---------------------------------------------------------------- publishing


def test_publish_settles_each_token_and_carries_the_rest_into_the_current_epoch(
        market, usdc, owner, fan, fee_recipient, accounts, split):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    market.depositToPool(0, usdc, 5_000_000, {"from": fan})
    allocations = [Allocation(split, ETH, 800), Allocation(split, usdc.address.lower(), 4_500_000)]
    tree, root = tree_for(0, allocations)
    fees = [fee_of(800), fee_of(4_500_000)]
    assert fees == [42, 236_842]
    goto_epoch(market, 1)
    fee_before = market.owed(fee_recipient, ETH)
    tx = market.publishEpoch(0, root, LISTENS, CID, [800, 4_500_000], fees, {"from": owner})
    assert settled(tx) == [[0, ETH, 1000, 800, 42, 158, 1],
                           [0, usdc.address, 5_000_000, 4_500_000, 236_842, 263_158, 1]]
    assert list(tx.events["EpochPublished"].values()) == [0, root, LISTENS, CID]
    assert market.epochRoot(0) == root and market.nextEpochToPublish() == 1
    assert market.poolBalance(0, ETH) == 0 and market.poolUnclaimed(0, ETH) == 800
    assert market.poolBalance(0, usdc) == 0 and market.poolUnclaimed(0, usdc) == 4_500_000
    assert market.owed(fee_recipient, ETH) == fee_before + 42 and market.owed(fee_recipient, usdc) == 236_842
    assert market.poolBalance(1, ETH) == 158 and market.poolBalance(1, usdc) == 263_158
    assert list(market.poolTokens(1)) == [ETH, usdc.address]


def test_carry_over_goes_to_the_epoch_current_at_publication(market, usdc, owner, fan, accounts, root):
    """Published late (in epoch 5), epoch 0's rest joins epoch 5's pool, not epoch 1's
    (which has ended and must not change), adding to what epoch 5 already holds."""
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    market.depositToPool(5, usdc, 7, {"from": fan})
    market.depositToPool(5, ETH, 10, {"from": sponsor, "value": 10})
    goto_epoch(market, 5)
    tx = market.publishEpoch(0, root, LISTENS, CID, [800], [88], {"from": owner})
    assert settled(tx) == [[0, ETH, 1000, 800, 88, 112, 5]]
    assert market.poolBalance(1, ETH) == 0 and market.poolBalance(5, ETH) == 122
    assert list(market.poolTokens(5)) == [usdc.address, ETH]
    goto_epoch(market, 6)
    market.depositToPool(6, ETH, 1, {"from": sponsor, "value": 1})
    goto_epoch(market, 7)
    tx = market.publishEpoch(5, root, LISTENS, CID, [0, 0], [0, 0], {"from": owner})
    assert settled(tx) == [[5, usdc.address, 7, 0, 0, 7, 7], [5, ETH, 122, 0, 0, 122, 7]]
    assert market.poolBalance(5, ETH) == 0 and market.poolBalance(6, ETH) == 1
    assert market.poolBalance(7, ETH) == 122 and market.poolBalance(7, usdc) == 7
    assert list(market.poolTokens(7)) == [usdc.address, ETH]
    assert market.nextEpochToPublish() == 6


def test_carry_over_into_a_pool_that_has_the_token_does_not_list_it_twice(market, owner, accounts, root):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    market.depositToPool(1, ETH, 10, {"from": sponsor, "value": 10})
    goto_epoch(market, 1)
    tx = market.publishEpoch(0, root, LISTENS, CID, [450], [50], {"from": owner})
    assert settled(tx) == [[0, ETH, 1000, 450, 50, 500, 1]]
    assert market.poolBalance(1, ETH) == 510 and list(market.poolTokens(1)) == [ETH]
    # The sponsor can still take its own 10 back from epoch 1 (not the carried 500).
    market.withdrawPoolDeposit(1, ETH, 10, {"from": sponsor})
    assert market.poolBalance(1, ETH) == 500


def test_the_fee_is_at_most_a_ninth_of_what_is_allocated(market, owner, accounts, root, reverts_with):
    market.depositToPool(0, ETH, 1000, {"from": accounts[5], "value": 1000})
    goto_epoch(market, 1)
    for allocated, fee in ((800, 89), (0, 1), (8, 1), (1, 1)):
        with reverts_with("Marketplace__PoolFeeAboveCap", ETH, fee, allocated):
            market.publishEpoch(0, root, LISTENS, CID, [allocated], [fee], {"from": owner})
    # Exactly a ninth (10% of what is paid out) is the cap and is accepted.
    tx = market.publishEpoch(0, root, LISTENS, CID, [900], [100], {"from": owner})
    assert settled(tx) == [[0, ETH, 1000, 900, 100, 0, 1]]


@pytest.mark.parametrize("allocated, fee", [(9, 1), (17, 1), (0, 0), (1, 0)])
def test_small_allocations_take_at_most_a_ninth(market, owner, accounts, root, allocated, fee):
    market.depositToPool(0, ETH, 20, {"from": accounts[5], "value": 20})
    goto_epoch(market, 1)
    tx = market.publishEpoch(0, root, LISTENS, CID, [allocated], [fee], {"from": owner})
    assert settled(tx) == [[0, ETH, 20, allocated, fee, 20 - allocated - fee, 1]]


def test_publish_refusals(market, owner, fan, accounts, root, reverts_with):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 1000, {"from": sponsor, "value": 1000})
    with reverts_with("Marketplace__EpochNotEnded", 0, 0):
        market.publishEpoch(0, root, LISTENS, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__EpochNotEnded", 3, 0):
        market.publishEpoch(3, root, LISTENS, CID, [], [], {"from": owner})
    goto_epoch(market, 1)
    with reverts_with("Marketplace__EpochNotEnded", 1, 1):
        market.publishEpoch(1, root, LISTENS, CID, [], [], {"from": owner})
    with brownie.reverts(f"OwnableUnauthorizedAccount: {fan.address.lower()}"):
        market.publishEpoch(0, root, LISTENS, CID, [900], [100], {"from": fan})
    with reverts_with("Marketplace__InvalidEpochReport"):
        market.publishEpoch(0, ZERO, LISTENS, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__InvalidEpochReport"):
        market.publishEpoch(0, root, LISTENS, "", [900], [100], {"from": owner})
    with reverts_with("Marketplace__WrongTokenCount", 2, 1):
        market.publishEpoch(0, root, LISTENS, CID, [900, 1], [100], {"from": owner})
    with reverts_with("Marketplace__WrongTokenCount", 0, 1):
        market.publishEpoch(0, root, LISTENS, CID, [], [], {"from": owner})
    with reverts_with("Marketplace__WrongTokenCount", 0, 1):
        market.publishEpoch(0, root, LISTENS, CID, [900], [], {"from": owner})
    with reverts_with("Marketplace__AllocationAbovePool", ETH, 1001, 0, 1000):
        market.publishEpoch(0, root, LISTENS, CID, [1001], [0], {"from": owner})
    with reverts_with("Marketplace__AllocationAbovePool", ETH, 901, 100, 1000):
        market.publishEpoch(0, root, LISTENS, CID, [901], [100], {"from": owner})
    with reverts_with("Marketplace__PoolFeeAboveCap", ETH, 101, 800):
        market.publishEpoch(0, root, LISTENS, CID, [800], [101], {"from": owner})
    # A listens root of zero is allowed (an epoch may count no download).
    market.publishEpoch(0, root, ZERO, CID, [900], [100], {"from": owner})
    with reverts_with("Marketplace__EpochAlreadyPublished", 0):
        market.publishEpoch(0, root, LISTENS, CID, [900], [100], {"from": owner})  # not twice


def test_epochs_publish_in_order(market, owner, accounts, root, reverts_with):
    sponsor = accounts[5]
    for epoch in (0, 1, 2):
        market.depositToPool(epoch, ETH, 100, {"from": sponsor, "value": 100})
    goto_epoch(market, 3)
    with reverts_with("Marketplace__NotNextEpoch", 1, 0):
        market.publishEpoch(1, root, LISTENS, CID, [0], [0], {"from": owner})
    with reverts_with("Marketplace__NotNextEpoch", 2, 0):
        market.publishEpoch(2, root, LISTENS, CID, [0], [0], {"from": owner})
    market.publishEpoch(0, root, LISTENS, CID, [90], [10], {"from": owner})
    with reverts_with("Marketplace__NotNextEpoch", 2, 1):
        market.publishEpoch(2, root, LISTENS, CID, [0], [0], {"from": owner})
    market.publishEpoch(1, root, LISTENS, CID, [90], [10], {"from": owner})
    market.publishEpoch(2, root, LISTENS, CID, [90], [10], {"from": owner})
    assert market.nextEpochToPublish() == 3
    with reverts_with("Marketplace__EpochAlreadyPublished", 1):
        market.publishEpoch(1, root, LISTENS, CID, [90], [10], {"from": owner})


def test_epochs_without_pools_are_skipped(market, owner, accounts, root, reverts_with):
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 100, {"from": sponsor, "value": 100})
    market.depositToPool(3, ETH, 100, {"from": sponsor, "value": 100})
    goto_epoch(market, 4)
    market.publishEpoch(0, root, LISTENS, CID, [90], [10], {"from": owner})
    tx = market.publishEpoch(3, root, LISTENS, CID, [90], [10], {"from": owner})  # 1 and 2 had no pool
    assert settled(tx) == [[3, ETH, 100, 90, 10, 0, 4]]
    assert market.nextEpochToPublish() == 4 and market.epochRoot(1) == ZERO and market.epochRoot(2) == ZERO
    for skipped in (1, 2):
        with reverts_with("Marketplace__EpochAlreadyPublished", skipped):
            market.publishEpoch(skipped, root, LISTENS, CID, [], [], {"from": owner})
        with reverts_with("Marketplace__EpochAlreadyPublished", skipped):
            market.withdrawPoolDeposit(skipped, ETH, 1, {"from": sponsor})
        with reverts_with("Marketplace__EpochNotPublished", skipped):
            market.claimFromPool(skipped, root, ETH, 1, [], {"from": sponsor})


def test_an_epoch_without_pools_may_still_be_published(market, owner, root, reverts_with):
    goto_epoch(market, 5)
    tx = market.publishEpoch(3, root, LISTENS, CID, [], [], {"from": owner})
    assert "PoolSettled" not in tx.events and list(tx.events["EpochPublished"].values()) == [3, root, LISTENS, CID]
    assert market.nextEpochToPublish() == 4 and market.epochRoot(3) == root
    with reverts_with("Marketplace__EpochAlreadyPublished", 2):
        market.publishEpoch(2, root, LISTENS, CID, [], [], {"from": owner})


def test_a_pool_emptied_before_its_end_still_publishes_in_order(market, owner, accounts, root, reverts_with):
    """Deposited and taken back before the end: the token stays listed with 0, and the
    epoch is settled (all zeros) before any later one."""
    sponsor = accounts[5]
    market.depositToPool(0, ETH, 100, {"from": sponsor, "value": 100})
    market.withdrawPoolDeposit(0, ETH, 100, {"from": sponsor})
    market.depositToPool(1, ETH, 100, {"from": sponsor, "value": 100})
    goto_epoch(market, 2)
    with reverts_with("Marketplace__NotNextEpoch", 1, 0):
        market.publishEpoch(1, root, LISTENS, CID, [90], [10], {"from": owner})
    with reverts_with("Marketplace__AllocationAbovePool", ETH, 1, 0, 0):
        market.publishEpoch(0, root, LISTENS, CID, [1], [0], {"from": owner})
    tx = market.publishEpoch(0, root, LISTENS, CID, [0], [0], {"from": owner})
    assert settled(tx) == [[0, ETH, 0, 0, 0, 0, 2]]
    assert list(market.poolTokens(2)) == []  # nothing carried, nothing listed
    market.publishEpoch(1, root, LISTENS, CID, [90], [10], {"from": owner})


def test_skipping_crosses_256_epoch_bitmap_words(market, owner, accounts, root, reverts_with):
    """Funded epochs at both ends of the first bitmap words (word = epoch // 256): each
    lookup finds the next funded epoch, past bits already published in the same word."""
    sponsor = accounts[5]
    funded = [255, 256, 511, 512, 700]
    for epoch in funded:
        market.depositToPool(epoch, ETH, 100, {"from": sponsor, "value": 100})
    goto_epoch(market, 701)
    for i, epoch in enumerate(funded):
        for later in funded[i + 1:]:
            with reverts_with("Marketplace__NotNextEpoch", later, epoch):
                market.publishEpoch(later, root, LISTENS, CID, [0], [0], {"from": owner})
        tx = market.publishEpoch(epoch, root, LISTENS, CID, [90], [10], {"from": owner})
        assert settled(tx) == [[epoch, ETH, 100, 90, 10, 0, 701]]
        assert market.nextEpochToPublish() == epoch + 1
        if epoch == 256:
            # An empty epoch before the next funded one may be published (nothing to
            # settle); the ones before it are then skipped too.
            tx = market.publishEpoch(300, root, LISTENS, CID, [], [], {"from": owner})
            assert "PoolSettled" not in tx.events and market.nextEpochToPublish() == 301
    for epoch in (0, 254, 257, 600, 699):
        with reverts_with("Marketplace__EpochAlreadyPublished", epoch):
            market.publishEpoch(epoch, root, LISTENS, CID, [], [], {"from": owner})


def test_publishing_far_past_empty_epochs_is_cheap(market, owner, accounts, root):
    """Skipping 998 empty epochs reads four bitmap words and scans at most 255 bits of the
    last one: bounded, whatever the gap (the same writes as publishing the next epoch)."""
    for epoch in (0, 1, 1000):
        market.depositToPool(epoch, ETH, 100, {"from": accounts[5], "value": 100})
    goto_epoch(market, 1001)
    market.publishEpoch(0, root, LISTENS, CID, [90], [10], {"from": owner})
    next_one = market.publishEpoch(1, root, LISTENS, CID, [90], [10], {"from": owner}).gas_used
    far = market.publishEpoch(1000, root, LISTENS, CID, [90], [10], {"from": owner}).gas_used
    assert market.nextEpochToPublish() == 1001
    assert far - next_one < 45_000, (far, next_one)


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
