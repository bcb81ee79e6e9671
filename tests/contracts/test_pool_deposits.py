"""Sponsor pools, deposits: in the current epoch up to 1,000 ahead, with committed rules, and
taking them back (before the end, or as a rescue when still unpublished 8 epochs later)."""
import brownie
import pytest
from eth_utils import keccak

from conftest import CID, EPOCH_SECONDS, ETH, FEE_BPS, LISTENS, goto_epoch, mine_at

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
