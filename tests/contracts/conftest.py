"""Fixtures for the Marketplace contract tests (Brownie on its own Anvil), and the helpers
several test modules share (imported as `from conftest import ...`)."""
import time

import pytest
from brownie.exceptions import VirtualMachineError
from eth_utils import keccak

from ninety.merkle import Allocation, MerkleTree

ETH = "0x0000000000000000000000000000000000000000"
FEE_BPS = 500  # 5%: a fee different from the cap catches code that confuses the two
EPOCH_SECONDS = 3600  # one hour: a module never runs long enough to cross an epoch by itself
RULES_HASH = "0x" + keccak(b"rules").hex()
RULES_CID = "bafyrulesdefault"


@pytest.fixture(autouse=True)
def isolate(fn_isolation):
    """Each test starts from the chain state the module fixtures built."""


@pytest.fixture(scope="module")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def fee_recipient(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def artist(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def fan(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def market(Marketplace, owner, fee_recipient):
    """The marketplace in epoch 0, its pool rules committed from epoch 0 on (as
    `ninety deploy` does), so pools can be funded at once."""
    m = Marketplace.deploy(fee_recipient, FEE_BPS, EPOCH_SECONDS, {"from": owner})
    m.setPoolRules(RULES_HASH, RULES_CID, {"from": owner})
    return m


def block_time():
    """The latest block's timestamp: what the next transaction's `block.timestamp` is at
    least (Anvil's wall-clock time moves on by a second or two within a test)."""
    from brownie import web3

    return web3.eth.get_block("latest")["timestamp"]


def goto_epoch(market, epoch, into=60):
    """Move block time to `into` seconds after epoch `epoch` starts and mine a block.
    Time only moves forward: asking for an epoch already past is a test bug."""
    from brownie import chain

    target = market.epochStart() + epoch * market.epochSeconds() + into
    delta = target - block_time()
    # Asking again for the epoch the chain is in is fine (Anvil's clock moved on by a
    # second since the last call); asking for an earlier one is not.
    assert delta >= 0 or market.currentEpoch() == epoch, f"block time is already past epoch {epoch} + {into}s"
    if delta > 0:
        chain.sleep(delta)
    chain.mine()
    assert market.currentEpoch() == epoch


def mine_at(timestamp):
    """Mine the next block at exactly `timestamp` (for boundary tests); later blocks
    follow from there."""
    from brownie import chain, web3

    web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
    chain.mine()
    assert block_time() == timestamp


def end_epoch(market):
    """Move to the start (+60 s) of the epoch after the current one."""
    goto_epoch(market, market.currentEpoch() + 1)


@pytest.fixture(scope="module")
def usdc(MockUSDC, market, owner, fan):
    token = MockUSDC.deploy({"from": owner})
    market.setTokenAllowed(token, True, {"from": owner})
    token.mint(fan, 10**12, {"from": owner})
    token.approve(market, 2**256 - 1, {"from": fan})
    return token


def sorted_split(accounts_and_shares):
    """(recipients, shares) sorted by address as createSplit requires."""
    pairs = sorted(accounts_and_shares, key=lambda p: int(str(p[0]), 16))
    return [str(a) for a, _ in pairs], [s for _, s in pairs]


SPLIT_CREATED = "0x" + keccak(b"SplitCreated(bytes32,address[],uint32[])").hex()


def split_data(market, split_id):
    """(recipients, shares) of split `split_id`, read back from its SplitCreated event as
    an indexer does: the contract stores only the hash (there is no getSplit)."""
    from brownie import web3
    from eth_abi import decode

    sid = split_id if isinstance(split_id, str) else "0x" + bytes(split_id).hex()
    sid = "0x" + sid.removeprefix("0x").rjust(64, "0")
    logs = web3.eth.get_logs({"address": str(market.address), "fromBlock": 0, "toBlock": "latest",
                              "topics": [SPLIT_CREATED, sid]})
    assert len(logs) == 1, f"split {sid}: {len(logs)} SplitCreated events"
    recipients, shares = decode(["address[]", "uint32[]"], bytes(logs[0]["data"]))
    return [web3.to_checksum_address(r) for r in recipients], list(shares)


def split_id_of(recipients, shares):
    """keccak256(abi.encode(recipients, sharesPpm)), as the contract computes it."""
    from eth_abi import encode

    return "0x" + keccak(encode(["address[]", "uint32[]"], [[str(r) for r in recipients], list(shares)])).hex()


def distribute(market, split_id, token, sender):
    """`distribute` with the split's data as calldata (taken from its SplitCreated event)."""
    recipients, shares = split_data(market, split_id)
    return market.distribute(split_id, token, recipients, shares, {"from": sender})


@pytest.fixture(scope="module")
def split_of(market, artist):
    def make(pairs, sender=None):
        recipients, shares = sorted_split(pairs)
        tx = market.createSplit(recipients, shares, {"from": sender or artist})
        return tx.return_value
    return make


@pytest.fixture(scope="module")
def sell_to_split(market, split_of, artist, fan):
    """Create a split, sell one ETH track into it for `amount` and distribute: each payee
    then has a credited `owed` balance. Returns the track id."""
    def sell(pairs, amount=1000):
        sid = split_of(pairs)
        track = market.registerTrack("x", sid, ETH, 0, b"", {"from": artist}).return_value
        market.buy(track, amount, {"from": fan, "value": amount})
        distribute(market, sid, ETH, fan)
        return track
    return sell


@pytest.fixture(scope="module")
def solo_split(split_of, artist):
    return split_of([(artist, 1_000_000)])


@pytest.fixture(scope="module")
def eth_track(market, artist, solo_split):
    tx = market.registerTrack("bafkreiethtrack", solo_split, ETH, 10**16, b"", {"from": artist})
    return tx.return_value


@pytest.fixture(scope="module")
def usdc_track(market, artist, solo_split, usdc):
    tx = market.registerTrack("bafkreiusdctrack", solo_split, usdc, 5_000_000, b"", {"from": artist})
    return tx.return_value


# ---------------------------------------------------------------- signatures: listing attestations, permits

LISTING = {"Listing": [{"name": "metadataCid", "type": "string"}, {"name": "registrant", "type": "address"},
                       {"name": "splitId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}]}
RELEASE = {"Release": [{"name": "metadataCid", "type": "string"}, {"name": "registrant", "type": "address"},
                       {"name": "splitId", "type": "bytes32"}, {"name": "trackIds", "type": "uint256[]"},
                       {"name": "deadline", "type": "uint256"}]}
PERMIT = {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                     {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                     {"name": "deadline", "type": "uint256"}]}
# Anvil's default mnemonic (brownie starts it without one): the keys of `accounts`, so tests
# can sign off-chain as them. `anvil_key` checks the derived address, so a change fails loudly.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def signable(market, cid, registrant, split, deadline, chain_id=None, contract=None, track_ids=None):
    """The EIP-712 message of a track's listing attestation, or with `track_ids` a release's
    (Release(metadataCid, registrant, splitId, trackIds, deadline))."""
    import brownie
    from eth_account.messages import encode_typed_data

    message = {"metadataCid": cid, "registrant": str(registrant), "splitId": bytes.fromhex(str(split)[2:]),
               "deadline": deadline}
    if track_ids is not None:
        message["trackIds"] = [int(t) for t in track_ids]
    return encode_typed_data(
        domain_data={"name": "Ninety", "version": "1", "chainId": chain_id or brownie.chain.id,
                     "verifyingContract": contract or market.address},
        message_types=LISTING if track_ids is None else RELEASE, message_data=message)


def attest(key, market, cid, registrant, split, chain_id=None, contract=None, deadline=None, track_ids=None):
    """A listing attestation in its wire format: the 32-byte deadline, then the catalog
    signer's (`key`, an eth_account account) 65-byte signature; a release's with `track_ids`."""
    import brownie
    from eth_account import Account

    deadline = brownie.chain.time() + 3600 if deadline is None else deadline
    message = signable(market, cid, registrant, split, deadline, chain_id, contract, track_ids)
    return deadline.to_bytes(32, "big") + bytes(Account.sign_message(message, key.key).signature)


def anvil_key(account):
    """The private key of one of Anvil's default accounts."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    for i in range(20):
        local = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        if local.address == str(account):
            return local.key
    raise AssertionError(f"{account} is not one of Anvil's default accounts")


def permit(token, owner_key, owner, spender, value, deadline, nonce=None):
    """(v, r, s) of an EIP-2612 permit signed with `owner_key`, on the domain the token
    reports through EIP-5267 `eip712Domain()` (as a wallet builds it); the owner's
    current nonce unless `nonce` is given."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    _, name, version, chain_id, contract, _, _ = token.eip712Domain()
    message = {"owner": str(owner), "spender": str(spender), "value": value,
               "nonce": token.nonces(owner) if nonce is None else nonce, "deadline": deadline}
    signed = Account.sign_message(encode_typed_data(
        domain_data={"name": name, "version": version, "chainId": chain_id, "verifyingContract": str(contract)},
        message_types=PERMIT, message_data=message), owner_key)
    return signed.v, "0x" + signed.r.to_bytes(32, "big").hex(), "0x" + signed.s.to_bytes(32, "big").hex()


# ---------------------------------------------------------------- sponsor pools (tests/contracts/test_pool_*.py)

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


# ---------------------------------------------------------------- the money machine (test_invariants.py)

MAX_FEE_BPS = 1000
ZERO_ROOT = "0x" + "00" * 32


def refused(error, fn, *args):
    """Call a transaction that must revert with the custom error `error`."""
    try:
        fn(*args)
    except VirtualMachineError as exc:
        assert str(exc.revert_msg).startswith(error + ":"), (error, exc.revert_msg)
        return
    raise AssertionError(f"{fn} {args} was accepted; expected {error}")


def refused_with(message, fn, *args):
    """Call a transaction that must revert with exactly `message` (the error and its values
    as brownie shows them, e.g. "Marketplace__TrackBlocked: 3"; addresses in any case)."""
    try:
        fn(*args)
    except VirtualMachineError as exc:
        assert str(exc.revert_msg).lower() == message.lower(), (message, exc.revert_msg)
        return
    raise AssertionError(f"{fn} {args} was accepted; expected {message}")


def losers(current, new, artist):
    """The payees of `current` whose share `new` lowers (leaving = 0), but the artist, in
    `current`'s order: whose consent the change needs."""
    kept = dict(zip(*new))
    return [r for r, share in zip(*current) if kept.get(r, 0) < share and r != artist]


@pytest.fixture(scope="module")
def reverts_with(market):
    """Context manager asserting a revert with the custom error `name` and its values."""
    import brownie
    from eth_abi import decode, encode

    errors = {e["name"]: e for e in market.abi if e["type"] == "error"}

    def expect(name, *values):
        types = [i["type"] for i in errors[name]["inputs"]]
        values = [bytes.fromhex(str(v)[2:]) if t == "bytes32" else v for t, v in zip(types, values)]
        # Format the values exactly as brownie does when it decodes a typed error.
        shown = decode(types, encode(types, list(values))) if types else ()
        return brownie.reverts(f"{name}: {', '.join(str(v) for v in shown)}")

    return expect


def _patient_receipts(web3) -> None:
    """Make Brownie look a receipt up again for a moment before it takes "not found" for an
    answer. Brownie's confirmation loop reads the sender's nonce, then the receipt, and calls
    the transaction dropped when the nonce moved past it and the receipt is missing. Under
    load (`make test` runs the Python suites beside this one) Anvil was seen to count a
    mined transaction in the nonce a moment before it serves its receipt, and tests failed
    with "Tx dropped without known replacement" (twice in CI, in different tests). A
    receipt still missing after the retries is reported as before."""
    from web3.exceptions import TransactionNotFound

    eth = web3.eth
    lookup = eth.get_transaction_receipt

    def patient(txid):
        for _ in range(20):
            try:
                return lookup(txid)
            except TransactionNotFound:
                time.sleep(0.05)
        return lookup(txid)

    eth.get_transaction_receipt = patient


def pytest_configure(config):
    """Run contract tests on a private Anvil, never on a chain someone uses on 8545.

    Brownie 1.22's compiled config loader cannot take `networks.development` from
    brownie-config.yaml, so the port is set here, before the plugin connects."""
    from brownie.network.web3 import web3

    _patient_receipts(web3)
    import os
    import socket

    from brownie._config import CONFIG

    port = os.environ.get("NINETY_TEST_CHAIN_PORT")
    if not port:
        # Below the kernel's ephemeral range (32768 and up), where every other test server
        # picks its port (bind to 0): `make test` starts both at once, and a port picked
        # free and released could otherwise be taken by the other side before its Anvil
        # binds it, leaving both suites on one chain (seen: "Tx dropped without known
        # replacement" when the other's transactions used our accounts' nonces).
        import random

        for candidate in random.Random().sample(range(20_000, 32_000), 200):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", candidate))
                except OSError:
                    continue
            port = candidate
            break
    CONFIG.networks["development"]["cmd_settings"]["port"] = int(port)
