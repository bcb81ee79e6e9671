"""Attested listings and takedowns: registerTrack needs the catalog signer's EIP-712
attestation for (metadataCid, registrant) on this chain and contract; the owner blocks
and unblocks tracks, and a block stops sales but never payees' money."""
import brownie
import pytest
from eth_account import Account
from eth_utils import keccak

from conftest import EPOCH_SECONDS, ETH, attest, distribute, signable

CID = "bafkreiattestedmetadata"
REASON = "bafkreitakedownreason"


@pytest.fixture(scope="module")
def signer():
    return Account.create()


@pytest.fixture
def attested(market, owner, signer):
    market.setCatalogSigner(signer.address, {"from": owner})
    return signer


# ---------------------------------------------------------------- setCatalogSigner

def test_registration_is_open_until_a_signer_is_set(market, artist, solo_split):
    assert market.catalogSigner() == ETH
    market.registerTrack(CID, solo_split, ETH, 1, b"", {"from": artist})


def test_owner_sets_the_catalog_signer_with_an_event(market, owner, signer):
    tx = market.setCatalogSigner(signer.address, {"from": owner})
    assert list(tx.events["CatalogSignerChanged"].values()) == [ETH, signer.address]
    assert market.catalogSigner() == signer.address
    tx = market.setCatalogSigner(ETH, {"from": owner})
    assert list(tx.events["CatalogSignerChanged"].values()) == [signer.address, ETH]


def test_only_the_owner_sets_the_catalog_signer(market, artist):
    with brownie.reverts():
        market.setCatalogSigner(artist, {"from": artist})


# ---------------------------------------------------------------- registerTrack, attested

def test_an_attested_registration_lists_the_track(market, artist, solo_split, attested):
    tx = market.registerTrack(CID, solo_split, ETH, 5, attest(attested, market, CID, artist, solo_split), {"from": artist})
    assert market.tracks(tx.return_value)[0] == artist
    assert tx.events["TrackRegistered"]["metadataCid"] == CID


def test_listing_digest_is_the_eip712_digest(market, artist, solo_split, attested):
    message = signable(market, CID, artist, solo_split, 1234)
    digest = keccak(b"\x19\x01" + message.header + message.body)
    assert market.listingDigest(CID, artist, solo_split, 1234) == "0x" + digest.hex()


def test_the_python_signer_matches_the_contract(market, artist, solo_split, attested, owner):
    from ninety.attest import CatalogSigner

    signer = CatalogSigner("0x" + bytes(attested.key).hex())
    deadline = brownie.chain.time() + 60
    wire = signer.sign_listing(CID, str(artist), str(solo_split), brownie.chain.id, market.address, deadline)
    assert bytes.fromhex(wire[2:]) == attest(attested, market, CID, artist, solo_split, deadline=deadline)


def test_an_expired_attestation_is_refused(market, artist, solo_split, attested, reverts_with):
    deadline = brownie.chain.time() + 100
    sig = attest(attested, market, CID, artist, solo_split, deadline=deadline)
    brownie.chain.sleep(200)
    brownie.chain.mine()
    with brownie.reverts(revert_pattern=rf"Marketplace__AttestationExpired: {deadline}, \d+"):
        market.registerTrack(CID, solo_split, ETH, 1, sig, {"from": artist})


def test_an_attested_cid_is_listed_once(market, artist, solo_split, attested, reverts_with):
    market.registerTrack(CID, solo_split, ETH, 1, attest(attested, market, CID, artist, solo_split), {"from": artist})
    # The same call again (e.g. to relist a copy after a takedown), or a fresh attestation.
    with reverts_with("Marketplace__CidAlreadyListed", CID):
        market.registerTrack(CID, solo_split, ETH, 1, attest(attested, market, CID, artist, solo_split), {"from": artist})


def test_an_attestation_of_the_wrong_length_is_refused(market, artist, solo_split, attested, reverts_with):
    good = attest(attested, market, CID, artist, solo_split)
    for bad in (good[32:], good + b"\0", b"\1" * 97):
        with brownie.reverts():
            market.registerTrack(CID, solo_split, ETH, 1, bad, {"from": artist})


def test_registration_without_attestation_reverts(market, artist, solo_split, attested, reverts_with):
    with reverts_with("Marketplace__InvalidAttestation", ETH, attested.address):
        market.registerTrack(CID, solo_split, ETH, 1, b"", {"from": artist})


def test_an_attestation_for_another_wallet_is_refused(market, artist, fan, solo_split, attested, reverts_with):
    # The three-call attack: the victim's CID and attestation, sent from the copier's wallet.
    sig = attest(attested, market, CID, artist, solo_split)
    with brownie.reverts():
        market.registerTrack(CID, solo_split, ETH, 0, sig, {"from": fan})


def test_an_attestation_for_another_split_is_refused(market, artist, solo_split, split_of, attested, reverts_with):
    """Found by review: the split was not in the attestation, so an artist could list a new
    upload of its own recording with a split that leaves out the earlier track's
    collaborators. The signer now attests the split too, and checks it (see the API)."""
    other = split_of([(artist, 900_000), (brownie.accounts[7], 100_000)])
    sig = attest(attested, market, CID, artist, solo_split)
    with brownie.reverts():
        market.registerTrack(CID, other, ETH, 1, sig, {"from": artist})
    market.registerTrack(CID, other, ETH, 1, attest(attested, market, CID, artist, other), {"from": artist})


def test_an_attestation_for_another_cid_is_refused(market, artist, solo_split, attested):
    sig = attest(attested, market, "bafkreisomethingelse", artist, solo_split)
    with brownie.reverts():
        market.registerTrack(CID, solo_split, ETH, 1, sig, {"from": artist})


def test_an_attestation_for_another_chain_is_refused(market, artist, solo_split, attested):
    sig = attest(attested, market, CID, artist, solo_split, chain_id=1)
    with brownie.reverts():
        market.registerTrack(CID, solo_split, ETH, 1, sig, {"from": artist})


def test_an_attestation_for_another_contract_is_refused(market, artist, solo_split, attested, Marketplace, owner, fee_recipient):
    other = Marketplace.deploy(fee_recipient, 500, EPOCH_SECONDS, {"from": owner})
    sig = attest(attested, market, CID, artist, solo_split, contract=other.address)
    with brownie.reverts():
        market.registerTrack(CID, solo_split, ETH, 1, sig, {"from": artist})


def test_an_attestation_by_another_key_is_refused(market, artist, solo_split, attested, reverts_with):
    stranger = Account.create()
    sig = attest(stranger, market, CID, artist, solo_split)
    with reverts_with("Marketplace__InvalidAttestation", stranger.address, attested.address):
        market.registerTrack(CID, solo_split, ETH, 1, sig, {"from": artist})


def test_a_malleable_high_s_attestation_is_refused(market, artist, solo_split, attested, reverts_with):
    wire = attest(attested, market, CID, artist, solo_split)
    deadline, sig = wire[:32], wire[32:]
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(sig[32:64], "big")
    # The same signature's twin (s -> n - s, v flipped): valid for ecrecover, refused by us.
    flipped = deadline + sig[:32] + (n - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with reverts_with("Marketplace__InvalidAttestation", ETH, attested.address):
        market.registerTrack(CID, solo_split, ETH, 1, flipped, {"from": artist})


def test_opening_registration_again_accepts_unattested_listings(market, owner, artist, solo_split, attested):
    market.setCatalogSigner(ETH, {"from": owner})
    market.registerTrack(CID, solo_split, ETH, 1, b"", {"from": artist})


# ---------------------------------------------------------------- blockTrack / unblockTrack

def test_owner_blocks_a_track_with_a_public_reason(market, owner, artist, eth_track):
    tx = market.blockTrack(eth_track, REASON, {"from": owner})
    assert list(tx.events["TrackBlocked"].values()) == [eth_track, REASON]
    assert list(market.tracks(eth_track))[4:] == [True, True]


def test_a_blocked_track_cannot_be_bought(market, owner, fan, eth_track, reverts_with):
    market.blockTrack(eth_track, REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", eth_track):
        market.buy(eth_track, 10**16, {"from": fan, "value": 10**16})


def test_a_blocked_erc20_track_cannot_be_bought(market, owner, fan, usdc_track, reverts_with):
    market.blockTrack(usdc_track, REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", usdc_track):
        market.buy(usdc_track, 5_000_000, {"from": fan})


def test_a_block_leaves_earned_money_withdrawable(market, owner, artist, fan, eth_track, solo_split):
    market.buy(eth_track, 10**16, {"from": fan, "value": 10**16})
    market.blockTrack(eth_track, REASON, {"from": owner})
    distribute(market, solo_split, ETH, fan)
    before = artist.balance()
    market.withdraw(artist, [ETH], {"from": fan})
    assert artist.balance() - before == 10**16 * 95 // 100


def test_the_artist_cannot_lift_a_block_by_updating(market, owner, artist, fan, eth_track, solo_split, reverts_with):
    market.blockTrack(eth_track, REASON, {"from": owner})
    market.updateTrack(eth_track, 1, False, {"from": artist})
    market.updateTrack(eth_track, 1, True, {"from": artist})
    assert list(market.tracks(eth_track))[4:] == [True, True]
    with reverts_with("Marketplace__TrackBlocked", eth_track):
        market.buy(eth_track, 1, {"from": fan, "value": 1})


def test_unblock_restores_the_artists_listing(market, owner, artist, fan, eth_track, solo_split, reverts_with):
    market.blockTrack(eth_track, REASON, {"from": owner})
    market.updateTrack(eth_track, 7, False, {"from": artist})
    tx = market.unblockTrack(eth_track, "bafkreicounternotice", {"from": owner})
    assert list(tx.events["TrackUnblocked"].values()) == [eth_track, "bafkreicounternotice"]
    # Unlisted by the artist while blocked: stays unlisted.
    with reverts_with("Marketplace__TrackNotListed", eth_track):
        market.buy(eth_track, 7, {"from": fan, "value": 7})
    market.updateTrack(eth_track, 7, True, {"from": artist})
    market.buy(eth_track, 7, {"from": fan, "value": 7})


def test_only_the_owner_blocks_and_unblocks(market, owner, artist, eth_track):
    with brownie.reverts():
        market.blockTrack(eth_track, REASON, {"from": artist})
    market.blockTrack(eth_track, REASON, {"from": owner})
    with brownie.reverts():
        market.unblockTrack(eth_track, REASON, {"from": artist})


def test_blocking_an_unknown_track_reverts(market, owner, reverts_with):
    with reverts_with("Marketplace__UnknownTrack", 42):
        market.blockTrack(42, REASON, {"from": owner})
    with reverts_with("Marketplace__UnknownTrack", 42):
        market.unblockTrack(42, REASON, {"from": owner})


def test_block_and_unblock_need_a_reason(market, owner, eth_track, reverts_with):
    with reverts_with("Marketplace__EmptyReasonCid"):
        market.blockTrack(eth_track, "", {"from": owner})
    market.blockTrack(eth_track, REASON, {"from": owner})
    with reverts_with("Marketplace__EmptyReasonCid"):
        market.unblockTrack(eth_track, "", {"from": owner})


def test_blocking_twice_or_unblocking_an_unblocked_track_reverts(market, owner, eth_track, reverts_with):
    with reverts_with("Marketplace__BlockUnchanged", eth_track, False):
        market.unblockTrack(eth_track, REASON, {"from": owner})
    market.blockTrack(eth_track, REASON, {"from": owner})
    with reverts_with("Marketplace__BlockUnchanged", eth_track, True):
        market.blockTrack(eth_track, REASON, {"from": owner})


def test_a_blocked_track_still_answers_unknown_for_other_ids(market, fan, reverts_with):
    with reverts_with("Marketplace__UnknownTrack", 77):
        market.buy(77, 0, {"from": fan})
