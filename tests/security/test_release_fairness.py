"""A release is judged by the split it is listed with, against its tracks' splits and prices
as they move (backend/release_fairness.py), over `ninety serve`, Anvil, IPFS and an indexed
ledger: unfair now, it is not for sale here; a sale opens its tracks only if the release
was fair at that sale, so a fan who bought it while it was fair keeps the tracks, and one
who bought it while it cut a collaborator out gets nothing."""
from __future__ import annotations

import json

import httpx

from tests.support.listings import FAN, MALLORY, VICTIM, list_upload, sync, wallet
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
