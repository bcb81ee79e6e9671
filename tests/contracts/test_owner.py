"""Owner powers: fee within the cap, fee recipient, token allowlist, pause; two-step transfer."""
import brownie
from conftest import EPOCH_SECONDS, ETH, FEE_BPS


def test_constructor_sets_owner_fee_recipient_and_epochs(Marketplace, owner, fee_recipient):
    market = Marketplace.deploy(fee_recipient, FEE_BPS, 7 * 86400, {"from": owner})
    assert market.owner() == owner
    assert market.feeRecipient() == fee_recipient
    assert market.platformFeeBps() == FEE_BPS
    assert market.MAX_PLATFORM_FEE_BPS() == 1000
    assert market.salesPaused() is False
    # Epoch 0 starts at the deployment block's timestamp; nothing is published yet.
    assert market.epochStart() == brownie.chain[market.tx.block_number].timestamp
    assert market.epochSeconds() == 7 * 86400
    assert market.currentEpoch() == 0 and market.nextEpochToPublish() == 0
    assert market.RESCUE_EPOCHS() == 8 and market.MAX_EPOCHS_AHEAD() == 1000
    assert [list(e.values()) for e in market.tx.events["FeeRecipientChanged"]] == [[ETH, fee_recipient]]
    assert list(market.tx.events["PlatformFeeChanged"][0].values()) == [0, FEE_BPS]
    # No pool rules until the owner commits them.
    assert market.poolRulesHash(0) == "0x" + "00" * 32


def test_constructor_refuses_a_fee_above_the_cap(Marketplace, owner, fee_recipient):
    with brownie.reverts("Marketplace__FeeAboveCap: 1001, 1000"):
        Marketplace.deploy(fee_recipient, 1001, EPOCH_SECONDS, {"from": owner})


def test_constructor_refuses_zero_fee_recipient(Marketplace, owner):
    with brownie.reverts("Marketplace__ZeroAddress: "):
        Marketplace.deploy(ETH, 100, EPOCH_SECONDS, {"from": owner})


def test_constructor_refuses_the_marketplace_itself_as_fee_recipient(Marketplace, owner, fee_recipient):
    """The fee recipient given is the address the contract is being deployed at (the
    owner's next CREATE address)."""
    import rlp
    from brownie import web3
    from eth_utils import keccak, to_canonical_address, to_checksum_address

    def next_address():
        nonce = web3.eth.get_transaction_count(owner.address)
        return to_checksum_address(keccak(rlp.encode([to_canonical_address(owner.address), nonce]))[12:])

    with brownie.reverts("Marketplace__MarketplaceAsRecipient: "):
        Marketplace.deploy(next_address(), 100, EPOCH_SECONDS, {"from": owner})
    # The prediction is right: a deployment with another recipient lands exactly there.
    predicted = next_address()
    assert Marketplace.deploy(fee_recipient, 100, EPOCH_SECONDS, {"from": owner}).address == predicted


def test_constructor_refuses_a_zero_epoch_length(Marketplace, owner, fee_recipient):
    with brownie.reverts("Marketplace__ZeroEpochSeconds: "):
        Marketplace.deploy(fee_recipient, 100, 0, {"from": owner})


def test_constructor_takes_the_longest_epoch(Marketplace, owner, fee_recipient):
    market = Marketplace.deploy(fee_recipient, 100, 2**32 - 1, {"from": owner})
    assert market.epochSeconds() == 2**32 - 1 and market.currentEpoch() == 0


def test_set_platform_fee_up_to_the_cap(market, owner):
    tx = market.setPlatformFee(1000, {"from": owner})
    assert list(tx.events["PlatformFeeChanged"].values()) == [FEE_BPS, 1000]
    assert market.platformFeeBps() == 1000


def test_fee_above_the_cap_reverts(market, owner, reverts_with):
    with reverts_with("Marketplace__FeeAboveCap", 1001, 1000):
        market.setPlatformFee(1001, {"from": owner})
    with reverts_with("Marketplace__FeeAboveCap", 65535, 1000):
        market.setPlatformFee(65535, {"from": owner})


def test_set_fee_recipient_redirects_future_fees_only(market, owner, fan, accounts, eth_track, fee_recipient):
    market.buy(eth_track, 10**16, {"from": fan, "value": 10**16})
    old = market.owed(fee_recipient, ETH)
    tx = market.setFeeRecipient(accounts[8], {"from": owner})
    assert list(tx.events["FeeRecipientChanged"].values()) == [fee_recipient, accounts[8]]
    market.buy(eth_track, 10**16, {"from": fan, "value": 10**16})
    assert market.owed(fee_recipient, ETH) == old
    assert market.owed(accounts[8], ETH) == old


def test_zero_fee_recipient_reverts(market, owner, reverts_with):
    with reverts_with("Marketplace__ZeroAddress"):
        market.setFeeRecipient(ETH, {"from": owner})


def test_the_marketplace_cannot_be_the_fee_recipient(market, owner, fee_recipient, reverts_with):
    with reverts_with("Marketplace__MarketplaceAsRecipient"):
        market.setFeeRecipient(market, {"from": owner})
    assert market.feeRecipient() == fee_recipient


def test_the_marketplace_cannot_be_an_allowed_token(market, owner, reverts_with):
    for allowed in (True, False):
        with reverts_with("Marketplace__MarketplaceAsRecipient"):
            market.setTokenAllowed(market, allowed, {"from": owner})
    assert not market.tokenAllowed(market)


def test_renouncing_ownership_is_disabled(market, owner, accounts, reverts_with):
    with reverts_with("Marketplace__RenounceDisabled"):
        market.renounceOwnership({"from": owner})
    assert market.owner() == owner
    # A pending two-step transfer is untouched too, and a stranger is refused as before.
    market.transferOwnership(accounts[5], {"from": owner})
    with reverts_with("Marketplace__RenounceDisabled"):
        market.renounceOwnership({"from": owner})
    assert market.owner() == owner and market.pendingOwner() == accounts[5]
    with brownie.reverts(f"OwnableUnauthorizedAccount: {accounts[6].address.lower()}"):
        market.renounceOwnership({"from": accounts[6]})


def test_set_token_allowed_and_disallowed(market, owner, MockUSDC):
    token = MockUSDC.deploy({"from": owner})
    tx = market.setTokenAllowed(token, True, {"from": owner})
    assert list(tx.events["TokenAllowed"].values()) == [token, True]
    assert market.tokenAllowed(token)
    market.setTokenAllowed(token, False, {"from": owner})
    assert not market.tokenAllowed(token)


def test_allowing_the_zero_token_reverts(market, owner, reverts_with):
    with reverts_with("Marketplace__ZeroAddress"):
        market.setTokenAllowed(ETH, True, {"from": owner})


def test_pause_and_unpause(market, owner, fan, eth_track):
    assert market.pauseSales({"from": owner}).events["SalesPausedChanged"]["paused"] is True
    assert market.salesPaused()
    assert market.unpauseSales({"from": owner}).events["SalesPausedChanged"]["paused"] is False
    market.buy(eth_track, 10**16, {"from": fan, "value": 10**16})


def test_only_the_owner_uses_owner_powers(market, fan, MockUSDC):
    unauthorized = f"OwnableUnauthorizedAccount: {fan.address.lower()}"
    for call in (
        lambda: market.setPlatformFee(0, {"from": fan}),
        lambda: market.setFeeRecipient(fan, {"from": fan}),
        lambda: market.setTokenAllowed(fan, True, {"from": fan}),
        lambda: market.pauseSales({"from": fan}),
        lambda: market.unpauseSales({"from": fan}),
        lambda: market.setPoolRules("0x" + "11" * 32, "bafyrules", {"from": fan}),
        lambda: market.setCatalogSigner(fan, {"from": fan}),
        lambda: market.blockTrack(1, "bafyreason", {"from": fan}),
        lambda: market.unblockTrack(1, "bafyreason", {"from": fan}),
        lambda: market.transferOwnership(fan, {"from": fan}),
        lambda: market.renounceOwnership({"from": fan}),
        lambda: market.publishEpoch(0, "0x" + "11" * 32, "0x" + "22" * 32, "bafyreport", [], [], {"from": fan}),
    ):
        with brownie.reverts(unauthorized):
            call()


def test_ownership_moves_in_two_steps(market, owner, accounts):
    market.transferOwnership(accounts[5], {"from": owner})
    assert market.owner() == owner and market.pendingOwner() == accounts[5]
    with brownie.reverts(f"OwnableUnauthorizedAccount: {accounts[6].address.lower()}"):
        market.acceptOwnership({"from": accounts[6]})
    market.acceptOwnership({"from": accounts[5]})
    assert market.owner() == accounts[5]


def test_ether_sent_directly_is_refused(market, fan):
    with brownie.reverts():
        fan.transfer(market, 1)
