"""Sponsor pools, publishing an ended epoch: in order, empty epochs skipped, fee at most 1/9
of what is allocated, carry-over into the epoch current at publication."""
import brownie
import pytest

from conftest import CID, ETH, LISTENS, ZERO, fee_of, goto_epoch, settled, tree_for
from ninety.merkle import Allocation

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
