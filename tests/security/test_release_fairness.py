"""A release is judged by the split it is listed with, against its tracks' splits and prices
as they move (backend/release_fairness.py), over `ninety serve`, Anvil, IPFS and an indexed
ledger: unfair now, it is not for sale here; a sale opens its tracks only if the release
was fair at that sale, so a fan who bought it while it was fair keeps the tracks, and one
who bought it while it cut a collaborator out gets nothing."""
from __future__ import annotations

import json

import httpx

from tests.support.listings import FAN, MALLORY, SPONSOR, VICTIM, list_upload, sync, wallet
from tests.support.media import wav_bytes
from tests.support.releases import register, release_form

MILLI = 10**15
LATE_FAN = 4  # a second buyer, who comes while the release is unfair


def _album(api, world, track_ids, price, split=None) -> int:
    h = api.login(MALLORY)
    data, files = release_form(track_ids)
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=h, timeout=60)
    assert r.status_code == 201, r.text
    return register(world, api.post_json, h, r.json()["metadata_cid"], wallet(MALLORY), track_ids, price, split=split)


def _opens(api, who: int, track: int, album: int) -> tuple[int, int]:
    """(the track's download, the album's zip) status for wallet `who`."""
    h = api.login(who)
    with httpx.stream("GET", f"{api.url}/api/releases/{album}/download", headers=h, timeout=60) as z:
        zipped = z.status_code
    return api.get(f"/api/tracks/{track}/download", headers=h).status_code, zipped


def test_buyers_from_while_it_was_fair_keep_the_tracks_and_sales_while_unfair_open_nothing(api, world):
    m = world.market
    track, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 737.0), price=10 * MILLI, title="Later shared")
    sync(api, world)
    album = _album(api, world, [track], MILLI)  # all to Mallory: fair while the track is hers alone
    m.buy(album, MILLI, wallet(FAN))
    shared = m.create_split([(wallet(MALLORY), 500_000), (wallet(VICTIM), 500_000)], wallet(MALLORY))
    assert m.propose_split(track, shared, wallet(MALLORY)) is True  # the victim joins the track
    m.buy(album, MILLI, wallet(LATE_FAN))  # the chain still sells the album
    sync(api, world)
    page = api.get(f"/api/releases/{album}").json()
    assert page["available"] is False
    reason = page["unavailable_reason"]
    assert wallet(VICTIM).lower() in reason and "50%" in reason and f"proposeSplit on release {album}" in reason
    assert album not in [r["release_id"] for r in api.get("/api/releases").json()["items"]]
    assert _opens(api, FAN, track, album) == (200, 200)
    assert _opens(api, LATE_FAN, track, album) == (403, 403)
    # Mallory moves the album to the track's split: raising the victim needs nobody's consent.
    assert m.propose_split(album, shared, wallet(MALLORY)) is True
    sync(api, world)
    assert api.get(f"/api/releases/{album}").json()["available"] is True
    assert _opens(api, LATE_FAN, track, album) == (403, 403)  # that sale paid the victim nothing
    m.buy(album, MILLI, wallet(LATE_FAN))
    sync(api, world)
    assert _opens(api, LATE_FAN, track, album) == (200, 200)


def test_raising_the_shared_tracks_price_makes_the_album_unfair_from_then_on(api, world):
    m = world.market
    halves = [{"address": wallet(w).lower(), "share_ppm": 500_000} for w in (MALLORY, VICTIM)]
    duet, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 757.0), price=10 * MILLI, title="Duet",
                          split=json.dumps(halves))
    solo, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 787.0), price=10 * MILLI, title="Solo")
    sync(api, world)
    # Equal prices: the victim's fair share is 50% x 10 / 20 = 25%.
    quarter = sorted([(wallet(MALLORY).lower(), 750_000), (wallet(VICTIM).lower(), 250_000)])
    album = _album(api, world, [duet, solo], 15 * MILLI, split=quarter)
    m.buy(album, 15 * MILLI, wallet(FAN))
    m.update_track(duet, 30 * MILLI, True, wallet(MALLORY))  # now 50% x 30 / 40 = 37.5%
    m.buy(album, 15 * MILLI, wallet(LATE_FAN))
    sync(api, world)
    page = api.get(f"/api/releases/{album}").json()
    assert page["available"] is False and "37.5%" in page["unavailable_reason"]
    assert _opens(api, FAN, duet, album) == (200, 200)
    assert _opens(api, LATE_FAN, duet, album) == (403, 403)
    m.update_track(duet, 10 * MILLI, True, wallet(MALLORY))  # back to equal weights: fair again
    sync(api, world)
    assert api.get(f"/api/releases/{album}").json()["available"] is True
    assert _opens(api, LATE_FAN, duet, album) == (403, 403)  # bought while it was unfair


def _shared(api, world, freq: float, price: int, token: str, payee: int, share: int) -> int:
    split = [{"address": wallet(MALLORY).lower(), "share_ppm": 1_000_000 - share},
             {"address": wallet(payee).lower(), "share_ppm": share}]
    tid, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, freq), price=price, title=f"Shared {freq:g}",
                         token=token, split=json.dumps(sorted(split, key=lambda p: p["address"])))
    return tid


def test_tracks_priced_in_another_token_keep_their_collaborators_whole(api, world):
    usdc = world.usdc.address.lower()
    duet = _shared(api, world, 811.0, 2 * 10**6, usdc, VICTIM, 500_000)  # 2 mUSDC, victim 50%
    solo, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 833.0), price=2 * 10**6, title="Solo", token=usdc)
    extra, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 857.0), price=10 * MILLI, title="In ETH")
    sync(api, world)
    h = api.login(MALLORY)
    data, files = release_form([duet, solo, extra])
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=h, timeout=60)
    assert r.status_code == 201, r.text
    # No common token: the suggestion assumes ETH, where the mUSDC duet cannot be weighed: 50%.
    assert r.json()["suggested_token"] == "0x" + "0" * 40
    assert {s["address"]: s["share_ppm"] for s in r.json()["suggested_split"]}[wallet(VICTIM).lower()] == 500_000
    cid = r.json()["metadata_cid"]
    quarter = [{"address": a, "share_ppm": s}
               for a, s in sorted([(wallet(MALLORY).lower(), 750_000), (wallet(VICTIM).lower(), 250_000)])]
    in_eth = api.post_json(f"/api/uploads/{cid}/attestation", {"split": quarter}, h)
    assert in_eth.status_code == 409, in_eth.text
    assert in_eth.json()["losers"] == [{"address": wallet(VICTIM).lower(), "share_ppm": 500_000,
                                        "new_share_ppm": 250_000}]
    # Priced in mUSDC, the duet weighs 2 of the 4 mUSDC (25%) and the ETH track pays only Mallory.
    in_usdc = api.post_json(f"/api/uploads/{cid}/attestation", {"split": quarter, "token": usdc}, h)
    assert in_usdc.status_code == 200, in_usdc.text


def test_a_release_no_split_can_make_fair_is_refused_naming_the_tracks_to_reprice(api, world):
    a = _shared(api, world, 877.0, 2 * 10**6, world.usdc.address.lower(), VICTIM, 600_000)
    b = _shared(api, world, 899.0, 10 * MILLI, "0x" + "0" * 40, SPONSOR, 600_000)
    sync(api, world)
    data, files = release_form([a, b])
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=api.login(MALLORY), timeout=60)
    assert r.status_code == 409, r.text
    assert "120%" in r.json()["detail"] and "Reprice" in r.json()["detail"]
    assert r.json()["reprice_track_ids"] in ([a], [b])
