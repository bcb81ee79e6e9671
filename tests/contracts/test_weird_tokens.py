"""Weird ERC-20s (issue 17, point 6): one test-only token per behaviour, each taken through
the money paths (allow, list, buy, distribute, withdraw, withdrawTo, pool deposit and
take-back). For each, either the Marketplace accounts exactly (what it owes, the sum of
every `owed`, `splitBalance`, open pool and unclaimed allocation, equals what it holds) or
the test shows the failure mode the README's token policy warns about."""
import brownie
import pytest
from eth_abi import encode
from eth_utils import keccak

from conftest import FEE_BPS
from token_books import (MAX_PRICE, Books, allow_and_fund, assert_stopped_by_the_guard, distribute, end_epoch,
                         full_round, list_track)


@pytest.fixture(scope="module")
def payees(accounts):
    return accounts[3], accounts[4]


@pytest.fixture(scope="module")
def sponsor(accounts):
    return accounts[5]


@pytest.fixture(scope="module")
def stranger(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def elsewhere(accounts):
    """An address a payee chooses to be paid at (withdrawTo)."""
    return accounts[8]


@pytest.fixture(scope="module")
def split(market, artist, payees):
    """The artist 50%, two collaborators 30% and 20%: (splitId, recipients, shares)."""
    pairs = sorted([(artist, 500_000), (payees[0], 300_000), (payees[1], 200_000)], key=lambda p: int(p[0].address, 16))
    recipients, shares = [str(a) for a, _ in pairs], [s for _, s in pairs]
    sid = market.createSplit(recipients, shares, {"from": artist}).return_value
    return sid, recipients, shares


@pytest.fixture(scope="module")
def round_(market, owner, artist, fan, sponsor, stranger, elsewhere, payees, split):
    def run(token, price, **kw):
        return full_round(market, owner, artist, fan, sponsor, stranger, elsewhere, payees, split, token, price, **kw)
    return run


# ------------------------------------------------------------------ exact accounting

def test_a_token_that_returns_nothing_usdt_style_is_accounted_exactly(round_, owner, WeirdNoReturnToken):
    token = WeirdNoReturnToken.deploy({"from": owner})
    round_(token, 5_000_000)


def test_a_fee_on_transfer_token_is_credited_by_what_arrives(round_, owner, FeeOnTransferToken):
    token = FeeOnTransferToken.deploy({"from": owner})
    token.setFeePercent(2, {"from": owner})
    round_(token, 10**18, fee_pct=2)


def test_a_2_decimal_token_keeps_every_cent(round_, owner, WeirdDecimalsToken):
    token = WeirdDecimalsToken.deploy(2, {"from": owner})
    round_(token, 199)  # 1.99: fees and shares round, the dust goes to the first payee


def test_a_24_decimal_token_is_exact_but_prices_stop_at_uint88(
    round_, market, owner, artist, split, WeirdDecimalsToken, reverts_with
):
    token = WeirdDecimalsToken.deploy(24, {"from": owner})
    round_(token, 250 * 10**24)
    # Prices are packed in 88 bits: with 24 decimals that is about 309 whole tokens.
    assert MAX_PRICE // 10**24 == 309
    with reverts_with("Marketplace__PriceTooHigh", 310 * 10**24, MAX_PRICE):
        list_track(market, artist, split, token, 310 * 10**24)


def test_a_token_that_reverts_on_zero_transfers_never_gets_one(
    round_, market, owner, artist, fan, stranger, split, WeirdZeroRevertToken
):
    token = WeirdZeroRevertToken.deploy({"from": owner})
    round_(token, 1000)
    # Nothing owed: skipped, not a zero transfer. A distribution with a zero part for a
    # payee makes no transfer at all.
    market.withdraw(artist, [token, token], {"from": stranger})
    market.withdrawTo(stranger, [token], {"from": artist})
    track = list_track(market, artist, split, token, 1)
    market.buy(track, 1, {"from": fan})
    assert distribute(market, split, token, stranger).return_value == 1
    assert sum(market.owed(r, token) for r in split[1]) == 1
    Books(market, token, [split[0]]).exact()


def test_a_rebasing_token_without_a_rebase_is_exact(round_, owner, WeirdRebasingToken):
    round_(WeirdRebasingToken.deploy({"from": owner}), 10**18)


def test_blocklist_and_pausable_tokens_are_exact_while_nobody_is_blocked_or_paused(
    round_, owner, WeirdBlocklistToken, WeirdPausableToken
):
    round_(WeirdBlocklistToken.deploy({"from": owner}), 5_000_000)
    round_(WeirdPausableToken.deploy({"from": owner}), 10**18)


def test_a_hook_token_without_a_hook_is_exact(round_, owner, WeirdHookToken):
    round_(WeirdHookToken.deploy({"from": owner}), 10**18)


@pytest.mark.parametrize("name", ["FeeOnTransferToken", "WeirdNoReturnToken"])
def test_a_published_pool_in_a_weird_token_is_accounted_exactly(
    name, market, owner, fan, sponsor, stranger, split, fee_recipient
):
    """The pool path: a deposit, publication (allocated, fee, carried over), a claim into the
    split (a second claim does nothing), distribution and withdrawal: exact at every step,
    unclaimed allocations included."""
    token = getattr(brownie, name).deploy({"from": owner})
    allow_and_fund(market, owner, token, fan, sponsor, 10**20)
    books = Books(market, token, [split[0]])
    market.depositToPool(0, token, 10**18, {"from": sponsor})
    pool = books.exact()
    end_epoch(market)
    allocated, fee = pool // 2, pool // 18  # the fee at most 1/9 of what is allocated
    leaf = keccak(keccak(encode(["uint256", "bytes32", "address", "uint256"], [0, split[0], token.address, allocated])))
    market.publishEpoch(0, leaf, leaf, "bafyweirdreport", [allocated], [fee], {"from": owner})
    assert market.poolUnclaimed(0, token) == allocated and market.poolBalance(1, token) == pool - allocated - fee
    assert books.exact() == pool
    assert market.claimFromPool(0, split[0], token, allocated, [], {"from": stranger}).return_value is True
    assert market.claimFromPool(0, split[0], token, allocated, [], {"from": stranger}).return_value is False
    assert market.splitBalance(split[0], token) == allocated and books.exact() == pool
    distribute(market, split, token, stranger)
    for account in [*split[1], fee_recipient]:
        market.withdraw(account, [token], {"from": stranger})
    assert books.exact() == pool - allocated - fee == market.poolBalance(1, token)


# ------------------------------------------------------------------ failure modes

@pytest.fixture(scope="module")
def sold(market, owner, artist, fan, sponsor, stranger, split):
    """Allow `token`, sell one track for `price` and distribute: every payee is owed."""
    def sell(token, price):
        allow_and_fund(market, owner, token, fan, sponsor, price * 100)
        track = list_track(market, artist, split, token, price)
        market.buy(track, price, {"from": fan})
        distribute(market, split, token, stranger)
        return track, Books(market, token, [split[0]])
    return sell


def test_a_returning_false_token_cannot_fake_a_payment(market, owner, fan, stranger, sold, split, accounts,
                                                       WeirdFalseToken, reverts_with):
    token = WeirdFalseToken.deploy({"from": owner})
    track, books = sold(token, 10**18)
    owes = books.exact()
    # A buyer without allowance: the token answers false, SafeERC20 turns it into a revert.
    broke = accounts[6]
    with reverts_with("SafeERC20FailedOperation", token.address):
        market.buy(track, 10**18, {"from": broke})
    # A token refusing every transfer: no sale, and withdrawals revert with the balance kept.
    token.setRefuse(True, {"from": owner})
    with reverts_with("SafeERC20FailedOperation", token.address):
        market.buy(track, 10**18, {"from": fan})
    payee = split[1][1]
    owed = market.owed(payee, token)
    with reverts_with("SafeERC20FailedOperation", token.address):
        market.withdraw(payee, [token], {"from": stranger})
    assert market.owed(payee, token) == owed and books.exact() == owes
    token.setRefuse(False, {"from": owner})
    market.withdraw(payee, [token], {"from": stranger})
    assert token.balanceOf(payee) == owed and books.exact() == owes - owed


def test_a_blocklisted_payee_is_paid_elsewhere(market, owner, payees, stranger, elsewhere, sold, WeirdBlocklistToken):
    token = WeirdBlocklistToken.deploy({"from": owner})
    _, books = sold(token, 5_000_000)
    owes = books.exact()
    payee = payees[0]
    owed = market.owed(payee, token)
    token.setBlocked(payee, True, {"from": owner})
    with brownie.reverts():
        market.withdraw(payee, [token], {"from": stranger})
    assert market.owed(payee, token) == owed and books.exact() == owes
    market.withdrawTo(elsewhere, [token], {"from": payee})
    assert token.balanceOf(elsewhere) == owed and market.owed(payee, token) == 0
    assert books.exact() == owes - owed


def test_a_blocklisted_marketplace_freezes_the_token_until_the_issuer_lifts_it(
    market, owner, fan, artist, stranger, sold, WeirdBlocklistToken
):
    token = WeirdBlocklistToken.deploy({"from": owner})
    track, books = sold(token, 5_000_000)
    owes = books.exact()
    token.setBlocked(market, True, {"from": owner})
    with brownie.reverts():
        market.buy(track, 5_000_000, {"from": fan})
    with brownie.reverts():
        market.withdraw(artist, [token], {"from": stranger})
    assert books.exact() == owes  # frozen, not lost: every balance is still owed
    token.setBlocked(market, False, {"from": owner})
    market.withdraw(artist, [token], {"from": stranger})
    assert market.owed(artist, token) == 0 and books.exact() == owes - token.balanceOf(artist)


def test_a_paused_token_holds_withdrawals_and_sales_until_unpaused(
    market, owner, fan, artist, sponsor, stranger, split, sold, WeirdPausableToken
):
    token = WeirdPausableToken.deploy({"from": owner})
    track, books = sold(token, 10**18)
    market.depositToPool(0, token, 10**18, {"from": sponsor})
    owes = books.exact()
    token.setPaused(True, {"from": owner})
    with brownie.reverts():
        market.buy(track, 10**18, {"from": fan})
    with brownie.reverts():
        market.withdraw(artist, [token], {"from": stranger})
    with brownie.reverts():
        market.withdrawPoolDeposit(0, token, 10**18, {"from": sponsor})
    owed = market.owed(artist, token)
    assert owed > 0 and books.exact() == owes
    # Steps that move no tokens go on while paused.
    assert distribute(market, split, token, stranger).return_value == 0
    token.setPaused(False, {"from": owner})
    market.withdraw(artist, [token], {"from": stranger})
    market.withdrawPoolDeposit(0, token, 10**18, {"from": sponsor})
    assert token.balanceOf(artist) == owed and books.exact() == owes - owed - 10**18


def test_a_rebase_down_makes_the_marketplace_owe_more_than_it_holds(
    market, owner, payees, stranger, split, sold, WeirdRebasingToken
):
    """Why rebasing tokens must not be allowed: after a negative rebase the last payees to
    withdraw find the contract short."""
    token = WeirdRebasingToken.deploy({"from": owner})
    _, books = sold(token, 10**18)
    owes = books.exact()
    token.setIndex(10**18 // 2, {"from": owner})  # every balance halves
    assert books.holds() == owes // 2 and books.owes() == owes
    first = split[1][0]
    paid_first = market.owed(first, token)
    market.withdraw(first, [token], {"from": stranger})  # the first comer is paid in full
    short = [p for p in split[1][1:] if market.owed(p, token) > books.holds()]
    assert short, "someone is owed more than the contract still holds"
    with brownie.reverts():
        market.withdraw(short[0], [token], {"from": stranger})
    assert books.owes() == owes - paid_first > books.holds()


def test_a_rebase_up_strands_the_surplus(market, owner, stranger, split, sold, WeirdRebasingToken):
    """The other direction: every payee is paid, and what the rebase added stays in the
    contract with no owner (no path pays it out)."""
    token = WeirdRebasingToken.deploy({"from": owner})
    _, books = sold(token, 10**18)
    owes = books.exact()
    token.setIndex(2 * 10**18, {"from": owner})
    assert books.holds() == 2 * owes
    for account in [*split[1], market.feeRecipient()]:
        market.withdraw(account, [token], {"from": stranger})
    assert books.owes() == 0 and books.holds() == owes


def test_an_inflated_balance_token_makes_the_marketplace_owe_more_than_it_holds(
    market, owner, fan, artist, split, stranger, WeirdInflatedBalanceToken, sponsor
):
    """A token whose balanceOf overstates what can be spent: crediting by balance
    difference credits the phantom part too. The probe (`ninety token allow`) refuses it."""
    token = WeirdInflatedBalanceToken.deploy({"from": owner})
    allow_and_fund(market, owner, token, fan, sponsor, 10**20)
    track = list_track(market, artist, split, token, 10**18)
    tx = market.buy(track, 10**18, {"from": fan})
    assert tx.events["Sale"]["amount"] == 10**18 + 10**17
    books = Books(market, token, [split[0]])
    spendable = token.balanceOf(market) - token.bonus(market)
    assert books.owes() == 11 * 10**17 > spendable == 10**18


# ------------------------------------------------------------------ reentrant hook

@pytest.fixture(scope="module")
def hook_token(market, owner, sold, WeirdHookToken):
    """A hook token on sale, the token itself holding some and letting the Marketplace
    pull it, so a reentrant buy from the hook would have the means to pay."""
    token = WeirdHookToken.deploy({"from": owner})
    track, books = sold(token, 10**18)
    token.mint(token, 10**20, {"from": owner})
    token.approveFromToken(market, 2**256 - 1, {"from": owner})
    return token, track, books


def test_a_hook_reentering_buy_is_stopped_and_the_sale_counted_once(market, fan, split, hook_token):
    token, track, books = hook_token
    owes = books.exact()
    token.setHook(market, market.buy.encode_input(track, 10**18), {"from": fan})
    tx = market.buy(track, 10**18, {"from": fan})
    assert_stopped_by_the_guard(token)
    assert len(tx.events["Sale"]) == 1 and tx.events["Sale"]["amount"] == 10**18
    assert market.splitBalance(split[0], token) == 10**18 - 10**18 * FEE_BPS // 10_000
    assert books.exact() == owes + 10**18


def test_a_hook_reentering_withdraw_is_stopped_and_pays_once(market, fan, artist, stranger, hook_token):
    token, _, books = hook_token
    owes = books.exact()
    owed = market.owed(artist, token)
    token.setHook(market, market.withdraw.encode_input(artist, [token]), {"from": fan})
    tx = market.withdraw(artist, [token], {"from": stranger})
    assert_stopped_by_the_guard(token)
    assert len(tx.events["Withdrawal"]) == 1 and token.balanceOf(artist) == owed
    assert books.exact() == owes - owed


def test_a_hook_reentering_deposit_to_pool_is_stopped(market, fan, artist, stranger, hook_token):
    token, _, books = hook_token
    owes = books.exact()
    owed = market.owed(artist, token)
    token.setHook(market, market.depositToPool.encode_input(0, token, 10**18), {"from": fan})
    market.withdraw(artist, [token], {"from": stranger})
    assert_stopped_by_the_guard(token)
    assert market.poolBalance(0, token) == 0 and books.exact() == owes - owed


def test_a_hook_calling_distribute_mid_sale_moves_only_what_was_there(market, fan, stranger, split, hook_token):
    """distribute makes no transfer and needs no lock: run from inside a sale's transfer it
    allots the split's earlier balance, and the sale is credited after, by what arrived."""
    token, track, books = hook_token
    market.buy(track, 10**18, {"from": fan})  # an undistributed balance
    earlier = market.splitBalance(split[0], token)
    owes = books.exact()
    token.setHook(market, market.distribute.encode_input(*split[:1], token, split[1], split[2]), {"from": fan})
    tx = market.buy(track, 2 * 10**18, {"from": fan})
    assert token.hookCalled() and token.hookSucceeded()
    assert tx.events["SplitDistributed"]["amount"] == earlier
    assert market.splitBalance(split[0], token) == 2 * 10**18 - 2 * 10**18 * FEE_BPS // 10_000
    assert books.exact() == owes + 2 * 10**18
