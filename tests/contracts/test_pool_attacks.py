"""The attacks of issue 15 on sponsor pools, each refused by the contract:

(a) a sponsor withdrawing 1 wei after the epoch's end, to break a publish computed from
    the pools at the end (AllocationAbovePool, every time): DepositLocked;
(b) anyone depositing a new token after the end, to change the token list the publish
    was computed for (WrongTokenCount): EpochEnded;
(c) the platform's part compounding over publishes with nothing allocated (22 publishes
    took 90.2% of 1 ETH at 10% each): no allocation, no fee; the ETH is carried whole.

And the honest case the fix must not break: one allocation at the 5% rate publishes."""
import pytest

from conftest import ETH, FEE_BPS, goto_epoch
from ninety.merkle import Allocation, MerkleTree

CID = "bafkreiepochreport"
LISTENS = "0x" + "5a" * 32


def report(epoch, split, token, amount):
    """The report the owner computes after the end: one allocation (or a dummy root)."""
    tree = MerkleTree(epoch, [Allocation(split, token.lower() if token != ETH else ETH, amount)])
    return tree, "0x" + tree.root.hex()


@pytest.fixture(scope="module")
def split(split_of, artist):
    return "0x" + bytes(split_of([(artist, 1_000_000)])).hex()


def distributable(pool, bps=FEE_BPS):
    return pool * (10_000 - bps) // 10_000


def fee_of(allocated, bps=FEE_BPS):
    return allocated * bps // (10_000 - bps)


# ---------------------------------------------------------------- (a) 1-wei withdrawal


@pytest.mark.parametrize("token_name", ["ETH", "usdc"])
def test_a_one_wei_withdrawal_after_the_end_cannot_break_the_publish(
        market, usdc, owner, fan, accounts, split, reverts_with, token_name):
    sponsor = accounts[5] if token_name == "ETH" else fan
    token = ETH if token_name == "ETH" else usdc.address
    pool = 10**18 if token_name == "ETH" else 7_000_000
    market.depositToPool(0, token, pool, {"from": sponsor, "value": pool if token == ETH else 0})
    goto_epoch(market, 1)
    # The owner reads the pools after the end and computes the report from them.
    pool_at_end = market.poolBalance(0, token)
    allocated = distributable(pool_at_end)
    fee = fee_of(allocated)
    tree, root = report(0, split, token, allocated)
    # The sponsor tries to take 1 wei back before the publish lands: refused, in every
    # epoch until the rescue window, so the publish goes through as computed.
    for now in (1, 2, 8):
        goto_epoch(market, now)
        with reverts_with("Marketplace__DepositLocked", 0, 9):
            market.withdrawPoolDeposit(0, token, 1, {"from": sponsor})
    assert market.poolBalance(0, token) == pool_at_end
    tx = market.publishEpoch(0, root, LISTENS, CID, [allocated], [fee], {"from": owner})
    assert tx.events["PoolSettled"]["allocated"] == allocated
    # And once published, never (the rescue is only for epochs nobody publishes).
    goto_epoch(market, 9)
    with reverts_with("Marketplace__EpochAlreadyPublished", 0):
        market.withdrawPoolDeposit(0, token, 1, {"from": sponsor})


# ---------------------------------------------------------------- (b) a new token after the end


def test_a_new_token_after_the_end_cannot_change_the_token_list(
        market, usdc, owner, fan, accounts, split, reverts_with, MockUSDC):
    attacker = accounts[7]
    market.depositToPool(0, ETH, 10**18, {"from": accounts[5], "value": 10**18})
    dai = MockUSDC.deploy({"from": owner})
    market.setTokenAllowed(dai, True, {"from": owner})
    for token in (usdc, dai):
        token.mint(attacker, 10, {"from": owner})
        token.approve(market, 10, {"from": attacker})
    goto_epoch(market, 1)
    tokens_at_end = list(market.poolTokens(0))
    assert tokens_at_end == [ETH]
    allocated = distributable(10**18)
    tree, root = report(0, split, ETH, allocated)
    for token in (usdc, dai):
        with reverts_with("Marketplace__EpochEnded", 0, 1):
            market.depositToPool(0, token, 1, {"from": attacker})
    with reverts_with("Marketplace__EpochEnded", 0, 1):
        market.depositToPool(0, ETH, 1, {"from": attacker, "value": 1})
    assert list(market.poolTokens(0)) == tokens_at_end
    # A deposit into the current epoch is welcome, and changes nothing of epoch 0's.
    market.depositToPool(1, dai, 1, {"from": attacker})
    market.publishEpoch(0, root, LISTENS, CID, [allocated], [fee_of(allocated)], {"from": owner})
    assert market.epochRoot(0) == root


def test_a_token_deposited_and_withdrawn_before_the_end_stays_in_the_list(market, usdc, owner, accounts, split):
    """Before the end the list may still grow (the owner reads it after the end): a token
    taken back to zero stays listed and settles as zero, so the publish still matches."""
    attacker = accounts[7]
    usdc.mint(attacker, 10, {"from": owner})
    usdc.approve(market, 10, {"from": attacker})
    market.depositToPool(0, ETH, 1000, {"from": accounts[5], "value": 1000})
    market.depositToPool(0, usdc, 1, {"from": attacker})
    market.withdrawPoolDeposit(0, usdc, 1, {"from": attacker})
    goto_epoch(market, 1)
    assert list(market.poolTokens(0)) == [ETH, usdc.address]
    _, root = report(0, split, ETH, 900)
    tx = market.publishEpoch(0, root, LISTENS, CID, [900, 0], [100, 0], {"from": owner})
    assert [e["pool"] for e in tx.events["PoolSettled"]] == [1000, 0]


# ---------------------------------------------------------------- (c) compounding fee


def test_twenty_two_empty_publishes_leave_the_whole_deposit_in_the_pool(market, owner, fee_recipient, accounts, split):
    market.depositToPool(0, ETH, 10**18, {"from": accounts[5], "value": 10**18})
    fees_before = market.owed(fee_recipient, ETH)
    _, root = report(0, split, ETH, 1)
    platform = 0
    for epoch in range(22):
        goto_epoch(market, epoch + 1)
        tx = market.publishEpoch(epoch, root, LISTENS, CID, [0], [0], {"from": owner})
        settled = tx.events["PoolSettled"]
        assert list(settled.values()) == [epoch, ETH, 10**18, 0, 0, 10**18, epoch + 1]
        platform += settled["platformFee"]
    assert platform == 0 and market.owed(fee_recipient, ETH) == fees_before
    assert market.poolBalance(22, ETH) == 10**18 and market.nextEpochToPublish() == 22
    assert all(market.poolBalance(e, ETH) == 0 for e in range(22))


@pytest.mark.parametrize("fee", [1, 10**17, 10**18])
def test_any_fee_with_nothing_allocated_is_refused(market, owner, accounts, split, reverts_with, fee):
    market.depositToPool(0, ETH, 10**18, {"from": accounts[5], "value": 10**18})
    _, root = report(0, split, ETH, 1)
    goto_epoch(market, 1)
    with reverts_with("Marketplace__PoolFeeAboveCap", ETH, fee, 0):
        market.publishEpoch(0, root, LISTENS, CID, [0], [fee], {"from": owner})


def test_carried_money_is_never_charged_twice(market, owner, fee_recipient, accounts, split, reverts_with):
    """The old attack: 10% of each pool, carried money included. Now the fee follows what
    is allocated, so carrying 1 ETH for 22 epochs and then paying it all out charges it
    once, at most 1/9 of what the artists receive."""
    market.depositToPool(0, ETH, 10**18, {"from": accounts[5], "value": 10**18})
    _, root = report(0, split, ETH, 1)
    for epoch in range(22):
        goto_epoch(market, epoch + 1)
        with reverts_with("Marketplace__PoolFeeAboveCap", ETH, 10**17, 0):
            market.publishEpoch(epoch, root, LISTENS, CID, [0], [10**17], {"from": owner})
        market.publishEpoch(epoch, root, LISTENS, CID, [0], [0], {"from": owner})
    goto_epoch(market, 23)
    allocated = distributable(10**18)
    fee = fee_of(allocated)
    tree, root = report(22, split, ETH, allocated)
    before = market.owed(fee_recipient, ETH)
    tx = market.publishEpoch(22, root, LISTENS, CID, [allocated], [fee], {"from": owner})
    assert list(tx.events["PoolSettled"].values()) == [22, ETH, 10**18, allocated, fee, 10**18 - allocated - fee, 23]
    assert market.owed(fee_recipient, ETH) - before == fee == 5 * 10**16
    assert fee * 9 <= allocated and fee * 10 <= 10**18


# ---------------------------------------------------------------- the honest single allocation


@pytest.mark.parametrize("pool", [10**18, 999_999_999_999_999_999, 20, 1])
def test_an_epoch_with_a_single_allocation_publishes_and_pays(market, owner, fee_recipient, accounts, split, artist, pool):
    market.depositToPool(0, ETH, pool, {"from": accounts[5], "value": pool})
    allocated = distributable(pool)
    fee = allocated * 500 // 9500
    goto_epoch(market, 1)
    before = market.owed(fee_recipient, ETH)
    if allocated == 0:  # 1 wei: nothing to distribute, all carried
        tx = market.publishEpoch(0, report(0, split, ETH, 1)[1], LISTENS, CID, [0], [0], {"from": owner})
        assert tx.events["PoolSettled"]["carriedOver"] == pool
        return
    tree, root = report(0, split, ETH, allocated)
    tx = market.publishEpoch(0, root, LISTENS, CID, [allocated], [fee], {"from": owner})
    assert list(tx.events["PoolSettled"].values()) == [0, ETH, pool, allocated, fee, pool - allocated - fee, 1]
    assert market.owed(fee_recipient, ETH) - before == fee
    a = Allocation(split, ETH, allocated)
    market.claimFromPool(0, split, ETH, allocated, ["0x" + p.hex() for p in tree.proof(a)], {"from": artist})
    assert market.splitBalance(split, ETH) == allocated and market.poolUnclaimed(0, ETH) == 0
    # Whatever rounding leaves carries to the current epoch.
    assert market.poolBalance(1, ETH) == pool - allocated - fee


def test_the_whole_fee_range_of_the_rule_is_accepted(market, owner, accounts, split):
    """Every fee rate the platform can set (0 to 10%), applied by the off-chain rule, is
    within the contract's cap: a correct publish never reverts."""
    pool = 123_456_789_012_345_678
    rates = (0, 1, 250, 500, 999, 1000)
    for i, _ in enumerate(rates):
        market.depositToPool(i, ETH, pool, {"from": accounts[5], "value": pool})
    for i, bps in enumerate(rates):
        goto_epoch(market, i + 1)
        allocated = distributable(market.poolBalance(i, ETH), bps)  # with what epoch i - 1 carried
        fee = fee_of(allocated, bps)
        _, root = report(i, split, ETH, max(allocated, 1))
        tx = market.publishEpoch(i, root, LISTENS, CID, [allocated], [fee], {"from": owner})
        assert tx.events["PoolSettled"]["platformFee"] == fee
        assert fee * 10_000 <= (allocated + fee) * 1000
