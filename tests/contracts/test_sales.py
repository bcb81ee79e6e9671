"""buy: pay what you want, the fee cap, ETH and ERC-20, and every way a purchase is refused."""
import brownie
from conftest import ETH, FEE_BPS

PRICE = 10**16


def test_eth_buy_credits_split_and_fee(market, fan, eth_track, solo_split, fee_recipient):
    tx = market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    fee = PRICE * FEE_BPS // 10_000
    assert list(tx.events["Sale"].values()) == [eth_track, fan, ETH, PRICE, fee, solo_split]
    assert market.splitBalance(solo_split, ETH) == PRICE - fee
    assert market.owed(fee_recipient, ETH) == fee
    assert market.balance() == PRICE


def test_fans_may_pay_more_than_the_price(market, fan, eth_track, solo_split):
    amount = PRICE * 3 + 7
    tx = market.buy(eth_track, amount, {"from": fan, "value": amount})
    assert tx.events["Sale"]["amount"] == amount
    fee = amount * FEE_BPS // 10_000
    assert market.splitBalance(solo_split, ETH) == amount - fee


def test_fee_rounds_down_and_dust_stays_with_payees(market, fan, artist, solo_split, fee_recipient):
    track = market.registerTrack("cheap", solo_split, ETH, 0, b"", {"from": artist}).return_value
    market.buy(track, 19, {"from": fan, "value": 19})  # 19 * 5% = 0.95 -> fee 0
    assert market.owed(fee_recipient, ETH) == 0
    assert market.splitBalance(solo_split, ETH) == 19


def test_erc20_buy_pulls_tokens_and_credits_them(market, fan, usdc, usdc_track, solo_split, fee_recipient):
    before = usdc.balanceOf(fan)
    tx = market.buy(usdc_track, 6_000_000, {"from": fan})
    fee = 6_000_000 * FEE_BPS // 10_000
    assert list(tx.events["Sale"].values()) == [usdc_track, fan, usdc, 6_000_000, fee, solo_split]
    assert usdc.balanceOf(fan) == before - 6_000_000
    assert usdc.balanceOf(market) == 6_000_000
    assert market.splitBalance(solo_split, usdc) == 6_000_000 - fee
    assert market.owed(fee_recipient, usdc) == fee


def test_fee_on_transfer_token_is_credited_by_what_arrived(
    market, owner, fan, artist, solo_split, FeeOnTransferToken, fee_recipient
):
    fot = FeeOnTransferToken.deploy({"from": owner})
    market.setTokenAllowed(fot, True, {"from": owner})
    fot.mint(fan, 10**6, {"from": owner})
    fot.approve(market, 10**6, {"from": fan})
    track = market.registerTrack("fot", solo_split, fot, 1000, b"", {"from": artist}).return_value
    tx = market.buy(track, 10_000, {"from": fan})
    received = 10_000 - 100
    assert tx.events["Sale"]["amount"] == received
    assert fot.balanceOf(market) == received
    assert market.splitBalance(solo_split, fot) + market.owed(fee_recipient, fot) == received


def test_zero_fee_writes_no_fee_credit(market, owner, fan, eth_track, solo_split, fee_recipient):
    market.setPlatformFee(0, {"from": owner})
    tx = market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    assert tx.events["Sale"]["platformFee"] == 0
    assert market.owed(fee_recipient, ETH) == 0
    assert market.splitBalance(solo_split, ETH) == PRICE


def test_max_fee_leaves_payees_ninety_percent(market, owner, fan, eth_track, solo_split):
    market.setPlatformFee(1000, {"from": owner})
    market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    assert market.splitBalance(solo_split, ETH) == PRICE * 9 // 10


def test_buy_below_price_reverts(market, fan, eth_track, reverts_with):
    with reverts_with("Marketplace__AmountBelowPrice", PRICE - 1, PRICE):
        market.buy(eth_track, PRICE - 1, {"from": fan, "value": PRICE - 1})


def test_buy_with_wrong_eth_value_reverts(market, fan, eth_track, reverts_with):
    with reverts_with("Marketplace__WrongEthValue", PRICE - 1, PRICE):
        market.buy(eth_track, PRICE, {"from": fan, "value": PRICE - 1})
    with reverts_with("Marketplace__WrongEthValue", PRICE + 1, PRICE):
        market.buy(eth_track, PRICE, {"from": fan, "value": PRICE + 1})


def test_eth_sent_for_a_token_track_reverts(market, fan, usdc, usdc_track, reverts_with):
    with reverts_with("Marketplace__EthSentForTokenTrack", 1, usdc.address):
        market.buy(usdc_track, 5_000_000, {"from": fan, "value": 1})


def test_buy_unknown_track_reverts(market, fan, reverts_with):
    with reverts_with("Marketplace__UnknownTrack", 42):
        market.buy(42, 0, {"from": fan})


def test_buy_unlisted_track_reverts(market, artist, fan, eth_track, solo_split, reverts_with):
    market.updateTrack(eth_track, PRICE, False, {"from": artist})
    with reverts_with("Marketplace__TrackNotListed", eth_track):
        market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})


def test_buy_while_paused_reverts(market, owner, fan, eth_track, reverts_with):
    market.pauseSales({"from": owner})
    with reverts_with("Marketplace__SalesPaused"):
        market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})


def test_buy_with_token_no_longer_allowed_reverts(market, owner, fan, usdc, usdc_track, reverts_with):
    market.setTokenAllowed(usdc, False, {"from": owner})
    with reverts_with("Marketplace__TokenNotAllowed", usdc.address):
        market.buy(usdc_track, 5_000_000, {"from": fan})


def test_erc20_buy_without_allowance_reverts(market, accounts, usdc, usdc_track, owner):
    stranger = accounts[6]
    usdc.mint(stranger, 10**7, {"from": owner})
    with brownie.reverts():
        market.buy(usdc_track, 5_000_000, {"from": stranger})
    assert usdc.balanceOf(market) == 0


def test_token_that_delivers_nothing_reverts(
    market, owner, fan, artist, solo_split, FeeOnTransferToken, reverts_with
):
    fot = FeeOnTransferToken.deploy({"from": owner})
    fot.setFeePercent(100, {"from": owner})  # every transfer burns it all
    market.setTokenAllowed(fot, True, {"from": owner})
    fot.mint(fan, 10**6, {"from": owner})
    fot.approve(market, 10**6, {"from": fan})
    track = market.registerTrack("fot", solo_split, fot, 1, b"", {"from": artist}).return_value
    with reverts_with("Marketplace__NothingReceived", fot.address, 500):
        market.buy(track, 500, {"from": fan})


def test_a_buy_reentered_from_a_payout_is_an_ordinary_sale(market, fan, fee_recipient, sell_to_split,
                                                         ReentrantPayee):
    """An ETH buy takes no lock (it makes no external call): a payee whose receive() buys
    the track again with the ETH just withdrawn makes one more sale, counted exactly; its
    withdrawal had already zeroed its balance before the transfer."""
    attacker = ReentrantPayee.deploy(market, {"from": fan})
    track = sell_to_split([(attacker, 1_000_000)])
    owed = market.owed(attacker, ETH)
    assert owed == 950
    attacker.attackWithBuy(track, {"from": fan})
    tx = market.withdraw(attacker, [ETH], {"from": fan})
    assert tx.events["Withdrawal"]["amount"] == owed
    assert tx.events["Sale"]["amount"] == owed and attacker.attempts() == 1
    sid = market.tracks(track)[1]
    fee = owed * FEE_BPS // 10_000
    assert market.owed(attacker, ETH) == 0
    assert market.splitBalance(sid, ETH) == owed - fee
    assert market.owed(fee_recipient, ETH) == 50 + fee
    assert market.balance() == 1000 == market.splitBalance(sid, ETH) + market.owed(fee_recipient, ETH)


from brownie.test import given, strategy  # noqa: E402


@given(amount=strategy("uint128"), bps=strategy("uint16", max_value=1000))
def test_every_sale_is_fully_accounted_and_payees_keep_90_percent(
    market, owner, fan, artist, solo_split, fee_recipient, amount, bps
):
    market.setPlatformFee(bps, {"from": owner})
    fan_balance = fan.balance()
    amount = amount % (fan_balance // 2)
    track = market.registerTrack("p", solo_split, ETH, 0, b"", {"from": artist}).return_value
    split_before = market.splitBalance(solo_split, ETH)
    fee_before = market.owed(fee_recipient, ETH)
    market.buy(track, amount, {"from": fan, "value": amount})
    to_payees = market.splitBalance(solo_split, ETH) - split_before
    fee = market.owed(fee_recipient, ETH) - fee_before
    assert to_payees + fee == amount
    assert fee == amount * bps // 10_000
    assert to_payees * 10 >= amount * 9
