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
    album = _album(api, world, [track], 10 * MILLI)  # all to Mallory: fair while the track is hers alone
    m.buy(album, 10 * MILLI, wallet(FAN))
    shared = m.create_split([(wallet(MALLORY), 500_000), (wallet(VICTIM), 500_000)], wallet(MALLORY))
    assert m.propose_split(track, shared, wallet(MALLORY)) is True  # the victim joins the track
    m.buy(album, 10 * MILLI, wallet(LATE_FAN))  # the chain still sells the album
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
    m.buy(album, 10 * MILLI, wallet(LATE_FAN))
    sync(api, world)
    assert _opens(api, LATE_FAN, track, album) == (200, 200)


def test_raising_the_shared_tracks_price_makes_the_album_unfair_from_then_on(api, world):
    m = world.market
    halves = [{"address": wallet(w).lower(), "share_ppm": 500_000} for w in (MALLORY, VICTIM)]
    duet, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 757.0), price=10 * MILLI, title="Duet",
                          split=json.dumps(halves))
    solo, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 787.0), price=10 * MILLI, title="Solo")
    sync(api, world)
    # A sale of the duet pays the victim 5 mETH: 25% of the album's 20 mETH.
    quarter = sorted([(wallet(MALLORY).lower(), 750_000), (wallet(VICTIM).lower(), 250_000)])
    album = _album(api, world, [duet, solo], 20 * MILLI, split=quarter)
    m.buy(album, 20 * MILLI, wallet(FAN))
    m.update_track(duet, 30 * MILLI, True, wallet(MALLORY))  # now 15 mETH: 50% x 30 / 20 = 75%
    m.buy(album, 20 * MILLI, wallet(LATE_FAN))
    sync(api, world)
    page = api.get(f"/api/releases/{album}").json()
    assert page["available"] is False and "75%" in page["unavailable_reason"]
    assert _opens(api, FAN, duet, album) == (200, 200)
    assert _opens(api, LATE_FAN, duet, album) == (403, 403)
    m.update_track(duet, 10 * MILLI, True, wallet(MALLORY))  # back to 5 mETH a sale: fair again
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
    # No common token: the suggestion assumes ETH (at the ETH track's 10 mETH), where the
    # mUSDC duet cannot be compared with the price: 50%.
    assert r.json()["suggested_token"] == "0x" + "0" * 40 and r.json()["suggested_price"] == str(10 * MILLI)
    assert {s["address"]: s["share_ppm"] for s in r.json()["suggested_split"]}[wallet(VICTIM).lower()] == 500_000
    cid = r.json()["metadata_cid"]
    quarter = [{"address": a, "share_ppm": s}
               for a, s in sorted([(wallet(MALLORY).lower(), 750_000), (wallet(VICTIM).lower(), 250_000)])]
    in_eth = api.post_json(f"/api/uploads/{cid}/attestation", {"split": quarter, "price": str(10 * MILLI)}, h)
    assert in_eth.status_code == 409, in_eth.text
    assert in_eth.json()["losers"] == [{"address": wallet(VICTIM).lower(), "share_ppm": 500_000,
                                        "new_share_ppm": 250_000}]
    # Priced at 4 mUSDC, the duet's 1 mUSDC to the victim is 25% and the ETH track pays only
    # Mallory; at 3 mUSDC it is 33.3334%.
    in_usdc = api.post_json(f"/api/uploads/{cid}/attestation",
                            {"split": quarter, "token": usdc, "price": str(4 * 10**6)}, h)
    assert in_usdc.status_code == 200, in_usdc.text
    cheaper = api.post_json(f"/api/uploads/{cid}/attestation",
                            {"split": quarter, "token": usdc, "price": str(3 * 10**6)}, h)
    assert cheaper.status_code == 409, cheaper.text
    assert cheaper.json()["losers"][0]["share_ppm"] == 333_334


def test_a_release_no_split_can_make_fair_at_its_price_is_refused_naming_the_least_price(api, world):
    usdc = world.usdc.address.lower()
    a = _shared(api, world, 877.0, 2 * 10**6, usdc, VICTIM, 600_000)
    b = _shared(api, world, 899.0, 10 * MILLI, "0x" + "0" * 40, SPONSOR, 600_000)
    sync(api, world)
    h = api.login(MALLORY)
    # In ETH the victim keeps her 60% of the mUSDC track whole, and the sponsor's 6 mETH from
    # a sale of the ETH track must fit in the other 40%: at least 15 mETH.
    data, files = release_form([a, b], price=str(10 * MILLI), token="0x" + "0" * 40)
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=h, timeout=60)
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == (
        "priced at 0.01 ETH this release pays its tracks' collaborators less than a sale of their tracks does; "
        f"price it at 0.015 ETH or more (or take tracks out, reprice tracks {a} in {'0x' + '0' * 40})")
    assert r.json()["least_price"] == str(15 * MILLI) and r.json()["reprice_track_ids"] == [a]
    data, files = release_form([a, b], price=str(15 * MILLI), token="0x" + "0" * 40)
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=h, timeout=60)
    assert r.status_code == 201, r.text
    assert [(s["address"], s["share_ppm"]) for s in r.json()["suggested_split"]] == sorted(
        [(wallet(VICTIM).lower(), 600_000), (wallet(SPONSOR).lower(), 400_000)])
    # Priced in mUSDC at 2: the victim's 1.2 mUSDC is 60%, the sponsor keeps 60%: 120%.
    data, files = release_form([a, b], price=str(2 * 10**6), token=usdc)
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=h, timeout=60)
    assert r.status_code == 409 and "price it at 3 mUSDC or more" in r.json()["detail"], r.text
