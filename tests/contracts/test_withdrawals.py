"""owed, withdraw and withdrawTo: exact payouts, anyone may trigger a withdraw, the payee
alone redirects its own (withdrawTo), never paused, no-ops when nothing is owed, no
reentrancy."""
import brownie
from conftest import ETH, distribute

PRICE = 10**16


def fund(market, fan, track, solo_split, token=ETH, amount=PRICE):
    if token == ETH:
        market.buy(track, amount, {"from": fan, "value": amount})
    else:
        market.buy(track, amount, {"from": fan})
    distribute(market, solo_split, token, fan)


def test_withdraw_pays_exactly_what_is_owed(market, fan, artist, eth_track, solo_split, accounts):
    fund(market, fan, eth_track, solo_split)
    owed = market.owed(artist, ETH)
    assert owed == PRICE * 95 // 100
    before = artist.balance()
    tx = market.withdraw(artist, [ETH], {"from": accounts[7]})  # a stranger pays the gas
    assert artist.balance() == before + owed
    assert list(tx.events["Withdrawal"].values()) == [artist, ETH, owed, artist]
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


def test_withdraw_with_nothing_owed_is_a_no_op(market, fan, usdc):
    before = market.balance()
    tx = market.withdraw(fan, [ETH, usdc], {"from": fan})
    assert tx.status == 1 and "Withdrawal" not in tx.events
    assert market.balance() == before


def test_withdraw_of_no_tokens_is_a_no_op(market, fan):
    tx = market.withdraw(fan, [], {"from": fan})
    assert tx.status == 1 and "Withdrawal" not in tx.events


def test_a_second_withdraw_is_a_no_op(market, fan, artist, eth_track, solo_split):
    fund(market, fan, eth_track, solo_split)
    market.withdraw(artist, [ETH], {"from": artist})
    tx = market.withdraw(artist, [ETH], {"from": fan})
    assert "Withdrawal" not in tx.events and market.owed(artist, ETH) == 0


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
        market.distribute.encode_input(solo_split, ETH, [artist.address], [1_000_000]),
        market.withdraw.encode_input(artist, [ETH]),
    ]
    before = artist.balance()
    market.multicall(calls, {"from": artist})
    assert artist.balance() == before + PRICE * 95 // 100


def test_withdraw_gas_does_not_grow_with_sales(market, fan, artist, eth_track, solo_split, accounts):
    market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    distribute(market, solo_split, ETH, fan)
    one = market.withdraw(artist, [ETH], {"from": accounts[7]}).gas_used
    for _ in range(20):
        market.buy(eth_track, PRICE, {"from": fan, "value": PRICE})
    distribute(market, solo_split, ETH, fan)
    many = market.withdraw(artist, [ETH], {"from": accounts[7]}).gas_used
    assert many == one


def test_withdraw_pays_several_tokens_to_a_payee_owed_one_only(market, fan, artist, eth_track, usdc, solo_split):
    fund(market, fan, eth_track, solo_split)
    tx = market.withdraw(artist, [usdc, ETH, usdc], {"from": fan})
    assert [list(e.values()) for e in tx.events["Withdrawal"]] == [[artist, ETH, PRICE * 95 // 100, artist]]


# ---------------------------------------------------------------- owed: the sentinel


def test_owed_is_exact_across_withdraw_and_credit_cycles(market, fan, artist, eth_track, solo_split):
    """The slot keeps a stored 1 after a withdrawal; owed() never shows it, and the next
    credit is counted to the wei."""
    assert market.owed(artist, ETH) == 0  # never credited
    for round_ in range(3):
        fund(market, fan, eth_track, solo_split)
        assert market.owed(artist, ETH) == PRICE * 95 // 100
        before = artist.balance()
        market.withdraw(artist, [ETH], {"from": fan})
        assert artist.balance() - before == PRICE * 95 // 100
        assert market.owed(artist, ETH) == 0
    # Everything owed was paid out: the contract holds exactly the fees still owed.
    assert market.balance() == market.owed(market.feeRecipient(), ETH) == 3 * PRICE * 5 // 100


def test_a_one_wei_credit_is_owed_and_paid(market, owner, fan, artist, split_of, solo_split):
    track = market.registerTrack("wei", solo_split, ETH, 0, b"", {"from": artist}).return_value
    market.setPlatformFee(0, {"from": owner})
    for _ in range(2):  # first into a fresh slot, then into a withdrawn one (stored 1)
        market.buy(track, 1, {"from": fan, "value": 1})
        distribute(market, solo_split, ETH, fan)
        assert market.owed(artist, ETH) == 1
        tx = market.withdraw(artist, [ETH], {"from": fan})
        assert tx.events["Withdrawal"]["amount"] == 1
        assert market.owed(artist, ETH) == 0
    assert market.balance() == 0


# ---------------------------------------------------------------- withdrawTo


def test_withdraw_to_pays_the_callers_balance_elsewhere(market, fan, artist, eth_track, usdc_track, usdc,
                                                        solo_split, accounts):
    fund(market, fan, eth_track, solo_split)
    fund(market, fan, usdc_track, solo_split, usdc, 5_000_000)
    eth_owed, usdc_owed = market.owed(artist, ETH), market.owed(artist, usdc)
    to = accounts[8]
    eth_before, usdc_before, artist_before = to.balance(), usdc.balanceOf(to), usdc.balanceOf(artist)
    tx = market.withdrawTo(to, [ETH, usdc], {"from": artist, "gas_price": 0})
    assert [list(e.values()) for e in tx.events["Withdrawal"]] == [
        [artist, ETH, eth_owed, to], [artist, usdc, usdc_owed, to]]
    assert to.balance() - eth_before == eth_owed
    assert usdc.balanceOf(to) - usdc_before == usdc_owed
    assert usdc.balanceOf(artist) == artist_before
    assert market.owed(artist, ETH) == 0 and market.owed(artist, usdc) == 0


def test_withdraw_to_moves_only_the_callers_own_balance(market, fan, artist, eth_track, solo_split, accounts):
    fund(market, fan, eth_track, solo_split)
    owed = market.owed(artist, ETH)
    thief = accounts[7]
    tx = market.withdrawTo(thief, [ETH], {"from": thief})  # the thief is owed nothing
    assert "Withdrawal" not in tx.events
    assert market.owed(artist, ETH) == owed


def test_a_payee_that_rejects_eth_is_paid_elsewhere_with_withdraw_to(market, fan, artist, accounts,
                                                                     sell_to_split, RejectingPayee, reverts_with):
    """The RejectingPayee cannot take ETH at its own address; withdrawTo, sent from the
    payee's own address (a contract payee calls it from its code; Anvil impersonates it
    here), pays what it is owed to another address."""
    rejecting = RejectingPayee.deploy({"from": fan})
    sell_to_split([(rejecting, 500_000), (artist, 500_000)])
    owed = market.owed(rejecting, ETH)
    with reverts_with("Marketplace__EthTransferFailed", rejecting.address, owed):
        market.withdraw(rejecting, [ETH], {"from": fan})
    # A contract payee sends withdrawTo from its own address: impersonate it (Anvil).
    from brownie import web3
    web3.provider.make_request("anvil_impersonateAccount", [rejecting.address])
    web3.provider.make_request("anvil_setBalance", [rejecting.address, hex(10**18)])
    try:
        to = accounts[8]
        before = to.balance()
        tx_hash = web3.eth.send_transaction({
            "from": rejecting.address, "to": market.address, "gas": 200_000,
            "data": market.withdrawTo.encode_input(to, [ETH])})
        assert web3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    finally:
        web3.provider.make_request("anvil_stopImpersonatingAccount", [rejecting.address])
    assert to.balance() - before == owed
    assert market.owed(rejecting, ETH) == 0


def test_withdraw_to_the_zero_address_reverts(market, fan, artist, eth_track, solo_split, reverts_with):
    fund(market, fan, eth_track, solo_split)
    with reverts_with("Marketplace__ZeroAddress"):
        market.withdrawTo(ETH, [ETH], {"from": artist})
    assert market.owed(artist, ETH) == PRICE * 95 // 100


def test_withdraw_to_the_marketplace_reverts(market, fan, artist, eth_track, usdc_track, usdc, solo_split,
                                             reverts_with):
    fund(market, fan, eth_track, solo_split)
    fund(market, fan, usdc_track, solo_split, usdc, 5_000_000)
    for tokens in ([ETH], [usdc], []):
        with reverts_with("Marketplace__MarketplaceAsRecipient"):
            market.withdrawTo(market, tokens, {"from": artist})
    assert market.owed(artist, ETH) == PRICE * 95 // 100
    assert market.owed(artist, usdc) == 5_000_000 * 95 // 100


def test_withdraw_to_with_nothing_owed_is_a_no_op(market, fan, accounts):
    to = accounts[8]
    before = to.balance()
    tx = market.withdrawTo(to, [ETH], {"from": fan})
    assert tx.status == 1 and "Withdrawal" not in tx.events and to.balance() == before


def test_withdraw_to_with_a_repeated_token_pays_once(market, fan, artist, eth_track, usdc_track, usdc,
                                                    solo_split, accounts):
    fund(market, fan, eth_track, solo_split)
    fund(market, fan, usdc_track, solo_split, usdc, 5_000_000)
    to = accounts[8]
    eth_before, usdc_before = to.balance(), usdc.balanceOf(to)
    tx = market.withdrawTo(to, [ETH, usdc, ETH, usdc], {"from": artist})
    assert len(tx.events["Withdrawal"]) == 2
    assert to.balance() - eth_before == PRICE * 95 // 100
    assert usdc.balanceOf(to) - usdc_before == 5_000_000 * 95 // 100


def test_withdraw_to_works_while_paused(market, owner, fan, artist, eth_track, solo_split, accounts):
    fund(market, fan, eth_track, solo_split)
    market.pauseSales({"from": owner})
    market.withdrawTo(accounts[8], [ETH], {"from": artist})
    assert market.owed(artist, ETH) == 0


def test_reentrant_payee_cannot_reenter_through_withdraw_to(market, fan, artist, eth_track, solo_split,
                                                           ReentrantPayee, reverts_with):
    """A withdrawTo destination that re-enters withdraw: the lock refuses it and nothing moves."""
    fund(market, fan, eth_track, solo_split)
    owed = market.owed(artist, ETH)
    attacker = ReentrantPayee.deploy(market, {"from": fan})
    with reverts_with("Marketplace__EthTransferFailed", attacker.address, owed):
        market.withdrawTo(attacker, [ETH], {"from": artist})
    assert market.owed(artist, ETH) == owed


def test_only_the_account_itself_is_paid_by_withdraw(market, fan, artist, eth_track, solo_split, accounts):
    """withdraw(account) by anyone always pays the account itself (`to` is the account)."""
    fund(market, fan, eth_track, solo_split)
    tx = market.withdraw(artist, [ETH], {"from": accounts[7]})
    assert tx.events["Withdrawal"]["to"] == artist
