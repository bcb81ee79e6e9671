"""registerTrack, updateTrack and tracks: who may list what, at which price."""
from conftest import ETH

ZERO_SPLIT = "0x" + "00" * 32


def test_register_track_lists_it_for_the_caller(market, artist, solo_split):
    tx = market.registerTrack("bafkreitrack", solo_split, ETH, 123, b"", {"from": artist})
    track_id = tx.return_value
    assert track_id == market.trackCount() == 1
    assert list(tx.events["TrackRegistered"].values()) == [
        track_id, artist, solo_split, ETH, 123, "bafkreitrack"
    ]
    assert list(market.tracks(track_id)) == [artist, solo_split, ETH, 123, True, False]


def test_track_ids_count_up_from_one(market, artist, solo_split):
    ids = [market.registerTrack(f"cid{i}", solo_split, ETH, 1, b"", {"from": artist}).return_value
           for i in range(3)]
    assert ids == [1, 2, 3]


def test_free_eth_track_is_allowed(market, artist, solo_split):
    tx = market.registerTrack("free", solo_split, ETH, 0, b"", {"from": artist})
    assert market.tracks(tx.return_value)[3] == 0


def test_register_with_allowed_token(market, artist, solo_split, usdc):
    tx = market.registerTrack("usdc", solo_split, usdc, 1_000_000, b"", {"from": artist})
    assert market.tracks(tx.return_value)[2] == usdc


def test_register_with_unknown_split_reverts(market, artist, reverts_with):
    with reverts_with("Marketplace__UnknownSplit", ZERO_SPLIT):
        market.registerTrack("cid", ZERO_SPLIT, ETH, 1, b"", {"from": artist})


def test_register_with_empty_cid_reverts(market, artist, solo_split, reverts_with):
    with reverts_with("Marketplace__EmptyMetadataCid"):
        market.registerTrack("", solo_split, ETH, 1, b"", {"from": artist})


def test_register_with_token_not_allowed_reverts(market, artist, solo_split, MockUSDC, reverts_with):
    other = MockUSDC.deploy({"from": artist})
    with reverts_with("Marketplace__TokenNotAllowed", other.address):
        market.registerTrack("cid", solo_split, other, 1, b"", {"from": artist})


def test_register_token_track_at_zero_price_reverts(market, artist, solo_split, usdc, reverts_with):
    with reverts_with("Marketplace__ZeroPriceForToken", usdc.address):
        market.registerTrack("cid", solo_split, usdc, 0, b"", {"from": artist})


def test_register_above_max_price_reverts(market, artist, solo_split, reverts_with):
    too_much = 2**88
    with reverts_with("Marketplace__PriceTooHigh", too_much, 2**88 - 1):
        market.registerTrack("cid", solo_split, ETH, too_much, b"", {"from": artist})


def test_register_while_paused_reverts(market, owner, artist, solo_split, reverts_with):
    market.pauseSales({"from": owner})
    with reverts_with("Marketplace__SalesPaused"):
        market.registerTrack("cid", solo_split, ETH, 1, b"", {"from": artist})


def test_artist_updates_price_and_listing(market, artist, eth_track, solo_split):
    tx = market.updateTrack(eth_track, 77, False, {"from": artist})
    assert list(tx.events["TrackUpdated"].values()) == [eth_track, 77, False]
    assert list(market.tracks(eth_track)) == [artist, solo_split, ETH, 77, False, False]
    tx = market.updateTrack(eth_track, 0, True, {"from": artist})
    assert list(tx.events["TrackUpdated"].values()) == [eth_track, 0, True]
    assert list(market.tracks(eth_track)) == [artist, solo_split, ETH, 0, True, False]


def test_update_leaves_the_split_alone(market, artist, eth_track, solo_split):
    """updateTrack has no split argument any more: a split changes only through
    proposeSplit (test_split_changes.py)."""
    tx = market.updateTrack(eth_track, 5, True, {"from": artist})
    assert "TrackSplitChanged" not in tx.events
    assert market.tracks(eth_track)[1] == solo_split


def test_update_works_while_paused(market, owner, artist, eth_track, solo_split):
    market.pauseSales({"from": owner})
    market.updateTrack(eth_track, 5, True, {"from": artist})
    assert market.tracks(eth_track)[3] == 5


def test_only_the_artist_updates_a_track(market, owner, artist, eth_track, solo_split, reverts_with):
    with reverts_with("Marketplace__NotArtist", eth_track, owner.address, artist.address):
        market.updateTrack(eth_track, 1, True, {"from": owner})


def test_update_unknown_track_reverts(market, artist, reverts_with):
    with reverts_with("Marketplace__UnknownTrack", 99):
        market.updateTrack(99, 1, True, {"from": artist})
    with reverts_with("Marketplace__UnknownTrack", 0):
        market.updateTrack(0, 1, True, {"from": artist})


def test_update_token_track_to_zero_price_reverts(market, artist, usdc_track, usdc, solo_split, reverts_with):
    with reverts_with("Marketplace__ZeroPriceForToken", usdc.address):
        market.updateTrack(usdc_track, 0, True, {"from": artist})


def test_update_above_max_price_reverts(market, artist, eth_track, solo_split, reverts_with):
    with reverts_with("Marketplace__PriceTooHigh", 2**88, 2**88 - 1):
        market.updateTrack(eth_track, 2**88, True, {"from": artist})
    market.updateTrack(eth_track, 2**88 - 1, True, {"from": artist})
    assert market.tracks(eth_track)[3] == 2**88 - 1


def test_unknown_track_reads_as_empty(market):
    assert list(market.tracks(5)) == [ETH, "0x" + "00" * 32, ETH, 0, False, False]
