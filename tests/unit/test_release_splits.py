"""The fair-share rule for a release's split (backend/release_splits.py), by hand-computed
figures: each collaborator earns from a sale of the release at least what a sale of each
of its tracks pays them, as a share of the release's price (rounded up)."""
import pytest

from backend.release_splits import (CannotBeFair, Loser, Member, amount_text, common_token, fair_shares, losers,
                                    suggested_split, tracks_price)

ART = "0x" + "a" * 40
BOB = "0x" + "b" * 40
CAT = "0x" + "c" * 40
ETH = "0x" + "0" * 40
USD = "0x" + "d" * 40
MILLI = 10**15


def m(split, price=1, token=ETH, track_id=0):
    return Member(split, token, price, track_id)


def test_owed_is_what_each_track_sale_pays_over_the_releases_price():
    # Bob: 50% of a 10-unit track; Cat: 30% of a 30-unit one; a 60-unit solo track. Sold
    # at 50: Bob 50% * 10 / 50 = 10%, Cat 30% * 30 / 50 = 18%; the artist is not owed.
    members = [m([(ART, 500_000), (BOB, 500_000)], 10), m([(ART, 700_000), (CAT, 300_000)], 30),
               m([(ART, 1_000_000)], 60)]
    assert fair_shares(members, ETH, 50, ART) == {BOB: 100_000, CAT: 180_000}
    assert suggested_split(members, ETH, 50, ART) == [(ART, 720_000), (BOB, 100_000), (CAT, 180_000)]
    # At the tracks' own total (100) it is the price-weighted average: 5% and 9%.
    assert fair_shares(members, ETH, tracks_price(members, ETH), ART) == {BOB: 50_000, CAT: 90_000}


def test_padding_with_high_priced_fillers_does_not_lower_the_collaborators_owed_share():
    # The attack on any weighing by the tracks' prices: the shared track (10 mETH, Bob 50%)
    # beside 99 solo fillers at 10 mETH each, the album sold at 10 mETH. The weighted average
    # was 50% * 10 / 1000 = 0.5%: 0.05 mETH a sale where a sale of the track pays Bob 5 mETH.
    duet = m([(ART, 500_000), (BOB, 500_000)], 10 * MILLI, track_id=1)
    fillers = [m([(ART, 1_000_000)], 10 * MILLI, track_id=2 + i) for i in range(99)]
    members = [duet, *fillers]
    assert fair_shares(members, ETH, 10 * MILLI, ART) == {BOB: 500_000}
    assert suggested_split(members, ETH, 10 * MILLI, ART) == [(ART, 500_000), (BOB, 500_000)]
    assert losers(members, ETH, 10 * MILLI, ART, [ART, BOB], [995_000, 5_000]) == [Loser(BOB, 500_000, 5_000)]
    # Sold at the 1000 mETH of its tracks, 0.5% pays Bob 5 mETH: fair.
    assert losers(members, ETH, 1000 * MILLI, ART, [ART, BOB], [995_000, 5_000]) == []


def test_an_album_priced_below_the_collaborators_take_is_refused_with_the_least_price():
    # Bob earns 5 mETH from a sale of the duet: an album at 4 mETH cannot pay him that.
    members = [m([(ART, 500_000), (BOB, 500_000)], 10 * MILLI, track_id=1), m([(ART, 1_000_000)], 10 * MILLI)]
    with pytest.raises(CannotBeFair) as e:
        suggested_split(members, ETH, 4 * MILLI, ART)
    assert (e.value.price, e.value.least_price, e.value.track_ids) == (4 * MILLI, 5 * MILLI, [])
    assert e.value.explain(lambda a: amount_text(a, "ETH", 18)) == (
        "priced at 0.004 ETH this release pays its tracks' collaborators less than a sale of their tracks does; "
        "price it at 0.005 ETH or more (or take tracks out)")
    assert suggested_split(members, ETH, 5 * MILLI, ART) == [(BOB, 1_000_000)]
    with pytest.raises(CannotBeFair):
        suggested_split(members, ETH, 5 * MILLI - 1, ART)


def test_the_least_price_sums_every_collaborators_take_and_rounds_up():
    # Bob 60% of 4 mUSDC, Cat 40% of 5: 2.4 + 2 = 4.4 mUSDC a sale of each track pays them.
    members = [m([(ART, 400_000), (BOB, 600_000)], 4_000_000, USD), m([(ART, 600_000), (CAT, 400_000)], 5_000_000, USD)]
    with pytest.raises(CannotBeFair) as e:
        suggested_split(members, USD, 4_000_000, ART)
    assert e.value.explain(lambda a: amount_text(a, "mUSDC", 6)) == (
        "priced at 4 mUSDC this release pays its tracks' collaborators less than a sale of their tracks does; "
        "price it at 4.400005 mUSDC or more (or take tracks out)")
    # At 4.4 mUSDC each share rounded up (545455 + 454546 ppm) passes 100% by 1 ppm; the
    # least price where the rounded shares fit is 5 base units higher: 2.4e12 / 4400005 =
    # 545453.9 and 2e12 / 4400005 = 454544.9 ppm, up to 545454 + 454545, 1 ppm left.
    with pytest.raises(CannotBeFair):
        suggested_split(members, USD, 4_400_004, ART)
    assert suggested_split(members, USD, 4_400_005, ART) == [(ART, 1), (BOB, 545_454), (CAT, 454_545)]


def test_owed_shares_round_up():
    # Bob 50% of 1 unit in a release sold at 3: 500000 / 3 = 166666.67 ppm, owed 166667.
    members = [m([(ART, 500_000), (BOB, 500_000)], 1), m([(ART, 1_000_000)], 2)]
    assert fair_shares(members, ETH, 3, ART) == {BOB: 166_667}
    assert losers(members, ETH, 3, ART, [ART, BOB], [833_334, 166_666]) == [Loser(BOB, 166_667, 166_666)]
    assert suggested_split(members, ETH, 3, ART) == [(ART, 833_333), (BOB, 166_667)]


def test_a_payee_on_every_track_keeps_its_share_at_the_tracks_total():
    members = [m([(ART, 700_000), (BOB, 300_000)], p) for p in (5, 1, 9)]
    assert suggested_split(members, ETH, 15, ART) == [(ART, 700_000), (BOB, 300_000)]
    # Sold cheaper than its tracks, the album pays Bob more of each sale: 30% * 15 / 10 = 45%.
    assert suggested_split(members, ETH, 10, ART) == [(ART, 550_000), (BOB, 450_000)]


def test_members_priced_in_another_token_keep_their_collaborators_whole():
    # Bob's 60% of a 2-unit USD track cannot be compared with an ETH price: he keeps 60%;
    # Cat's 40% of 10 units in a release at 20: 20%.
    members = [m([(ART, 400_000), (BOB, 600_000)], 2, USD, track_id=7), m([(ART, 600_000), (CAT, 400_000)], 10)]
    assert fair_shares(members, ETH, 20, ART) == {BOB: 600_000, CAT: 200_000}
    # A payee on both keeps the larger: Bob 30% of the ETH track at 20 (15%) < 60%.
    both = [members[0], m([(ART, 700_000), (BOB, 300_000)], 10)]
    assert fair_shares(both, ETH, 20, ART) == {BOB: 600_000}
    # Bob 60% kept whole, Cat 40% of 30 units at 20: 60%, 120% together: refused, and the
    # least price leaving Cat 40% is 30.
    dear = [members[0], m([(ART, 600_000), (CAT, 400_000)], 30)]
    with pytest.raises(CannotBeFair) as e:
        fair_shares(dear, ETH, 20, ART)
    assert e.value.least_price == 30 and e.value.track_ids == [7]
    assert suggested_split(dear, ETH, 30, ART) == [(BOB, 600_000), (CAT, 400_000)]
    assert "reprice tracks 7 in " + ETH in str(e.value)


def test_other_token_members_alone_over_100_percent_name_the_tracks_to_reprice():
    members = [m([(ART, 400_000), (BOB, 600_000)], 2, USD, track_id=3),
               m([(ART, 400_000), (CAT, 600_000)], 10, ETH, track_id=4)]
    with pytest.raises(CannotBeFair) as e:
        suggested_split(members, "0x" + "e" * 40, 100, ART)
    assert (e.value.least_price, e.value.track_ids, e.value.owed_ppm) == (None, [3, 4], 1_200_000)
    assert "120%" in str(e.value) and "tracks 3, 4" in str(e.value)
    # Priced in USD, only the ETH track is kept whole (60%): Bob's 60% of 2 needs a price of 3.
    assert suggested_split(members, USD, 3, ART) == [(BOB, 400_000), (CAT, 600_000)]
    with pytest.raises(CannotBeFair) as e:
        suggested_split(members, USD, 2, ART)
    assert e.value.least_price == 3 and e.value.track_ids == [4]


def test_free_members_add_nothing_and_a_free_release_is_fair_only_to_free_tracks():
    free_duet = m([(ART, 500_000), (BOB, 500_000)], 0)
    assert fair_shares([free_duet, m([(ART, 1_000_000)], 10)], ETH, 10, ART) == {}
    assert suggested_split([free_duet], ETH, 0, ART) == [(ART, 1_000_000)]
    assert suggested_split([m([(ART, 1_000_000)], 10)], ETH, 0, ART) == [(ART, 1_000_000)]  # only the artist's
    with pytest.raises(CannotBeFair) as e:
        suggested_split([free_duet, m([(ART, 500_000), (BOB, 500_000)], 10)], ETH, 0, ART)
    assert e.value.least_price == 5
    # A free member priced 0 in another token is free too: nothing kept whole.
    assert fair_shares([m([(ART, 500_000), (BOB, 500_000)], 0, USD)], ETH, 1, ART) == {}
    # A free release with a track in another token paying Bob: any price above 0 keeps him whole.
    with pytest.raises(CannotBeFair) as e:
        suggested_split([m([(ART, 500_000), (BOB, 500_000)], 2, USD, 9)], ETH, 0, ART)
    assert e.value.least_price == 1 and e.value.track_ids == [9]


def test_split_order_case_and_duplicate_recipients():
    members = [m([(BOB.upper().replace("0X", "0x"), 300_000), (ART, 700_000)], 10)]
    assert losers(members, ETH, 10, ART, [ART, BOB, BOB], [800_000, 100_000, 100_000]) == [Loser(BOB, 300_000, 200_000)]
    assert losers(members, ETH, 10, ART.upper().replace("0X", "0x"), [BOB, ART], [300_000, 700_000]) == []


def test_an_artist_none_of_the_tracks_pays_gets_no_zero_share():
    members = [m([(BOB, 1_000_000)], 10)]
    assert suggested_split(members, ETH, 10, ART) == [(BOB, 1_000_000)]
    assert suggested_split(members, ETH, 20, ART) == [(ART, 500_000), (BOB, 500_000)]


def test_common_token():
    assert common_token([m([], 1, USD.upper().replace("0X", "0x")), m([], 2, USD)]) == USD
    assert common_token([m([], 1, USD), m([], 2, ETH)]) is None
