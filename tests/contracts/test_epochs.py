"""Epochs as fixed windows of block time (epochStart, epochSeconds, currentEpoch), the pool
rules committed on chain before an epoch begins (setPoolRules, poolRulesHash), and the
EIP-712 digest a listener signs for a free download (freeDownloadDigest)."""
import brownie
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from conftest import EPOCH_SECONDS, ETH, FEE_BPS, RULES_CID, RULES_HASH, block_time, goto_epoch, mine_at

ZERO = "0x" + "00" * 32
H1, H2, H3 = ("0x" + keccak(text=t).hex() for t in ("rules-1", "rules-2", "rules-3"))


@pytest.fixture
def fresh(Marketplace, owner, fee_recipient):
    """A marketplace with no pool rules committed yet."""
    return Marketplace.deploy(fee_recipient, FEE_BPS, EPOCH_SECONDS, {"from": owner})


def rules_events(tx):
    return [list(e.values()) for e in tx.events["PoolRulesSet"]]


# ---------------------------------------------------------------- the clock


def test_epoch_zero_starts_at_deployment(market):
    assert market.epochSeconds() == EPOCH_SECONDS
    assert market.epochStart() == brownie.chain[market.tx.block_number].timestamp
    assert market.epochStart() <= block_time() < market.epochStart() + EPOCH_SECONDS
    assert market.currentEpoch() == 0


def test_current_epoch_turns_exactly_at_each_boundary(market):
    start = market.epochStart()
    mine_at(start + EPOCH_SECONDS - 1)
    assert market.currentEpoch() == 0
    mine_at(start + EPOCH_SECONDS)
    assert market.currentEpoch() == 1
    mine_at(start + 2 * EPOCH_SECONDS - 1)
    assert market.currentEpoch() == 1
    mine_at(start + 1_000 * EPOCH_SECONDS + 17)
    assert market.currentEpoch() == 1_000


def test_block_time_not_the_callers_clock_decides_the_epoch(market, owner, accounts):
    """A deposit sent in the last second of epoch 0 lands in epoch 0 (its block's time)."""
    end = market.epochStart() + EPOCH_SECONDS
    brownie.web3.provider.make_request("evm_setNextBlockTimestamp", [end - 1])
    market.depositToPool(0, ETH, 5, {"from": accounts[5], "value": 5})
    assert market.poolBalance(0, ETH) == 5
    brownie.web3.provider.make_request("evm_setNextBlockTimestamp", [end])
    with brownie.reverts("Marketplace__EpochEnded: 0, 1"):
        market.depositToPool(0, ETH, 5, {"from": accounts[5], "value": 5})


# ---------------------------------------------------------------- setPoolRules / poolRulesHash


def test_rules_set_in_epoch_zero_before_any_deposit_apply_from_epoch_zero(fresh, owner):
    assert fresh.poolRulesHash(0) == ZERO and fresh.poolRulesHash(5) == ZERO
    tx = fresh.setPoolRules(H1, "bafyrules1", {"from": owner})
    assert rules_events(tx) == [[0, H1, "bafyrules1"]]
    assert fresh.poolRulesHash(0) == H1 and fresh.poolRulesHash(10**9) == H1


def test_rules_for_the_same_epoch_overwrite_each_other(fresh, owner, accounts):
    fresh.setPoolRules(H1, "bafyrules1", {"from": owner})
    tx = fresh.setPoolRules(H2, "bafyrules2", {"from": owner})  # still epoch 0, still no deposit
    assert rules_events(tx) == [[0, H2, "bafyrules2"]]
    assert fresh.poolRulesHash(0) == H2
    fresh.depositToPool(0, ETH, 1, {"from": accounts[5], "value": 1})
    # Epoch 0's rules are fixed by the first deposit: now the next epoch's are set, twice.
    assert rules_events(fresh.setPoolRules(H3, "bafyrules3", {"from": owner})) == [[1, H3, "bafyrules3"]]
    assert rules_events(fresh.setPoolRules(H1, "bafyrules1", {"from": owner})) == [[1, H1, "bafyrules1"]]
    assert fresh.poolRulesHash(0) == H2 and fresh.poolRulesHash(1) == H1 and fresh.poolRulesHash(99) == H1


def test_a_deposit_into_a_later_epoch_also_fixes_epoch_zeros_rules(fresh, owner, accounts):
    fresh.setPoolRules(H1, "bafyrules1", {"from": owner})
    fresh.depositToPool(7, ETH, 1, {"from": accounts[5], "value": 1})
    assert rules_events(fresh.setPoolRules(H2, "bafyrules2", {"from": owner})) == [[1, H2, "bafyrules2"]]
    assert fresh.poolRulesHash(0) == H1 and fresh.poolRulesHash(7) == H2


def test_rules_never_change_for_an_epoch_that_has_begun(market, owner, accounts):
    goto_epoch(market, 3)
    tx = market.setPoolRules(H1, "bafyrules1", {"from": owner})
    assert rules_events(tx) == [[4, H1, "bafyrules1"]]
    assert market.poolRulesHash(3) == RULES_HASH and market.poolRulesHash(4) == H1
    assert market.poolRulesHash(0) == RULES_HASH and market.poolRulesHash(2000) == H1
    goto_epoch(market, 5)
    market.setPoolRules(H2, "bafyrules2", {"from": owner})
    assert [market.poolRulesHash(e) for e in (0, 3, 4, 5, 6, 7)] == [RULES_HASH] * 2 + [H1] * 2 + [H2] * 2


def test_after_epoch_zero_the_first_rules_apply_from_the_next_epoch(fresh, owner, accounts):
    """Even with no deposit yet, rules committed after epoch 0 ended never reach back."""
    goto_epoch(fresh, 2)
    tx = fresh.setPoolRules(H1, "bafyrules1", {"from": owner})
    assert rules_events(tx) == [[3, H1, "bafyrules1"]]
    assert fresh.poolRulesHash(2) == ZERO and fresh.poolRulesHash(3) == H1


def test_set_pool_rules_refuses_a_zero_hash_or_an_empty_cid(market, owner, reverts_with):
    with reverts_with("Marketplace__InvalidPoolRules"):
        market.setPoolRules(ZERO, "bafyrules", {"from": owner})
    with reverts_with("Marketplace__InvalidPoolRules"):
        market.setPoolRules(H1, "", {"from": owner})
    assert market.poolRulesHash(0) == RULES_HASH


def test_only_the_owner_sets_pool_rules(market, fan):
    with brownie.reverts(f"OwnableUnauthorizedAccount: {fan.address.lower()}"):
        market.setPoolRules(H1, "bafyrules1", {"from": fan})


def test_the_fixture_committed_the_default_rules(market):
    assert market.poolRulesHash(0) == RULES_HASH == "0x" + keccak(b"rules").hex()
    assert RULES_CID


# ---------------------------------------------------------------- freeDownloadDigest

FREE_DOWNLOAD = {"FreeDownload": [{"name": "trackId", "type": "uint256"}, {"name": "epoch", "type": "uint256"}]}


def typed(market, track_id, epoch, chain_id=None, contract=None):
    return encode_typed_data(
        domain_data={"name": "Ninety", "version": "1", "chainId": chain_id or brownie.chain.id,
                     "verifyingContract": contract or market.address},
        message_types=FREE_DOWNLOAD, message_data={"trackId": track_id, "epoch": epoch})


@pytest.mark.parametrize("track_id, epoch", [(1, 0), (42, 7), (2**256 - 1, 2**256 - 1)])
def test_free_download_digest_is_the_eip712_digest(market, track_id, epoch):
    message = typed(market, track_id, epoch)
    assert market.freeDownloadDigest(track_id, epoch) == "0x" + keccak(b"\x19\x01" + message.header + message.body).hex()


def test_free_download_digest_from_first_principles(market):
    """The same digest built by hand from the EIP-712 definitions (no typed-data library)."""
    domain_type = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    separator = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                              [domain_type, keccak(text="Ninety"), keccak(text="1"), brownie.chain.id, market.address]))
    struct = keccak(encode(["bytes32", "uint256", "uint256"],
                           [keccak(text="FreeDownload(uint256 trackId,uint256 epoch)"), 12, 3]))
    assert market.freeDownloadDigest(12, 3) == "0x" + keccak(b"\x19\x01" + separator + struct).hex()


def test_free_download_digest_binds_track_epoch_chain_and_contract(market, Marketplace, owner, fee_recipient):
    digest = market.freeDownloadDigest(5, 2)
    assert digest != market.freeDownloadDigest(5, 3) and digest != market.freeDownloadDigest(6, 2)
    other = Marketplace.deploy(fee_recipient, FEE_BPS, EPOCH_SECONDS, {"from": owner})
    assert other.freeDownloadDigest(5, 2) != digest
    wrong_chain = typed(market, 5, 2, chain_id=1)
    assert "0x" + keccak(b"\x19\x01" + wrong_chain.header + wrong_chain.body).hex() != digest
    # Not the listing digest's type either: the two signatures can never be swapped.
    assert market.listingDigest("5", owner, "0x" + "00" * 32, 2) != digest


def test_a_wallet_signature_of_the_typed_data_recovers_to_the_wallet(market):
    listener = Account.create()
    signed = Account.sign_message(typed(market, 9, 4), listener.key)
    assert Account._recover_hash(bytes.fromhex(str(market.freeDownloadDigest(9, 4))[2:]),
                                 signature=signed.signature) == listener.address


def test_the_python_helpers_match_the_contract(market):
    """ninety.attest (what the API and `ninety verify` use) computes the same digest."""
    from ninety import attest

    if not hasattr(attest, "free_download_digest"):
        pytest.fail("ninety.attest.free_download_digest is missing")
    listener = Account.create()
    digest = attest.free_download_digest(brownie.chain.id, market.address, 9, 4)
    assert "0x" + bytes(digest).hex() == market.freeDownloadDigest(9, 4)
    signature = Account.sign_message(typed(market, 9, 4), listener.key).signature
    assert attest.recover_free_download(brownie.chain.id, market.address, 9, 4, bytes(signature)) == listener.address.lower()
