"""registerRelease, releaseTracks and buying a release: a release is a listing in the track
id space holding its registrant's own unblocked tracks, and cannot be bought while any of
them is blocked."""
import brownie
import pytest
from eth_account import Account

from conftest import ETH, FEE_BPS, attest

REL = "bafkreireleasemetadata"
REASON = "bafkreitakedownreason"
PRICE = 3 * 10**16


@pytest.fixture(scope="module")
def tracks_of(market, solo_split, artist):
    """Register `n` ETH tracks for `who` (default the artist) in one multicall; their ids."""
    def make(n, who=None, price=10**16):
        who = who or artist
        calls = [market.registerTrack.encode_input(f"bafkreitrack{i}", solo_split, ETH, price, b"") for i in range(n)]
        tx = market.multicall(calls, {"from": who})
        return [int(e["trackId"]) for e in tx.events["TrackRegistered"]]
    return make


@pytest.fixture(scope="module")
def release(market, artist, solo_split, tracks_of):
    """A release of three tracks at PRICE in ETH: (release id, member ids)."""
    members = tracks_of(3)
    rid = market.registerRelease(REL, solo_split, ETH, PRICE, members, b"", {"from": artist}).return_value
    return rid, members


def ids(values):
    """Plain ints of a uint256[] return value or event field (brownie's compare them badly)."""
    return [int(v) for v in values]


def register(market, who, members, split, token=ETH, price=PRICE, cid=REL, attestation=b""):
    return market.registerRelease(cid, split, token, price, members, attestation, {"from": who})


# ---------------------------------------------------------------- registerRelease

def test_a_release_takes_the_next_id_of_the_track_id_space(market, artist, solo_split, tracks_of):
    members = tracks_of(3)
    assert members == [1, 2, 3]
    order = [3, 1, 2]  # the artist's order, not the ids'
    tx = register(market, artist, order, solo_split)
    rid = tx.return_value
    assert rid == 4 == market.trackCount()
    event = list(tx.events["ReleaseRegistered"].values())
    assert event[:6] == [rid, artist, solo_split, ETH, PRICE, REL] and ids(event[6]) == order
    assert "TrackRegistered" not in tx.events
    assert ids(market.releaseTracks(rid)) == order
    assert list(market.tracks(rid)) == [artist, solo_split, ETH, PRICE, True, False]
    # The next track takes the id after the release.
    assert market.registerTrack("next", solo_split, ETH, 1, b"", {"from": artist}).return_value == 5


def test_release_tracks_of_a_track_or_an_unknown_id_is_empty(market, release):
    rid, members = release
    assert ids(market.releaseTracks(members[0])) == []
    assert ids(market.releaseTracks(rid + 1)) == []
    assert ids(market.releaseTracks(0)) == []


def test_a_release_of_one_track_and_one_of_a_hundred(market, artist, solo_split, tracks_of):
    assert market.MAX_RELEASE_TRACKS() == 100
    single = tracks_of(1)
    assert ids(market.releaseTracks(register(market, artist, single, solo_split, cid="single").return_value)) == single
    album = tracks_of(100)
    rid = register(market, artist, album, solo_split, cid="album").return_value
    assert ids(market.releaseTracks(rid)) == album


def test_a_release_of_no_track_or_of_101_reverts(market, artist, solo_split, tracks_of, reverts_with):
    with reverts_with("Marketplace__ReleaseSize", 0, 100):
        register(market, artist, [], solo_split)
    members = tracks_of(101)
    with reverts_with("Marketplace__ReleaseSize", 101, 100):
        register(market, artist, members, solo_split)


def test_a_release_priced_in_an_allowed_token(market, artist, solo_split, usdc, tracks_of):
    rid = register(market, artist, tracks_of(2), solo_split, token=usdc, price=9_000_000).return_value
    assert list(market.tracks(rid))[2:4] == [usdc, 9_000_000]


def test_register_release_while_paused_reverts(market, owner, artist, solo_split, release, reverts_with):
    market.pauseSales({"from": owner})
    with reverts_with("Marketplace__SalesPaused"):
        register(market, artist, release[1], solo_split, cid="other")


def test_register_release_with_empty_cid_reverts(market, artist, solo_split, release, reverts_with):
    with reverts_with("Marketplace__EmptyMetadataCid"):
        register(market, artist, release[1], solo_split, cid="")


def test_register_release_with_unknown_split_reverts(market, artist, release, reverts_with):
    nowhere = "0x" + "ab" * 32
    with reverts_with("Marketplace__UnknownSplit", nowhere):
        register(market, artist, release[1], nowhere)


def test_register_release_with_token_not_allowed_reverts(market, artist, solo_split, release, MockUSDC, reverts_with):
    other = MockUSDC.deploy({"from": artist})
    with reverts_with("Marketplace__TokenNotAllowed", other.address):
        register(market, artist, release[1], solo_split, token=other, price=1)


def test_register_token_release_at_zero_price_reverts(market, artist, solo_split, usdc, release, reverts_with):
    with reverts_with("Marketplace__ZeroPriceForToken", usdc.address):
        register(market, artist, release[1], solo_split, token=usdc, price=0)


def test_register_release_above_max_price_reverts(market, artist, solo_split, release, reverts_with):
    with reverts_with("Marketplace__PriceTooHigh", 2**88, 2**88 - 1):
        register(market, artist, release[1], solo_split, price=2**88)
    rid = register(market, artist, release[1], solo_split, price=2**88 - 1).return_value
    assert market.tracks(rid)[3] == 2**88 - 1


def test_a_release_of_an_unknown_track_reverts(market, artist, solo_split, release, reverts_with):
    rid, members = release
    with reverts_with("Marketplace__UnknownTrack", rid + 2):
        register(market, artist, [*members, rid + 2], solo_split)
    with reverts_with("Marketplace__UnknownTrack", 0):
        register(market, artist, [0], solo_split)


def test_a_release_with_someone_elses_track_reverts(market, artist, fan, solo_split, release, tracks_of,
                                                     reverts_with):
    theirs = tracks_of(1, who=fan)[0]
    with reverts_with("Marketplace__NotArtist", theirs, artist.address, fan.address):
        register(market, artist, [release[1][0], theirs], solo_split)
    # Nor can the other artist gather the first one's tracks into its own release.
    with reverts_with("Marketplace__NotArtist", release[1][0], fan.address, artist.address):
        register(market, fan, [theirs, release[1][0]], solo_split)


def test_a_release_in_a_release_reverts(market, artist, solo_split, release, reverts_with):
    rid, members = release
    with reverts_with("Marketplace__ReleaseInRelease", rid):
        register(market, artist, [members[0], rid], solo_split)
    # Nor itself: its own id, the next one, is already the release when members are checked.
    with reverts_with("Marketplace__ReleaseInRelease", rid + 1):
        register(market, artist, [members[0], rid + 1], solo_split)


def test_a_release_with_a_blocked_track_reverts(market, owner, artist, solo_split, release, reverts_with):
    member = release[1][1]
    market.blockTrack(member, REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", member):
        register(market, artist, release[1], solo_split)
    market.unblockTrack(member, REASON, {"from": owner})
    register(market, artist, release[1], solo_split)


def test_a_track_twice_in_a_release_reverts(market, artist, solo_split, release, reverts_with):
    a, b, c = release[1]
    with reverts_with("Marketplace__DuplicateTrack", a):
        register(market, artist, [a, b, c, a], solo_split)
    with reverts_with("Marketplace__DuplicateTrack", b):
        register(market, artist, [b, b], solo_split)


def test_two_releases_of_the_same_tracks_in_one_multicall(market, artist, solo_split, release, reverts_with):
    """The seen-marks are per release, in transient storage: a second release in the same
    transaction with the same tracks is no duplicate (a track may be on several releases)."""
    members = release[1]
    calls = [market.registerRelease.encode_input(cid, solo_split, ETH, PRICE, members, b"")
             for cid in ("deluxe", "remaster")]
    tx = market.multicall(calls, {"from": artist})
    rids = [e["releaseId"] for e in tx.events["ReleaseRegistered"]]
    assert rids == [release[0] + 1, release[0] + 2]
    assert [ids(market.releaseTracks(i)) for i in rids] == [members, members]
    # A duplicate within one of them is still one.
    calls[1] = market.registerRelease.encode_input("remaster", solo_split, ETH, PRICE, [*members, members[0]], b"")
    with reverts_with("Marketplace__DuplicateTrack", members[0]):
        market.multicall(calls, {"from": artist})


# ---------------------------------------------------------------- attested releases

@pytest.fixture
def signer(market, owner):
    key = Account.create()
    market.setCatalogSigner(key.address, {"from": owner})
    return key


def release_attestation(signer, market, artist, split, members, cid="attested", **kw):
    return attest(signer, market, cid, artist, split, track_ids=members, **kw)


def test_an_attested_release(market, artist, solo_split, release, signer):
    tx = register(market, artist, release[1], solo_split, cid="attested",
                  attestation=release_attestation(signer, market, artist, solo_split, release[1]))
    assert tx.events["ReleaseRegistered"]["metadataCid"] == "attested"


def test_release_digest_is_the_eip712_digest(market, artist, solo_split, release):
    from eth_utils import keccak

    from conftest import signable

    message = signable(market, "attested", artist, solo_split, 1234, track_ids=release[1])
    digest = "0x" + keccak(b"\x19\x01" + message.header + message.body).hex()
    assert market.releaseDigest("attested", artist, solo_split, release[1], 1234) == digest
    assert market.listingDigest("attested", artist, solo_split, 1234) != digest


def test_the_python_signer_signs_releases_as_the_contract_checks(market, artist, solo_split, release, signer):
    from ninety.attest import CatalogSigner

    deadline = brownie.chain.time() + 600
    wire = CatalogSigner("0x" + bytes(signer.key).hex()).sign_listing(
        "attested", str(artist), str(solo_split), brownie.chain.id, market.address, deadline, track_ids=release[1])
    assert bytes.fromhex(wire[2:]) == release_attestation(signer, market, artist, solo_split, release[1],
                                                          deadline=deadline)
    register(market, artist, release[1], solo_split, cid="attested", attestation=bytes.fromhex(wire[2:]))


def test_a_release_without_attestation_reverts_while_a_signer_is_set(market, artist, solo_split, release, signer,
                                                                     reverts_with):
    with reverts_with("Marketplace__InvalidAttestation", ETH, signer.address):
        register(market, artist, release[1], solo_split, cid="attested")


def refused_attestation(signer):
    """Any recovered address, then the signer: a signature of something else."""
    return r"(?i)Marketplace__InvalidAttestation: 0x[0-9a-f]{40}, " + signer.address


def test_a_track_attestation_cannot_list_a_release(market, artist, solo_split, release, signer):
    """The attack the Release type closes: the attestation of an artist's solo upload (a
    track's, same CID, wallet and split) listed a cheap 'release' of a track the artist
    shares with collaborators; its buyers could download the track."""
    track_attestation = attest(signer, market, "attested", artist, solo_split)
    with brownie.reverts(revert_pattern=refused_attestation(signer)):
        register(market, artist, release[1], solo_split, cid="attested", attestation=track_attestation)
    # Nor the other way round: a release's attestation lists no track.
    with brownie.reverts(revert_pattern=refused_attestation(signer)):
        market.registerTrack("attested", solo_split, ETH, 1,
                             release_attestation(signer, market, artist, solo_split, release[1]), {"from": artist})


def test_a_release_attestation_binds_its_tracks_and_their_order(market, artist, solo_split, release, signer):
    a, b, c = release[1]
    sig = release_attestation(signer, market, artist, solo_split, [a, b])
    for members in ([a], [a, b, c], [b, a]):
        with brownie.reverts(revert_pattern=refused_attestation(signer)):
            register(market, artist, members, solo_split, cid="attested", attestation=sig)
    register(market, artist, [a, b], solo_split, cid="attested", attestation=sig)


def test_a_release_attestation_of_another_cid_split_or_wallet_reverts(market, artist, fan, solo_split, split_of,
                                                                      release, signer):
    members = release[1]
    other_split = split_of([(artist, 500_000), (fan, 500_000)])
    for sig, split, who in (
        (release_attestation(signer, market, artist, solo_split, members, cid="bafkreitrack0"), solo_split, artist),
        (release_attestation(signer, market, artist, solo_split, members), other_split, artist),
    ):
        with brownie.reverts(revert_pattern=refused_attestation(signer)):
            register(market, who, members, split, attestation=sig)
    # Another wallet sending the artist's attestation (refused before its members are looked at).
    with brownie.reverts(revert_pattern=refused_attestation(signer)):
        register(market, fan, members, solo_split, attestation=release_attestation(
            signer, market, artist, solo_split, members))


def test_an_expired_release_attestation_reverts(market, artist, solo_split, release, signer):
    deadline = brownie.chain.time() + 100
    sig = release_attestation(signer, market, artist, solo_split, release[1], deadline=deadline)
    brownie.chain.sleep(200)
    brownie.chain.mine()
    with brownie.reverts(revert_pattern=rf"Marketplace__AttestationExpired: {deadline}, \d+"):
        register(market, artist, release[1], solo_split, cid="attested", attestation=sig)


def test_an_attested_release_cid_is_listed_once(market, artist, solo_split, release, signer, reverts_with):
    sig = release_attestation(signer, market, artist, solo_split, release[1])
    register(market, artist, release[1], solo_split, cid="attested", attestation=sig)
    with reverts_with("Marketplace__CidAlreadyListed", "attested"):
        register(market, artist, release[1], solo_split, cid="attested",
                 attestation=release_attestation(signer, market, artist, solo_split, release[1]))
    # Tracks and releases share the once-per-CID record.
    with reverts_with("Marketplace__CidAlreadyListed", "attested"):
        market.registerTrack("attested", solo_split, ETH, 1, attest(signer, market, "attested", artist, solo_split),
                             {"from": artist})


# ---------------------------------------------------------------- a release after registration

def test_update_track_keeps_a_release_a_release(market, owner, artist, fan, solo_split, release, reverts_with):
    rid, members = release
    tx = market.updateTrack(rid, PRICE * 2, False, {"from": artist})
    assert list(tx.events["TrackUpdated"].values()) == [rid, PRICE * 2, False]
    assert list(market.tracks(rid)) == [artist, solo_split, ETH, PRICE * 2, False, False]
    with reverts_with("Marketplace__TrackNotListed", rid):
        market.buy(rid, PRICE * 2, {"from": fan, "value": PRICE * 2})
    market.updateTrack(rid, PRICE * 2, True, {"from": artist})
    assert ids(market.releaseTracks(rid)) == members
    # Still a release: it cannot join another release, and its members still gate its sale.
    with reverts_with("Marketplace__ReleaseInRelease", rid):
        register(market, artist, [rid], solo_split)
    market.blockTrack(members[2], REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", members[2]):
        market.buy(rid, PRICE * 2, {"from": fan, "value": PRICE * 2})


def test_only_the_artist_updates_a_release(market, fan, artist, release, reverts_with):
    with reverts_with("Marketplace__NotArtist", release[0], fan.address, artist.address):
        market.updateTrack(release[0], 1, True, {"from": fan})


def test_a_release_changes_split_like_a_track(market, artist, fan, accounts, solo_split, split_of, release):
    rid, members = release
    duo = split_of([(artist, 600_000), (accounts[5], 400_000)])
    current = ([artist.address], [1_000_000])
    duo_data = sorted([(artist.address, 600_000), (accounts[5].address, 400_000)], key=lambda p: int(p[0], 16))
    new = ([a for a, _ in duo_data], [s for _, s in duo_data])
    tx = market.proposeSplit(rid, current, new, {"from": artist})  # only the artist loses: lands at once
    assert list(tx.events["TrackSplitChanged"].values()) == [rid, solo_split, duo]
    assert market.tracks(rid)[1] == duo
    tx = market.buy(rid, PRICE, {"from": fan, "value": PRICE})
    assert tx.events["Sale"]["splitId"] == duo
    # The members keep their own split.
    assert market.tracks(members[0])[1] == solo_split
    # And back: a cut for the collaborator, who must consent.
    tx = market.proposeSplit(rid, new, current, {"from": artist})
    assert list(tx.events["SplitChangeProposed"].values()) == [rid, solo_split, [accounts[5].address]]
    market.acceptSplit(rid, solo_split, {"from": accounts[5]})
    assert market.tracks(rid)[1] == solo_split


def test_the_owner_blocks_and_unblocks_a_release(market, owner, fan, release, reverts_with):
    rid, members = release
    tx = market.blockTrack(rid, REASON, {"from": owner})
    assert list(tx.events["TrackBlocked"].values()) == [rid, REASON]
    assert list(market.tracks(rid))[4:] == [True, True]
    with reverts_with("Marketplace__TrackBlocked", rid):
        market.buy(rid, PRICE, {"from": fan, "value": PRICE})
    # Its members are untouched.
    market.buy(members[0], 10**16, {"from": fan, "value": 10**16})
    market.unblockTrack(rid, REASON, {"from": owner})
    market.buy(rid, PRICE, {"from": fan, "value": PRICE})


# ---------------------------------------------------------------- buying a release

def test_buy_a_release_in_eth(market, fan, artist, solo_split, split_of, tracks_of, fee_recipient):
    # The members on another split: a release's sale credits the release's split only.
    other = split_of([(fan, 1_000_000)])
    members = tracks_of(2)
    market.proposeSplit(members[0], ([artist.address], [1_000_000]), ([fan.address], [1_000_000]), {"from": artist})
    rid = register(market, artist, members, solo_split).return_value
    tx = market.buy(rid, PRICE, {"from": fan, "value": PRICE})
    fee = PRICE * FEE_BPS // 10_000
    assert list(tx.events["Sale"].values()) == [rid, fan, ETH, PRICE, fee, solo_split]
    assert len(tx.events["Sale"]) == 1
    assert market.splitBalance(solo_split, ETH) == PRICE - fee
    assert market.splitBalance(other, ETH) == 0
    assert market.owed(fee_recipient, ETH) == fee
    assert market.balance() == PRICE


def test_buy_a_release_in_usdc(market, fan, artist, solo_split, usdc, tracks_of, fee_recipient):
    rid = register(market, artist, tracks_of(2), solo_split, token=usdc, price=9_000_000).return_value
    before = usdc.balanceOf(fan)
    tx = market.buy(rid, 9_000_000, {"from": fan})
    fee = 9_000_000 * FEE_BPS // 10_000
    assert list(tx.events["Sale"].values()) == [rid, fan, usdc, 9_000_000, fee, solo_split]
    assert usdc.balanceOf(fan) == before - 9_000_000
    assert usdc.balanceOf(market) == 9_000_000
    assert market.splitBalance(solo_split, usdc) == 9_000_000 - fee
    assert market.owed(fee_recipient, usdc) == fee


def test_a_release_pays_what_you_want_above_its_price(market, fan, solo_split, release, reverts_with):
    rid = release[0]
    amount = PRICE * 2 + 1
    tx = market.buy(rid, amount, {"from": fan, "value": amount})
    assert tx.events["Sale"]["amount"] == amount
    assert market.splitBalance(solo_split, ETH) == amount - amount * FEE_BPS // 10_000
    with reverts_with("Marketplace__AmountBelowPrice", PRICE - 1, PRICE):
        market.buy(rid, PRICE - 1, {"from": fan, "value": PRICE - 1})


def test_the_fee_cap_holds_for_a_release(market, owner, fan, solo_split, fee_recipient, release):
    market.setPlatformFee(1000, {"from": owner})
    market.buy(release[0], PRICE, {"from": fan, "value": PRICE})
    assert market.owed(fee_recipient, ETH) == PRICE // 10
    assert market.splitBalance(solo_split, ETH) == PRICE * 9 // 10


def test_a_release_is_refused_while_a_member_is_blocked(market, owner, fan, release, reverts_with):
    rid, members = release
    market.blockTrack(members[1], REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", members[1]):
        market.buy(rid, PRICE, {"from": fan, "value": PRICE})
    # The listing itself still reads listed and unblocked: the members decide.
    assert list(market.tracks(rid))[4:] == [True, False]
    market.unblockTrack(members[1], REASON, {"from": owner})
    tx = market.buy(rid, PRICE, {"from": fan, "value": PRICE})
    assert tx.events["Sale"]["trackId"] == rid


def test_a_blocked_release_names_itself_before_its_members(market, owner, fan, release, reverts_with):
    rid, members = release
    market.blockTrack(members[0], REASON, {"from": owner})
    market.blockTrack(rid, REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", rid):
        market.buy(rid, PRICE, {"from": fan, "value": PRICE})


def test_unlisted_members_are_still_sold_in_a_release(market, artist, fan, release, reverts_with):
    rid, members = release
    for member in members:
        market.updateTrack(member, 10**16, False, {"from": artist})
    with reverts_with("Marketplace__TrackNotListed", members[0]):
        market.buy(members[0], 10**16, {"from": fan, "value": 10**16})
    tx = market.buy(rid, PRICE, {"from": fan, "value": PRICE})
    assert tx.events["Sale"]["trackId"] == rid


def test_a_release_needs_the_exact_eth_and_no_eth_for_a_token(market, artist, fan, solo_split, usdc, release,
                                                               tracks_of, reverts_with):
    with reverts_with("Marketplace__WrongEthValue", PRICE - 1, PRICE):
        market.buy(release[0], PRICE, {"from": fan, "value": PRICE - 1})
    rid = register(market, artist, tracks_of(1), solo_split, token=usdc, price=1_000_000, cid="usdc").return_value
    with reverts_with("Marketplace__EthSentForTokenTrack", 1, usdc.address):
        market.buy(rid, 1_000_000, {"from": fan, "value": 1})


def test_a_release_cannot_be_bought_while_paused(market, owner, fan, release, reverts_with):
    market.pauseSales({"from": owner})
    with reverts_with("Marketplace__SalesPaused"):
        market.buy(release[0], PRICE, {"from": fan, "value": PRICE})
