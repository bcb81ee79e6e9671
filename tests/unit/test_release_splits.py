"""The fair-share rule for a release's split (backend/release_splits.py), by hand-computed
figures."""
from backend.release_splits import Loser, fair_shares, losers, suggested_split

ART = "0x" + "a" * 40
BOB = "0x" + "b" * 40
CAT = "0x" + "c" * 40


def test_fair_share_is_the_average_over_tracks_missing_counting_as_zero():
    splits = [[(ART, 500_000), (BOB, 500_000)], [(ART, 1_000_000)], [(ART, 700_000), (CAT, 300_000)]]
    assert fair_shares(splits) == {ART: 733_333, BOB: 166_666, CAT: 100_000}


def test_a_split_paying_only_the_artist_cuts_the_collaborators_out():
    splits = [[(ART, 500_000), (BOB, 500_000)], [(ART, 1_000_000)]]
    assert losers(splits, ART, [ART], [1_000_000]) == [Loser(BOB, 250_000, 0)]


def test_one_ppm_below_the_fair_share_is_refused_and_the_fair_share_is_accepted():
    splits = [[(ART, 500_000), (BOB, 500_000)], [(ART, 1_000_000)]]
    assert losers(splits, ART, [ART, BOB], [750_001, 249_999]) == [Loser(BOB, 250_000, 249_999)]
    assert losers(splits, ART, [ART, BOB], [750_000, 250_000]) == []


def test_the_artist_may_lower_its_own_share_and_addresses_compare_without_case():
    splits = [[(ART, 600_000), (BOB.upper().replace("0X", "0x"), 400_000)]]
    assert losers(splits, ART, [ART, BOB, CAT], [100_000, 400_000, 500_000]) == []


def test_suggested_split_is_fair_sorted_and_sums_to_a_million():
    splits = [[(ART, 500_000), (BOB, 500_000)], [(ART, 700_000), (CAT, 300_000)], [(ART, 1_000_000)]]
    suggested = suggested_split(splits, ART)
    assert suggested == [(ART, 1_000_000 - 166_666 - 100_000), (BOB, 166_666), (CAT, 100_000)]
    assert sum(s for _, s in suggested) == 1_000_000
    assert losers(splits, ART, [a for a, _ in suggested], [s for _, s in suggested]) == []


def test_no_tracks_no_rule():
    assert fair_shares([]) == {}
    assert suggested_split([], ART) == [(ART, 1_000_000)]


def test_an_artist_paid_by_none_of_its_tracks_gets_no_zero_share():
    splits = [[(BOB, 1_000_000)], [(BOB, 400_000), (CAT, 600_000)]]
    assert suggested_split(splits, ART) == [(BOB, 700_000), (CAT, 300_000)]
