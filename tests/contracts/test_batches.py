"""One-click batches (OpenZeppelin Multicall): a payee sends multicall([distribute,
withdraw]) or, for a sponsor pool, multicall([claimFromPool, distribute, withdraw]). Two
payees of one split click at the same moment: both transactions land in one block, the
second finds the split already distributed (and the leaf already claimed), and still
succeeds and pays its sender exactly. The steps are no-ops when someone moved first,
never reverts."""
import pytest
from brownie import web3

from conftest import ETH, goto_epoch, sorted_split, split_data
from ninety.merkle import Allocation, MerkleTree

LISTENS = "0x" + "11" * 32


@pytest.fixture(scope="module")
def pair(accounts):
    return sorted([accounts[3], accounts[4]], key=lambda a: int(a.address, 16))


@pytest.fixture(scope="module")
def duo(market, pair, artist):
    """A split of two payees, 70/30, and an ETH track selling into it."""
    recipients, shares = sorted_split([(pair[0], 700_000), (pair[1], 300_000)])
    sid = market.createSplit(recipients, shares, {"from": artist}).return_value
    track = market.registerTrack("bafkreibatch", sid, ETH, 0, b"", {"from": artist}).return_value
    return sid, track


def send_in_one_block(market, batches):
    """Send each (sender, calls) as a multicall without mining, then mine them all in one
    block in the order sent; returns the receipts. Gas price 0 (the chain's base fee is 0),
    so balances change by the payouts alone."""
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [
            web3.eth.send_transaction({"from": str(sender), "to": str(market), "gas": 1_000_000, "gasPrice": 0,
                                       "data": market.multicall.encode_input(calls)})
            for sender, calls in batches
        ]
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    receipts = [web3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "not in one block"
    assert [r["transactionIndex"] for r in receipts] == list(range(len(receipts)))
    return receipts


def events(market, receipt, name):
    return [dict(e["args"]) for e in web3.eth.contract(address=str(market), abi=market.abi).events[name]()
            .process_receipt(receipt, errors=__import__("web3").logs.DISCARD)]


def payout_batch(market, sid, token, payee):
    recipients, shares = split_data(market, sid)
    return [market.distribute.encode_input(sid, token, recipients, shares),
            market.withdraw.encode_input(payee, [token])]


def test_two_payees_click_distribute_and_withdraw_in_the_same_block(market, fan, pair, duo):
    sid, track = duo
    market.buy(track, 10_000, {"from": fan, "value": 10_000})
    net = 10_000 - 500
    before = [p.balance() for p in pair]
    first, second = send_in_one_block(market, [(p, payout_batch(market, sid, ETH, p)) for p in pair])
    assert first["status"] == 1 and second["status"] == 1
    # The first distributed, the second's distribute was a no-op (no event), and each
    # withdrawal paid its sender exactly its share.
    assert [e["amount"] for e in events(market, first, "SplitDistributed")] == [net]
    assert events(market, second, "SplitDistributed") == []
    assert [p.balance() - b for p, b in zip(pair, before)] == [net * 7 // 10, net * 3 // 10]
    assert market.owed(pair[0], ETH) == market.owed(pair[1], ETH) == market.splitBalance(sid, ETH) == 0
    assert market.balance() == market.owed(market.feeRecipient(), ETH)


def test_the_second_batch_pays_exactly_when_a_sale_lands_between(market, fan, pair, duo):
    """Sale, the first payee's batch, another sale, the second payee's batch, one block:
    the second distributes the second sale only and is paid its share of both; the first
    payee's share of the second sale waits in `owed`."""
    sid, track = duo
    before = [p.balance() for p in pair]
    sale = {"from": str(fan), "to": str(market), "gas": 200_000, "gasPrice": 0, "value": 10_000,
            "data": market.buy.encode_input(track, 10_000)}
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [web3.eth.send_transaction(sale)]
        hashes.append(web3.eth.send_transaction({"from": str(pair[0]), "to": str(market), "gas": 1_000_000,
                                                 "gasPrice": 0, "data": market.multicall.encode_input(
                                                     payout_batch(market, sid, ETH, pair[0]))}))
        hashes.append(web3.eth.send_transaction(sale))
        hashes.append(web3.eth.send_transaction({"from": str(pair[1]), "to": str(market), "gas": 1_000_000,
                                                 "gasPrice": 0, "data": market.multicall.encode_input(
                                                     payout_batch(market, sid, ETH, pair[1]))}))
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    receipts = [web3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert [r["status"] for r in receipts] == [1, 1, 1, 1]
    assert len({r["blockNumber"] for r in receipts}) == 1
    net = 9_500
    assert [p.balance() - b for p, b in zip(pair, before)] == [net * 7 // 10, 2 * (net * 3 // 10)]
    assert market.owed(pair[0], ETH) == net * 7 // 10
    assert market.owed(pair[1], ETH) == 0 and market.splitBalance(sid, ETH) == 0


def test_an_erc20_batch_race_pays_exactly(market, owner, fan, pair, artist, usdc):
    recipients, shares = sorted_split([(pair[0], 500_001), (pair[1], 499_999)])
    sid = market.createSplit(recipients, shares, {"from": artist}).return_value
    track = market.registerTrack("bafkreiusdcbatch", sid, usdc, 1, b"", {"from": artist}).return_value
    market.buy(track, 3_333_333, {"from": fan})
    net = 3_333_333 - 3_333_333 * 500 // 10_000
    before = [usdc.balanceOf(p) for p in pair]
    receipts = send_in_one_block(market, [(p, payout_batch(market, sid, usdc, p)) for p in reversed(pair)])
    assert all(r["status"] == 1 for r in receipts)
    second_part = net * 499_999 // 1_000_000
    assert [usdc.balanceOf(p) - b for p, b in zip(pair, before)] == [net - second_part, second_part]
    assert usdc.balanceOf(market) == market.owed(market.feeRecipient(), usdc)


def test_a_batch_with_withdraw_to_races_too(market, fan, pair, duo, accounts):
    sid, track = duo
    market.buy(track, 10_000, {"from": fan, "value": 10_000})
    to = accounts[8]
    before = to.balance()
    recipients, shares = split_data(market, sid)
    calls = [market.distribute.encode_input(sid, ETH, recipients, shares),
             market.withdrawTo.encode_input(to, [ETH])]
    receipts = send_in_one_block(market, [(pair[1], calls), (pair[0], calls)])
    assert all(r["status"] == 1 for r in receipts)
    assert to.balance() - before == 9_500
    assert market.owed(pair[0], ETH) == market.owed(pair[1], ETH) == 0


def test_a_failing_step_reverts_the_whole_batch(market, fan, pair, duo, reverts_with):
    sid, track = duo
    market.buy(track, 10_000, {"from": fan, "value": 10_000})
    recipients, shares = split_data(market, sid)
    calls = [market.distribute.encode_input(sid, ETH, recipients, shares),
             market.distribute.encode_input(sid, ETH, list(reversed(recipients)), list(reversed(shares)))]
    with reverts_with("Marketplace__WrongSplitData", sid):
        market.multicall(calls, {"from": pair[0]})
    assert market.splitBalance(sid, ETH) == 9_500


# ---------------------------------------------------------------- pools: claim + distribute + withdraw


@pytest.fixture
def published(market, owner, accounts, duo):
    """Epoch 0's pool (10,000 wei) published with 9,000 allocated to the duo split."""
    sid, _ = duo
    market.depositToPool(0, ETH, 10_000, {"from": accounts[5], "value": 10_000})
    a = Allocation("0x" + bytes(sid).hex(), ETH, 9_000)
    tree = MerkleTree(0, [a])
    goto_epoch(market, 1)
    market.publishEpoch(0, "0x" + tree.root.hex(), LISTENS, "bafkreireport", [9_000], [1_000], {"from": owner})
    return a, ["0x" + p.hex() for p in tree.proof(a)]


def test_two_payees_click_claim_distribute_withdraw_in_the_same_block(market, pair, duo, published):
    sid, _ = duo
    a, proof = published
    recipients, shares = split_data(market, sid)

    def batch(payee):
        return [market.claimFromPool.encode_input(0, sid, ETH, a.amount, proof),
                market.distribute.encode_input(sid, ETH, recipients, shares),
                market.withdraw.encode_input(payee, [ETH])]

    before = [p.balance() for p in pair]
    first, second = send_in_one_block(market, [(p, batch(p)) for p in pair])
    assert first["status"] == second["status"] == 1
    assert len(events(market, first, "PoolClaimed")) == 1 and events(market, second, "PoolClaimed") == []
    assert events(market, second, "SplitDistributed") == []
    assert [p.balance() - b for p, b in zip(pair, before)] == [6_300, 2_700]
    assert market.poolUnclaimed(0, ETH) == 0 and market.splitBalance(sid, ETH) == 0
    assert market.balance() == market.owed(market.feeRecipient(), ETH)


def test_a_claim_batch_returns_what_each_step_did(market, pair, duo, published):
    """multicall returns each call's result: true then false for the claim, the amount
    then 0 for distribute."""
    from eth_abi import decode

    sid, _ = duo
    a, proof = published
    recipients, shares = split_data(market, sid)
    calls = [market.claimFromPool.encode_input(0, sid, ETH, a.amount, proof),
             market.distribute.encode_input(sid, ETH, recipients, shares)]
    results = market.multicall.call(calls, {"from": pair[0]})
    assert decode(["bool"], bytes(results[0]))[0] is True and decode(["uint256"], bytes(results[1]))[0] == 9_000
    market.multicall(calls, {"from": pair[0]})
    results = market.multicall.call(calls, {"from": pair[1]})
    assert decode(["bool"], bytes(results[0]))[0] is False and decode(["uint256"], bytes(results[1]))[0] == 0
