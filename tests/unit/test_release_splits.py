"""The fair-share rule for a release's split (backend/release_splits.py), by hand-computed
figures."""
import pytest

from backend.release_splits import CannotBeFair, Loser, Member, common_token, fair_shares, losers, suggested_split

ART = "0x" + "a" * 40
BOB = "0x" + "b" * 40
CAT = "0x" + "c" * 40
ETH = "0x" + "0" * 40
USD = "0x" + "d" * 40


def m(split, price=1, token=ETH, track_id=0):
    return Member(split, token, price, track_id)


def test_equal_prices_give_the_plain_average_a_track_without_the_payee_counting_as_zero():
    members = [m([(ART, 500_000), (BOB, 500_000)]), m([(ART, 1_000_000)]), m([(ART, 700_000), (CAT, 300_000)])]
    assert fair_shares(members, ETH) == {ART: 733_333, BOB: 166_666, CAT: 100_000}


def test_members_in_the_releases_token_weigh_by_price():
    # Bob has 50% of a 10-unit track, Cat 30% of a 30-unit one, plus a 60-unit solo track:
    # Bob 50% * 10 / 100 = 5%, Cat 30% * 30 / 100 = 9%.
    members = [m([(ART, 500_000), (BOB, 500_000)], 10), m([(ART, 700_000), (CAT, 300_000)], 30),
               m([(ART, 1_000_000)], 60)]
    assert fair_shares(members, ETH) == {ART: 860_000, BOB: 50_000, CAT: 90_000}


def test_a_throwaway_one_wei_filler_does_not_dilute_a_shared_track():
    # Finding 1: 10 mETH shared 50/50 with a 1-wei solo intro. Equal weights gave 25%;
    # by price it is 5e15 * 1e6 / (1e16 + 1) ppm, just under 50%, rounded down.
    members = [m([(ART, 500_000), (BOB, 500_000)], 10**16), m([(ART, 1_000_000)], 1)]
    assert fair_shares(members, ETH)[BOB] == 499_999
    assert losers(members, ETH, ART, [ART, BOB], [750_000, 250_000]) == [Loser(BOB, 499_999, 250_000)]
    assert suggested_split(members, ETH, ART) == [(ART, 500_001), (BOB, 499_999)]


def test_all_free_members_in_the_token_weigh_the_same():
    members = [m([(ART, 500_000), (BOB, 500_000)], 0), m([(ART, 1_000_000)], 0)]
    assert fair_shares(members, ETH) == {ART: 750_000, BOB: 250_000}


def test_a_free_member_among_priced_ones_weighs_nothing_whatever_its_token():
    members = [m([(ART, 500_000), (BOB, 500_000)], 0, USD), m([(ART, 1_000_000)], 5)]
    assert fair_shares(members, ETH) == {ART: 1_000_000, BOB: 0}


def test_a_payee_keeps_its_whole_share_of_a_track_priced_in_another_token():
    # Release in ETH: Bob has 40% of a mUSDC track (cannot be weighed against ETH), and
    # 10% of a 3-unit ETH track beside a 1-unit ETH solo one: max(10% * 3 / 4, 40%) = 40%.
    # Cat: 20% of the ETH track's weight (20% * 3 / 4 = 15%) and nothing in mUSDC.
    members = [m([(ART, 600_000), (BOB, 400_000)], 7, USD, 1), m([(ART, 700_000), (BOB, 100_000), (CAT, 200_000)], 3),
               m([(ART, 1_000_000)], 1)]
    assert fair_shares(members, ETH) == {ART: 775_000, BOB: 400_000, CAT: 150_000}
    assert suggested_split(members, ETH, ART) == [(ART, 450_000), (BOB, 400_000), (CAT, 150_000)]
    # Priced in mUSDC instead, the ETH tracks are the ones kept whole: Bob max(40%, 10%), Cat 20%.
    assert suggested_split(members, USD, ART) == [(ART, 400_000), (BOB, 400_000), (CAT, 200_000)]


def test_others_owed_more_than_everything_cannot_be_fair_and_name_the_tracks_to_reprice():
    members = [m([(ART, 400_000), (BOB, 600_000)], 5, USD, 7), m([(ART, 400_000), (CAT, 600_000)], 5, ETH, 8)]
    with pytest.raises(CannotBeFair) as refused:
        suggested_split(members, ETH, ART)
    assert (refused.value.owed_ppm, refused.value.track_ids, refused.value.token) == (1_200_000, [7], ETH)
    assert "Reprice them in" in str(refused.value) and "tracks 7" in str(refused.value)
    # Exactly 100% is still fair, with nothing left for the artist (and no zero share).
    even = [m([(ART, 500_000), (BOB, 500_000)], 5, USD, 7), m([(ART, 500_000), (CAT, 500_000)], 5, ETH, 8)]
    assert suggested_split(even, ETH, ART) == [(BOB, 500_000), (CAT, 500_000)]


def test_a_split_paying_only_the_artist_cuts_the_collaborators_out():
    members = [m([(ART, 500_000), (BOB, 500_000)]), m([(ART, 1_000_000)])]
    assert losers(members, ETH, ART, [ART], [1_000_000]) == [Loser(BOB, 250_000, 0)]


def test_one_ppm_below_the_fair_share_is_refused_and_the_fair_share_is_accepted():
    members = [m([(ART, 500_000), (BOB, 500_000)], 3), m([(ART, 1_000_000)], 1)]  # Bob: 50% * 3 / 4
    assert losers(members, ETH, ART, [ART, BOB], [625_001, 374_999]) == [Loser(BOB, 375_000, 374_999)]
    assert losers(members, ETH, ART, [ART, BOB], [625_000, 375_000]) == []


def test_the_artist_may_lower_its_own_share_and_addresses_and_tokens_compare_without_case():
    members = [m([(ART, 600_000), (BOB.upper().replace("0X", "0x"), 400_000)], 2, USD.upper().replace("0X", "0x"))]
    assert losers(members, USD, ART, [ART, BOB, CAT], [100_000, 400_000, 500_000]) == []
    assert fair_shares(members, USD) == {ART: 600_000, BOB: 400_000}


def test_suggested_split_is_fair_sorted_and_sums_to_a_million():
    members = [m([(ART, 500_000), (BOB, 500_000)], 2), m([(ART, 700_000), (CAT, 300_000)], 3), m([(ART, 1_000_000)], 4)]
    suggested = suggested_split(members, ETH, ART)
    # Bob 50% * 2 / 9 = 111,111.1; Cat 30% * 3 / 9 = 100,000.
    assert suggested == [(ART, 1_000_000 - 111_111 - 100_000), (BOB, 111_111), (CAT, 100_000)]
    assert sum(s for _, s in suggested) == 1_000_000
    assert losers(members, ETH, ART, [a for a, _ in suggested], [s for _, s in suggested]) == []


def test_no_tracks_no_rule():
    assert fair_shares([], ETH) == {}
    assert suggested_split([], ETH, ART) == [(ART, 1_000_000)]


def test_an_artist_paid_by_none_of_its_tracks_gets_no_zero_share():
    members = [m([(BOB, 1_000_000)]), m([(BOB, 400_000), (CAT, 600_000)])]
    assert suggested_split(members, ETH, ART) == [(BOB, 700_000), (CAT, 300_000)]


def test_common_token():
    assert common_token([m([], 1, USD), m([], 2, USD.upper().replace("0X", "0x"))]) == USD
    assert common_token([m([], 1, USD), m([], 2, ETH)]) is None
