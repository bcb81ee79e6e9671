"""The demo album's split (ninety/cli/demo_release.py) is the one the catalog suggests and
attests for its tracks (backend/release_splits.py), by the demo's own figures."""
from backend.release_splits import losers, suggested_split
from ninety.cli.demo import RELEASE_ARTIST, RELEASE_TRACKS, TRACKS
from ninety.cli.demo_release import fair_split


def addr(wallet: int) -> str:
    return "0x" + f"{wallet:x}" * 40


def test_the_demo_album_pays_each_collaborator_its_average_share():
    splits = [TRACKS[i].split for i in RELEASE_TRACKS]
    split = fair_split(splits, RELEASE_ARTIST)
    assert dict(split) == {3: 700_001, 5: 216_666, 6: 83_333}  # (40+0+25)/3 %, 25/3 %, the rest to the band
    as_addresses = [[(addr(w), s) for w, s in track] for track in splits]
    assert sorted((addr(w), s) for w, s in split) == suggested_split(as_addresses, addr(RELEASE_ARTIST))
    assert losers(as_addresses, addr(RELEASE_ARTIST), [addr(w) for w, _ in split], [s for _, s in split]) == []


def test_a_payee_on_every_track_keeps_its_share_and_the_artist_gets_the_rounding():
    assert fair_split([((1, 700_000), (2, 300_000))] * 3, 1) == [(1, 700_000), (2, 300_000)]
    assert fair_split([((1, 1_000_000),), ((1, 500_000), (2, 500_000)), ((1, 1_000_000),)], 1) == [
        (1, 833_334), (2, 166_666)]
    assert fair_split([((2, 1_000_000),), ((2, 600_000), (3, 400_000))], 1) == [(2, 800_000), (3, 200_000)]


def test_the_demo_album_costs_less_than_its_tracks_in_the_same_token():
    from ninety.cli.demo_release import RELEASE

    prices = [TRACKS[i].price.split() for i in RELEASE_TRACKS]
    amount, unit = RELEASE["price"].split()
    assert {u for _, u in prices} == {unit} == {"mUSDC"}
    assert float(amount) < sum(float(p) for p, _ in prices)
