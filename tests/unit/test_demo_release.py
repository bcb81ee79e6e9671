"""The demo album's split (ninety/cli/demo_release.py) is the one the catalog suggests and
attests for its tracks and its price (backend/release_splits.py), by the demo's own figures."""
import pytest

from backend.release_splits import Member, losers, suggested_split
from ninety.cli.demo import RELEASE_ARTIST, RELEASE_TRACKS, TRACKS
from ninety.cli.demo_release import RELEASE, fair_split

USDC = "0x" + "d" * 40


def addr(wallet: int) -> str:
    return "0x" + f"{wallet:x}" * 40


def micro(price: str) -> int:
    amount, unit = price.split()
    assert unit == "mUSDC"
    return int(float(amount) * 10**6)


def test_the_demo_album_pays_each_collaborator_what_a_sale_of_their_tracks_pays_them():
    splits = [TRACKS[i].split for i in RELEASE_TRACKS]
    prices = [micro(TRACKS[i].price) for i in RELEASE_TRACKS]
    assert prices == [4_000_000, 5_000_000, 2_000_000] and micro(RELEASE["price"]) == 9_000_000
    split = fair_split(splits, prices, RELEASE_ARTIST, 9_000_000)
    # Wallet 5: (40% * 4 + 25% * 2) / 9 = 23.33333%, up; wallet 6: 25% * 2 / 9 = 5.55556%,
    # up; the rest to the band.
    assert dict(split) == {3: 711_110, 5: 233_334, 6: 55_556}
    members = [Member([(addr(w), s) for w, s in track], USDC, p) for track, p in zip(splits, prices)]
    assert sorted((addr(w), s) for w, s in split) == suggested_split(members, USDC, 9_000_000, addr(RELEASE_ARTIST))
    assert losers(members, USDC, 9_000_000, addr(RELEASE_ARTIST), [addr(w) for w, _ in split],
                  [s for _, s in split]) == []


def test_a_payee_on_every_track_keeps_its_share_at_the_tracks_total_and_the_artist_gets_the_rounding():
    assert fair_split([((1, 700_000), (2, 300_000))] * 3, [5, 1, 9], 1, 15) == [(1, 700_000), (2, 300_000)]
    # 50% of 1 over 3: 166666.7, rounded up.
    assert fair_split([((1, 1_000_000),), ((1, 500_000), (2, 500_000)), ((1, 1_000_000),)], [1, 1, 1], 1, 3) == [
        (1, 833_333), (2, 166_667)]
    # Cheaper than its tracks, the album pays a collaborator more of each sale: 40% * 1 / 2.
    assert fair_split([((1, 1_000_000),), ((1, 600_000), (3, 400_000))], [3, 1], 1, 2) == [(1, 800_000),
                                                                                            (3, 200_000)]
    # Wallets 2 and 3 earn 100% * 3 + 60% * 1 + 40% * 1 = 4 from a sale of each track: not in 2.
    with pytest.raises(ValueError, match="at least 4"):
        fair_split([((2, 1_000_000),), ((2, 600_000), (3, 400_000))], [3, 1], 1, 2)
    assert fair_split([((1, 500_000), (2, 500_000)), ((1, 1_000_000),)], [0, 5], 1, 5) == [(1, 1_000_000)]


def test_the_demo_album_costs_less_than_its_tracks_in_the_same_token():
    prices = [TRACKS[i].price.split() for i in RELEASE_TRACKS]
    amount, unit = RELEASE["price"].split()
    assert {u for _, u in prices} == {unit} == {"mUSDC"}
    assert float(amount) < sum(float(p) for p, _ in prices)
