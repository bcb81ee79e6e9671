"""owed and withdraw: exact payouts, anyone may trigger them, never paused, no reentrancy."""
import brownie
from conftest import ETH

PRICE = 10**16


def fund(market, fan, track, solo_split, token=ETH, amount=PRICE):
    if token == ETH:
        market.buy(track, amount, {"from": fan, "value": amount})
    else:
        market.buy(track, amount, {"from": fan})
    market.distribute(solo_split, token, {"from": fan})


def test_withdraw_pays_exactly_what_is_owed(market, fan, artist, eth_track, solo_split, accounts):
    fund(market, fan, eth_track, solo_split)
    owed = market.owed(artist, ETH)
    assert owed == PRICE * 95 // 100
    before = artist.balance()
    tx = market.withdraw(artist, [ETH], {"from": accounts[7]})  # a stranger pays the gas
    assert artist.balance() == before + owed
    assert list(tx.events["Withdrawal"].values()) == [artist, ETH, owed]
    assert market.owed(artist, ETH) == 0


def test_withdraw_several_tokens_at_once(market, fan, artist, eth_track, usdc_track, usdc, solo_split):
    fund(market, fan, eth_track, solo_split)
    fund(market, fan, usdc_track, solo_split, usdc, 5_000_000)
    eth_owed, usdc_owed = market.owed(artist, ETH), market.owed(artist, usdc)
    usdc_before = usdc.balanceOf(artist)
    tx = market.withdraw(artist, [ETH, usdc], {"from": artist})
    assert len(tx.events["Withdrawal"]) == 2
    assert usdc.balanceOf(artist) == usdc_before + usdc_owed
    assert eth_owed > 0 and market.owed(artist, ETH) == 0 and market.owed(artist, usdc) == 0


def test_fee_recipient_withdraws_fees_the_same_way(market, fan, fee_recipient, eth_track, solo_split):
    fund(market, fan, eth_track, solo_split)
    fee = market.owed(fee_recipient, ETH)
    assert fee == PRICE * 5 // 100
    before = fee_recipient.balance()
    market.withdraw(fee_recipient, [ETH], {"from": fee_recipient})
    assert fee_recipient.balance() == before + fee


def test_withdraw_with_nothing_owed_reverts(market, fan, reverts_with):
    with reverts_with("Marketplace__NothingToWithdraw", fan.address):
        market.withdraw(fan, [ETH], {"from": fan})


def test_repeated_token_pays_once(market, fan, artist, eth_track, solo_split):
    fund(market, fan, eth_track, solo_split)
    tx = market.withdraw(artist, [ETH, ETH], {"from": artist})
    assert len(tx.events["Withdrawal"]) == 1


def test_withdrawals_are_never_paused(market, owner, fan, artist, eth_track, solo_split):
    fund(market, fan, eth_track, solo_split)
    market.pauseSales({"from": owner})
    market.withdraw(artist, [ETH], {"from": artist})
    assert market.owed(artist, ETH) == 0


def test_withdraw_in_a_disallowed_token_still_works(market, owner, fan, artist, usdc, usdc_track, solo_split):
    fund(market, fan, usdc_track, solo_split, usdc, 5_000_000)
    market.setTokenAllowed(usdc, False, {"from": owner})
    market.withdraw(artist, [usdc], {"from": artist})
    assert market.owed(artist, usdc) == 0


def test_a_payee_that_rejects_eth_blocks_only_itself(
    market, fan, artist, sell_to_split, RejectingPayee, reverts_with
):
    rejecting = RejectingPayee.deploy({"from": fan})
    sell_to_split([(rejecting, 500_000), (artist, 500_000)])
    owed = market.owed(rejecting, ETH)
    with reverts_with("Marketplace__EthTransferFailed", rejecting.address, owed):
        market.withdraw(rejecting, [ETH], {"from": fan})
    assert market.owed(rejecting, ETH) == owed
    market.withdraw(artist, [ETH], {"from": artist})  # the other payee is unaffected
    assert market.owed(artist, ETH) == 0


def test_reentrant_withdraw_is_refused(market, fan, sell_to_split, ReentrantPayee, reverts_with):
    attacker = ReentrantPayee.deploy(market, {"from": fan})
    sell_to_split([(attacker, 1_000_000)])
    owed = market.owed(attacker, ETH)
    with reverts_with("Marketplace__EthTransferFailed", attacker.address, owed):
        market.withdraw(attacker, [ETH], {"from": fan})
    assert market.owed(attacker, ETH) == owed
    assert market.balance() == 1000


def test_distribute_and_withdraw_in_one_multicall(market, fan, artist, eth_track, solo_split):
    market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    calls = [
        market.distribute.encode_input(solo_split, ETH),
        market.withdraw.encode_input(artist, [ETH]),
    ]
    before = artist.balance()
    market.multicall(calls, {"from": artist})
    assert artist.balance() == before + PRICE * 95 // 100


def test_withdraw_gas_does_not_grow_with_sales(market, fan, artist, eth_track, solo_split, accounts):
    market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    market.distribute(solo_split, ETH, {"from": fan})
    one = market.withdraw(artist, [ETH], {"from": accounts[7]}).gas_used
    for _ in range(20):
        market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    market.distribute(solo_split, ETH, {"from": fan})
    many = market.withdraw(artist, [ETH], {"from": accounts[7]}).gas_used
    assert many == one
