"""Releases attacked for real (`ninety serve` over Anvil, IPFS and an indexed ledger):
a release that sells another artist's tracks, malformed or oversized track lists, and
wallets after a zip they did not pay for.

- Mallory puts the victim's track on a release of hers: refused before anything is
  pinned, and no attestation can be had for it (the contract would refuse the listing
  too, but this server must not attest or pin what it would not sell).
- Duplicates, 101 ids, and a track_ids field of megabytes: refused by count, by form
  part size and by the route's body cap, never parsed whole.
- A wallet that bought nothing, another release, or one track of the release asks for the
  zip; a release's id through the track download; a zip after a member was taken down.
"""
from __future__ import annotations

import json

import httpx
from sqlalchemy import func, select

from backend.models import ReleaseUpload
from ninety.attest import CatalogSigner
from ninety.db import make_engine
from tests.support.live_api import MemoryWatch
from tests.support.listings import FAN, MALLORY, VICTIM, list_upload, sync, wallet
from tests.support.media import wav_bytes
from tests.support.releases import register, release_form
from tests.support.siwe import PUBLIC_URL

MILLI = 10**15


def _post_release(api, headers, track_ids, **fields) -> httpx.Response:
    data, files = release_form(track_ids, **fields)
    return httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=headers, timeout=60)


def _release_uploads(api) -> int:
    engine = make_engine(api.db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(ReleaseUpload)).scalar_one()
    finally:
        engine.dispose()


def _release(api, world, index: int, track_ids, price: int = 2 * MILLI) -> int:
    headers = api.login(index)
    r = _post_release(api, headers, track_ids)
    assert r.status_code == 201, r.text
    return register(world, api.post_json, headers, r.json()["metadata_cid"], wallet(index), track_ids, price)


def test_a_release_of_another_artists_track_is_refused_before_anything_is_pinned(api, world):
    victim_track, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 330.0), title="Victim's")
    own_track, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 660.0), title="Mallory's")
    sync(api, world)
    mallory = api.login(MALLORY)
    for ids in ([victim_track], [own_track, victim_track]):
        r = _post_release(api, mallory, ids)
        assert r.status_code == 422, r.text
        assert r.json()["track_id"] == victim_track and wallet(VICTIM).lower() in r.json()["detail"]
    assert _release_uploads(api) == 0
    # Her own track alone is fine, and its attestation is hers only: the victim (or anyone
    # else) asking for it with their split gets nothing.
    ok = _post_release(api, mallory, [own_track])
    assert ok.status_code == 201, ok.text
    cid = ok.json()["metadata_cid"]
    stolen = api.post_json(f"/api/uploads/{cid}/attestation",
                           {"split": [{"address": wallet(VICTIM), "share_ppm": 1_000_000}]}, api.login(VICTIM))
    assert stolen.status_code == 404
    # A release id is no member either.
    rid = register(world, api.post_json, mallory, cid, wallet(MALLORY), [own_track], MILLI)
    sync(api, world)
    nested = _post_release(api, mallory, [rid])
    assert nested.status_code == 422 and "is a release" in nested.json()["detail"]


def test_duplicate_too_many_and_oversized_track_lists_are_refused(api, world):
    tid, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 440.0))
    sync(api, world)
    h = api.login(MALLORY)
    dup = _post_release(api, h, [tid, tid])
    assert dup.status_code == 422 and dup.json()["track_id"] == tid and "twice" in dup.json()["detail"]
    assert _post_release(api, h, f"{tid}, {tid}").status_code == 422
    too_many = _post_release(api, h, list(range(1, 102)))
    assert too_many.status_code == 422 and "101" in too_many.json()["detail"]
    assert _post_release(api, h, []).status_code == 422
    for junk in ('["1", 2]', "[1.5]", "[true]", "[-1]", "1;2", f"[{2**63}]", "{}"):
        assert _post_release(api, h, junk).status_code == 422, junk
    # Past the field's own limit, past the form's part limit, past the route's body cap.
    long_list = ", ".join(str(tid) for _ in range(1000))
    assert _post_release(api, h, long_list).status_code == 422
    assert _post_release(api, h, "1," * 50_000).status_code in (400, 413)
    huge = _post_release(api, h, "1" * (20 * 1024 * 1024))
    assert huge.status_code == 413
    assert _release_uploads(api) == 0
    # Still serving.
    assert api.get("/api/status").status_code == 200


def test_zips_only_for_buyers_of_that_release(api, world):
    t1, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 300.0), title="One", price=MILLI)
    t2, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 350.0), title="Two", price=MILLI)
    t3, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 400.0), title="Three", price=MILLI)
    sync(api, world)
    album = _release(api, world, VICTIM, [t1, t2])
    other = _release(api, world, VICTIM, [t3])
    m = world.market
    m.buy(other, 2 * MILLI, wallet(FAN))  # a buyer of another release
    m.buy(t1, MILLI, wallet(MALLORY))  # a buyer of one member only
    sync(api, world)
    url = f"/api/releases/{album}/download"
    assert api.get(url).status_code == 401
    for who in (FAN, MALLORY):
        r = api.get(url, headers=api.login(who))
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", who
    # The other release's buyer gets its zip and its track, not this album's tracks.
    fan = api.login(FAN)
    assert api.get(f"/api/releases/{other}/download", headers=fan).status_code == 200
    assert api.get(f"/api/tracks/{t3}/download", headers=fan).status_code == 200
    assert api.get(f"/api/tracks/{t1}/download", headers=fan).status_code == 403
    # The one-track buyer has that track only.
    mallory = api.login(MALLORY)
    assert api.get(f"/api/tracks/{t1}/download", headers=mallory).status_code == 200
    assert api.get(f"/api/tracks/{t2}/download", headers=mallory).status_code == 403
    # A release's id is not a track: its buyer gets no file through the track routes,
    # and free downloads refuse it.
    m.buy(album, 2 * MILLI, wallet(FAN))
    sync(api, world)
    for path in (f"/api/tracks/{album}/download", f"/api/tracks/{album}/preview", f"/api/tracks/{album}"):
        r = api.get(path, headers=fan)
        assert r.status_code == 404 and f"/api/releases/{album}" in r.json()["detail"], path
    free = httpx.post(f"{api.url}/api/tracks/{album}/free-download", json={"epoch": 0, "signature": "0x" + "11" * 65},
                      headers={**fan, "Origin": PUBLIC_URL}, timeout=30)
    assert free.status_code == 404 and f"/api/releases/{album}" in free.json()["detail"]
    assert api.get(url, headers=fan).status_code == 200


def test_a_zip_of_a_release_whose_track_was_taken_down_is_refused(live_api, world, db_env):
    api = live_api(**db_env)  # SQLite and PostgreSQL: the availability queries are the catalog's
    world.require_attestations(CatalogSigner.load(None, api.data_dir))
    t1, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 250.0), title="Kept", price=MILLI)
    t2, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 275.0), title="Taken", price=MILLI)
    sync(api, world)
    album = _release(api, world, VICTIM, [t1, t2])
    world.market.buy(album, 2 * MILLI, wallet(FAN))
    sync(api, world)
    fan = api.login(FAN)
    assert api.get(f"/api/releases/{album}/download", headers=fan).status_code == 200
    reason = "bafkreiaa3ymbe6lusm7ysxhsyy6iucksvmqzm6zgj3i6ihzyabpo7xaffe"
    world.market.block_track(t2, reason, world.owner)
    sync(api, world)
    z = api.get(f"/api/releases/{album}/download", headers=fan)
    assert z.status_code == 451 and z.json()["reason_cid"] == reason
    page = api.get(f"/api/releases/{album}").json()
    assert page["available"] is False and str(t2) in page["unavailable_reason"]
    assert album not in [x["release_id"] for x in api.get("/api/releases").json()["items"]]
    # The kept track still downloads for the album's buyer; the taken one does not.
    assert api.get(f"/api/tracks/{t1}/download", headers=fan).status_code == 200
    assert api.get(f"/api/tracks/{t2}/download", headers=fan).status_code == 451
    # No new release, and no attestation for an earlier upload, may hold the taken track.
    victim = api.login(VICTIM)
    assert _post_release(api, victim, [t1, t2]).status_code == 422
    pending = _post_release(api, victim, [t1])
    assert pending.status_code == 201
    world.market.block_track(t1, reason, world.owner)
    sync(api, world)
    att = api.post_json(f"/api/uploads/{pending.json()['metadata_cid']}/attestation",
                        {"split": [{"address": wallet(VICTIM), "share_ppm": 1_000_000}], "price": str(MILLI)}, victim)
    assert att.status_code == 409 and "taken down" in att.json()["detail"]


def test_a_release_cannot_cut_a_tracks_collaborators_out(api, world):
    """The artist co-owns a track with the fan (80/20) and puts it on an album whose split
    pays only herself: the attestation is refused, with the split that keeps the fan whole
    (20% of the 1 mETH duet over the album's 2 mETH: 10%), and so is an album priced at
    1 mETH with that split (the fan's 0.2 mETH from a sale of the duet is 20% of it)."""
    duet, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 610.0), title="Duet",
                          split=json.dumps([{"address": wallet(VICTIM), "share_ppm": 800_000},
                                            {"address": wallet(FAN), "share_ppm": 200_000}]))
    solo, _ = list_upload(api, world, VICTIM, wav_bytes(2.0, 640.0), title="Solo")
    sync(api, world)
    h = api.login(VICTIM)
    r = _post_release(api, h, [duet, solo])
    assert r.status_code == 201, r.text
    fair = sorted([(wallet(FAN).lower(), 100_000), (wallet(VICTIM).lower(), 900_000)])
    assert [(s["address"], s["share_ppm"]) for s in r.json()["suggested_split"]] == fair
    cid = r.json()["metadata_cid"]
    greedy = api.post_json(f"/api/uploads/{cid}/attestation",
                           {"split": [{"address": wallet(VICTIM), "share_ppm": 1_000_000}], "price": str(2 * MILLI)}, h)
    assert greedy.status_code == 409, greedy.text
    assert greedy.json()["losers"] == [{"address": wallet(FAN).lower(), "share_ppm": 100_000, "new_share_ppm": 0}]
    assert [(s["address"], s["share_ppm"]) for s in greedy.json()["suggested_split"]] == fair
    cheap = api.post_json(f"/api/uploads/{cid}/attestation",
                          {"split": [{"address": a, "share_ppm": s} for a, s in fair], "price": str(MILLI)}, h)
    assert cheap.status_code == 409, cheap.text
    assert cheap.json()["losers"] == [{"address": wallet(FAN).lower(), "share_ppm": 200_000, "new_share_ppm": 100_000}]
    no_price = api.post_json(f"/api/uploads/{cid}/attestation",
                             {"split": [{"address": a, "share_ppm": s} for a, s in fair]}, h)
    assert no_price.status_code == 422 and "price is required" in no_price.json()["detail"]
    release_id = register(world, api.post_json, h, cid, wallet(VICTIM), [duet, solo], 2 * MILLI, split=fair)
    sync(api, world)
    assert api.get(f"/api/releases/{release_id}").json()["available"] is True


def test_a_big_zip_streams_without_the_server_holding_it(api, world):
    """Three 3-minute tracks (about 52 MB of originals): the zip is made as it is sent, so
    the server's memory hardly moves while a buyer downloads it (a zip built in memory
    first would add its whole size)."""
    ids, sizes = [], []
    for i in range(3):
        audio = wav_bytes(180.0, 200.0 + 90 * i, rate=48_000)
        tid, _ = list_upload(api, world, VICTIM, audio, title=f"Long {i}", price=MILLI)
        ids.append(tid)
        sizes.append(len(audio))
    sync(api, world)
    album = _release(api, world, VICTIM, ids)
    world.market.buy(album, 2 * MILLI, wallet(FAN))
    sync(api, world)
    fan = api.login(FAN)

    def download() -> int:
        received = 0
        with httpx.stream("GET", f"{api.url}/api/releases/{album}/download", headers=fan, timeout=120) as r:
            assert r.status_code == 200 and "content-length" not in r.headers
            for chunk in r.iter_bytes():
                received += len(chunk)
        return received

    assert download() > sum(sizes)  # the files and the zip's headers
    with MemoryWatch(api.pid) as mem:
        download()
    print(f"\nzip of {sum(sizes) / 1e6:.0f} MB: server memory +{mem.growth_mb:.1f} MB")
    assert mem.growth_mb < 20
