"""The money edges of issue 17, attacked for real: web3 against Anvil (Ninety's own
supervisor starts it) and the Marketplace deployed there, each attack sent as a real,
mined transaction from the attacker's account.

- A silent cut: an artist tries to move a track to a split that drops a collaborator
  (proposeSplit, the old updateTrack with a split, another split's data claimed as the
  current one, a chain of moves, consenting on the collaborator's behalf, a batch that
  proposes and accepts): nothing moves without the collaborator's own acceptSplit, and
  sales keep paying the split the collaborator agreed to.
- A payee that rejects ETH: its own withdrawal fails (and only its own), and withdrawTo,
  sent from its address, pays it elsewhere.
- A co-payee front-runs a payee's one-click batch (distribute + withdraw, or claim +
  distribute + withdraw) with a higher fee, or a stranger withdraws for the payee first:
  the batch still succeeds and every payee is paid exactly.
- The Marketplace as a payee: as fee recipient (constructor, setFeeRecipient), in a
  split, as a withdrawTo destination, as an allowed token: all refused.
- The owner renounces ownership: refused, the owner stays and can still publish epochs.
"""
from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak, to_canonical_address, to_checksum_address
from web3 import Web3

from ninety.contract import load_abi
from ninety.market import ETH, bytecode, sorted_split
from ninety.merkle import Allocation, MerkleTree
from tests.support.activity import advance_epoch, new_world

ARTIST, COLLAB, PRODUCER, STRANGER, FAN = 1, 2, 3, 4, 5


@pytest.fixture
def world(anvil):
    return new_world(anvil.url)


def errors_by_selector():
    return {"0x" + keccak(f"{e['name']}({','.join(i['type'] for i in e['inputs'])})".encode()).hex()[:8]: e["name"]
            for e in load_abi("Marketplace") if e["type"] == "error"}


ERRORS = errors_by_selector()


def attempt(world, fn_or_data, sender, value=0, to=None):
    """Send a transaction that must fail, for real (mined, status 0; gas given so no
    estimate stops it before the chain), and return the custom error's name, read by an
    eth_call of the same at the block before."""
    w3 = world.w3
    data = fn_or_data if isinstance(fn_or_data, str) else fn_or_data._encode_transaction_data()
    tx = {"from": Web3.to_checksum_address(sender), "to": to or world.market.address, "data": data,
          "value": value}
    block = w3.eth.block_number
    answer = w3.provider.make_request("eth_call", [{**tx, "value": hex(value)}, hex(block)])
    tx_hash = w3.eth.send_transaction({**tx, "gas": 1_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 0, f"accepted: {data[:10]}"
    assert "error" in answer, answer
    revert = answer["error"].get("data") or "0x"
    return ERRORS.get(revert[:10], revert)


def split_of(world, pairs, sender=None):
    return world.market.create_split(pairs, sender or world.accounts[ARTIST])


def eth_balance(world, who):
    return world.w3.eth.get_balance(Web3.to_checksum_address(who))


def spent_on_gas(receipt):
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


# ---------------------------------------------------------------- the silent cut


def test_an_artist_cannot_drop_a_collaborator_without_consent(world):
    m, acc = world.market, world.accounts
    artist, collab = acc[ARTIST], acc[COLLAB]
    agreed = split_of(world, [(artist, 600_000), (collab, 400_000)])
    track = m.register("bafkreisong", agreed, ETH, 0, artist)
    solo = split_of(world, [(artist, 1_000_000)])
    f = m.contract.functions

    # 1. Propose the cut: recorded as waiting for the collaborator, the track does not move.
    assert m.propose_split(track, solo, artist) is False
    assert m.track_split(track) == agreed
    assert m.pending_split_change(track, solo, collab) == (1, True)
    # 2. The old updateTrack(trackId, price, splitId, listed) is gone: its calldata reverts.
    old = "0x" + keccak(b"updateTrack(uint256,uint256,bytes32,bool)").hex()[:8] + Web3().codec.encode(
        ["uint256", "uint256", "bytes32", "bool"], [track, 0, bytes.fromhex(solo[2:]), True]).hex()
    assert attempt(world, old, artist) == "0x"  # no such function (and no fallback)
    # 3. Claim the track is on a split without the collaborator (the solo split's data).
    assert attempt(world, f.proposeSplit(track, m.split_data(solo), m.split_data(solo)), artist) == \
        "Marketplace__WrongSplitData"
    other = split_of(world, [(artist, 500_000), (acc[PRODUCER], 500_000)])
    assert attempt(world, f.proposeSplit(track, m.split_data(other), m.split_data(solo)), artist) == \
        "Marketplace__WrongSplitData"
    # 4. Consent on the collaborator's behalf, directly or inside the artist's own batch.
    assert attempt(world, f.acceptSplit(track, solo), artist) == "Marketplace__ConsentNotNeeded"
    batch = f.multicall([f.acceptSplit(track, solo)._encode_transaction_data()])
    assert attempt(world, batch, artist) == "Marketplace__ConsentNotNeeded"
    # 5. A stranger's consent does not count either.
    assert attempt(world, f.acceptSplit(track, solo), acc[STRANGER]) == "Marketplace__ConsentNotNeeded"
    assert m.track_split(track) == agreed

    # Sales meanwhile pay the agreed split, and the collaborator is paid its 40%.
    m.buy(track, 10**18, acc[FAN])
    m.distribute(agreed, ETH, acc[STRANGER])
    assert m.owed(collab, ETH) == 10**18 * 95 // 100 * 4 // 10

    # Only the collaborator's own acceptance moves the track.
    assert m.accept_split(track, solo, collab) is True
    assert m.track_split(track) == solo


def test_a_chain_of_moves_that_need_no_consent_cannot_cut_either(world):
    """Raise the collaborator (lands at once), then 'return' to a split where they have
    less than before the raise: measured against the split the track is on, that is a
    cut and waits."""
    m, acc = world.market, world.accounts
    artist, collab = acc[ARTIST], acc[COLLAB]
    start = split_of(world, [(artist, 600_000), (collab, 400_000)])
    track = m.register("bafkreichain", start, ETH, 0, artist)
    up = split_of(world, [(artist, 500_000), (collab, 500_000)])
    assert m.propose_split(track, up, artist) is True
    down = split_of(world, [(artist, 900_000), (collab, 100_000)])
    assert m.propose_split(track, down, artist) is False
    # Back to the start is also a cut now (50% -> 40%): it waits too.
    assert m.propose_split(track, start, artist) is False
    assert m.track_split(track) == up
    # A consent to one proposal does not carry over to another, nor past a cancel.
    m.cancel_split_proposals(track, artist)
    assert attempt(world, m.contract.functions.acceptSplit(track, down), collab) == "Marketplace__ConsentNotNeeded"
    assert m.track_split(track) == up


def test_a_stale_consent_cannot_be_replayed_after_the_track_returned(world):
    """The collaborator accepted a cut once; the artist later moved the track back up and
    then proposes the same cut again: the old acceptance is spent, a new one is needed."""
    m, acc = world.market, world.accounts
    artist, collab = acc[ARTIST], acc[COLLAB]
    start = split_of(world, [(artist, 600_000), (collab, 400_000)])
    track = m.register("bafkreireplay", start, ETH, 0, artist)
    cut = split_of(world, [(artist, 800_000), (collab, 200_000)])
    assert m.propose_split(track, cut, artist) is False
    assert m.accept_split(track, cut, collab) is True
    assert m.propose_split(track, start, artist) is True  # a raise for the collaborator
    assert m.propose_split(track, cut, artist) is False
    assert m.pending_split_change(track, cut, collab) == (1, True)
    assert m.track_split(track) == start


# ---------------------------------------------------------------- a payee that rejects ETH


def test_a_payee_that_rejects_eth_is_paid_elsewhere(world):
    m, acc, w3 = world.market, world.accounts, world.w3
    factory = w3.eth.contract(abi=load_abi("RejectingPayee"), bytecode=bytecode("RejectingPayee"))
    rejecting = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": acc[STRANGER]}))["contractAddress"]
    sid = split_of(world, [(rejecting, 500_000), (acc[COLLAB], 500_000)])
    track = m.register("bafkreireject", sid, ETH, 0, acc[ARTIST])
    m.buy(track, 10_000, acc[FAN])
    m.distribute(sid, ETH, acc[FAN])
    owed = m.owed(rejecting, ETH)
    assert owed == 4_750
    f = m.contract.functions
    assert attempt(world, f.withdraw(rejecting, [ETH]), acc[FAN]) == "Marketplace__EthTransferFailed"
    assert m.owed(rejecting, ETH) == owed
    # The co-payee is not held up by it.
    before = eth_balance(world, acc[COLLAB])
    receipt = m.withdraw(acc[COLLAB], [ETH], acc[COLLAB])
    assert eth_balance(world, acc[COLLAB]) - before + spent_on_gas(receipt) == 4_750
    # The contract payee sends withdrawTo from its own address (impersonated here).
    w3.provider.make_request("anvil_impersonateAccount", [rejecting])
    w3.provider.make_request("anvil_setBalance", [rejecting, hex(10**18)])
    try:
        safe = acc[6]
        before = eth_balance(world, safe)
        receipt = m.withdraw_to(safe, [ETH], rejecting)
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [rejecting])
    assert eth_balance(world, safe) - before == owed
    event = m.contract.events.Withdrawal().process_receipt(receipt)[0]["args"]
    assert (event["account"], event["amount"], event["to"]) == (rejecting, owed, safe)
    assert m.owed(rejecting, ETH) == 0
    assert eth_balance(world, m.address) == m.owed(acc[9], ETH)


# ---------------------------------------------------------------- front-running the one-click batch


def mine_in_fee_order(world, txs):
    """Send `txs` (dicts with their priority fee) without mining, then mine one block:
    Anvil orders it by fee, as a block builder would. Returns receipts in sending order."""
    w3 = world.w3
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [w3.eth.send_transaction(tx) for tx in txs]
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    receipts = [w3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    return receipts


def batch_tx(world, sender, calls, tip):
    base = world.w3.eth.get_block("latest")["baseFeePerGas"]
    return {"from": Web3.to_checksum_address(sender), "to": world.market.address, "gas": 1_000_000,
            "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip,
            "data": world.market.contract.functions.multicall(calls)._encode_transaction_data()}


def test_a_co_payee_front_running_the_batch_leaves_it_paying_exactly(world):
    m, acc = world.market, world.accounts
    payee, rival = acc[COLLAB], acc[PRODUCER]
    sid = split_of(world, [(payee, 700_000), (rival, 300_000)])
    track = m.register("bafkreirace", sid, ETH, 0, acc[ARTIST])
    m.buy(track, 10**18, acc[FAN])
    net = 10**18 * 95 // 100
    f = m.contract.functions
    recipients, shares = m.split_data(sid)

    def one_click(who):
        return [f.distribute(sid, ETH, recipients, shares)._encode_transaction_data(),
                f.withdraw(who, [ETH])._encode_transaction_data()]

    before = {who: eth_balance(world, who) for who in (payee, rival)}
    # The payee clicks first; the rival sees it and outbids it for the same batch, and a
    # stranger even withdraws for the payee with a higher fee still.
    mine = batch_tx(world, payee, one_click(payee), 10**9)
    theirs = batch_tx(world, rival, one_click(rival), 5 * 10**9)
    griefer = {"from": acc[STRANGER], "to": m.address, "gas": 200_000, "maxPriorityFeePerGas": 9 * 10**9,
               "maxFeePerGas": 2 * world.w3.eth.get_block("latest")["baseFeePerGas"] + 9 * 10**9,
               "data": f.withdraw(payee, [ETH])._encode_transaction_data()}
    r_mine, r_theirs, r_grief = mine_in_fee_order(world, [mine, theirs, griefer])
    assert r_theirs["transactionIndex"] < r_mine["transactionIndex"], "the front-run did not go first"
    assert r_mine["status"] == r_theirs["status"] == r_grief["status"] == 1
    distributed = m.contract.events.SplitDistributed()
    assert len(distributed.process_receipt(r_theirs)) == 1 and distributed.process_receipt(r_mine) == ()
    assert eth_balance(world, payee) - before[payee] + spent_on_gas(r_mine) == net * 7 // 10
    assert eth_balance(world, rival) - before[rival] + spent_on_gas(r_theirs) == net - net * 7 // 10
    assert m.owed(payee, ETH) == m.owed(rival, ETH) == 0
    assert eth_balance(world, m.address) == m.owed(acc[9], ETH)


def test_a_front_run_pool_claim_leaves_the_claim_batch_paying_exactly(world):
    m, acc = world.market, world.accounts
    payee, rival = acc[COLLAB], acc[PRODUCER]
    sid = split_of(world, [(payee, 500_000), (rival, 500_000)])
    m.deposit_to_pool(0, ETH, 10_000, acc[6])
    allocation = Allocation(sid, ETH, 9_000)
    tree = MerkleTree(0, [allocation])
    advance_epoch(world)
    m.publish_epoch(0, tree.root, b"\x11" * 32, "bafkreireport", [9_000], [1_000], world.owner)
    f = m.contract.functions
    recipients, shares = m.split_data(sid)
    proof = tree.proof(allocation)

    def one_click(who):
        return [f.claimFromPool(0, sid, ETH, 9_000, proof)._encode_transaction_data(),
                f.distribute(sid, ETH, recipients, shares)._encode_transaction_data(),
                f.withdraw(who, [ETH])._encode_transaction_data()]

    before = {who: eth_balance(world, who) for who in (payee, rival)}
    r_mine, r_theirs = mine_in_fee_order(world, [batch_tx(world, payee, one_click(payee), 10**9),
                                                 batch_tx(world, rival, one_click(rival), 5 * 10**9)])
    assert r_theirs["transactionIndex"] < r_mine["transactionIndex"]
    assert r_mine["status"] == r_theirs["status"] == 1
    claimed = m.contract.events.PoolClaimed()
    assert len(claimed.process_receipt(r_theirs)) == 1 and claimed.process_receipt(r_mine) == ()
    assert eth_balance(world, payee) - before[payee] + spent_on_gas(r_mine) == 4_500
    assert eth_balance(world, rival) - before[rival] + spent_on_gas(r_theirs) == 4_500
    assert m.contract.functions.poolUnclaimed(0, ETH).call() == 0


# ---------------------------------------------------------------- the Marketplace as a payee


def test_the_marketplace_cannot_be_made_a_payee(world):
    m, acc, w3 = world.market, world.accounts, world.w3
    f = m.contract.functions
    owner = world.owner
    assert attempt(world, f.setFeeRecipient(m.address), owner) == "Marketplace__MarketplaceAsRecipient"
    assert f.feeRecipient().call() == acc[9]
    assert attempt(world, f.setTokenAllowed(m.address, True), owner) == "Marketplace__MarketplaceAsRecipient"
    recipients, shares = sorted_split([(m.address, 500_000), (acc[COLLAB], 500_000)])
    assert attempt(world, f.createSplit(recipients, shares), acc[ARTIST]) == "Marketplace__MarketplaceAsRecipient"
    # A payee sending its earnings to the Marketplace would strand them: refused.
    sid = split_of(world, [(acc[COLLAB], 1_000_000)])
    track = m.register("bafkreiself", sid, ETH, 0, acc[ARTIST])
    m.buy(track, 1_000, acc[FAN])
    m.distribute(sid, ETH, acc[FAN])
    assert attempt(world, f.withdrawTo(m.address, [ETH]), acc[COLLAB]) == "Marketplace__MarketplaceAsRecipient"
    assert m.owed(acc[COLLAB], ETH) == 950
    # Deployed with its own future address as fee recipient: refused too.
    nonce = w3.eth.get_transaction_count(owner)
    itself = to_checksum_address(keccak(rlp.encode([to_canonical_address(owner), nonce]))[12:])
    deploy = bytecode("Marketplace") + Web3().codec.encode(["address", "uint16", "uint32"], [itself, 500, 3600]).hex()
    answer = w3.provider.make_request("eth_call", [{"from": owner, "data": deploy}, "latest"])
    assert ERRORS.get(answer["error"]["data"][:10]) == "Marketplace__MarketplaceAsRecipient"
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": owner, "data": deploy,
                                                                           "gas": 8_000_000}))
    assert receipt["status"] == 0 and w3.eth.get_code(itself) == b""


# ---------------------------------------------------------------- the owner renounces


def test_the_owner_cannot_renounce(world):
    m, acc = world.market, world.accounts
    f = m.contract.functions
    assert attempt(world, f.renounceOwnership(), world.owner) == "Marketplace__RenounceDisabled"
    assert f.owner().call() == world.owner
    assert attempt(world, f.renounceOwnership(), acc[STRANGER]) == "OwnableUnauthorizedAccount"
    # The owner still publishes the epochs pools depend on.
    m.deposit_to_pool(0, ETH, 1_000, acc[6])
    sid = split_of(world, [(acc[COLLAB], 1_000_000)])
    tree = MerkleTree(0, [Allocation(sid, ETH, 900)])
    advance_epoch(world)
    m.publish_epoch(0, tree.root, b"\x11" * 32, "bafkreireport", [900], [100], world.owner)
    assert f.nextEpochToPublish().call() == 1
