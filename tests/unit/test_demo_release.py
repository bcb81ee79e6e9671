"""The demo album's split (ninety/cli/demo_release.py) is the one the catalog suggests and
attests for its tracks (backend/release_splits.py), by the demo's own figures."""
from backend.release_splits import Member, losers, suggested_split
from ninety.cli.demo import RELEASE_ARTIST, RELEASE_TRACKS, TRACKS
from ninety.cli.demo_release import fair_split

USDC = "0x" + "d" * 40


def addr(wallet: int) -> str:
    return "0x" + f"{wallet:x}" * 40


def micro(price: str) -> int:
    amount, unit = price.split()
    assert unit == "mUSDC"
    return int(float(amount) * 10**6)


def test_the_demo_album_pays_each_collaborator_its_share_weighed_by_price():
    splits = [TRACKS[i].split for i in RELEASE_TRACKS]
    prices = [micro(TRACKS[i].price) for i in RELEASE_TRACKS]
    assert prices == [4_000_000, 5_000_000, 2_000_000]
    split = fair_split(splits, prices, RELEASE_ARTIST)
    # Wallet 5: (40% * 4 + 25% * 2) / 11; wallet 6: 25% * 2 / 11; the rest to the band.
    assert dict(split) == {3: 763_637, 5: 190_909, 6: 45_454}
    members = [Member([(addr(w), s) for w, s in track], USDC, p) for track, p in zip(splits, prices)]
    assert sorted((addr(w), s) for w, s in split) == suggested_split(members, USDC, addr(RELEASE_ARTIST))
    assert losers(members, USDC, addr(RELEASE_ARTIST), [addr(w) for w, _ in split], [s for _, s in split]) == []


def test_a_payee_on_every_track_keeps_its_share_and_the_artist_gets_the_rounding():
    assert fair_split([((1, 700_000), (2, 300_000))] * 3, [5, 1, 9], 1) == [(1, 700_000), (2, 300_000)]
    assert fair_split([((1, 1_000_000),), ((1, 500_000), (2, 500_000)), ((1, 1_000_000),)], [1, 1, 1], 1) == [
        (1, 833_334), (2, 166_666)]
    assert fair_split([((2, 1_000_000),), ((2, 600_000), (3, 400_000))], [3, 1], 1) == [(2, 900_000), (3, 100_000)]
    assert fair_split([((1, 500_000), (2, 500_000)), ((1, 1_000_000),)], [0, 0], 1) == [(1, 750_000), (2, 250_000)]


def test_the_demo_album_costs_less_than_its_tracks_in_the_same_token():
    from ninety.cli.demo_release import RELEASE

    prices = [TRACKS[i].price.split() for i in RELEASE_TRACKS]
    amount, unit = RELEASE["price"].split()
    assert {u for _, u in prices} == {unit} == {"mUSDC"}
    assert float(amount) < sum(float(p) for p, _ in prices)
