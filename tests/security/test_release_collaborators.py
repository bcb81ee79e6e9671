"""A release must not cut a track's collaborators out (`ninety serve` over Anvil, IPFS and
an indexed ledger).

Mallory sells a track whose split pays her collaborator (the victim) half. To sell that
recording without paying him, she could list a cheap "release" of it with a split paying
only herself: the fans who buy it could then download the track.
- With the catalog signer set (production), the attestation of her own solo upload cannot
  list a release: a release's attestation binds its tracks (EIP-712 `Release`), and the
  API attests a release only with a split fair to its tracks' payees (409 otherwise).
- Under open registration the contract cannot tell; the fake release is not genuine (its
  metadata is no release of that track), so buying it opens no download of the track.
"""
from __future__ import annotations

import json

import httpx
from web3 import Web3

from ninety.market import ETH
from tests.support.listings import FAN, MALLORY, VICTIM, list_upload, reverts, sync, wallet
from tests.support.media import wav_bytes
from tests.support.releases import release_form

MILLI = 10**15


def _collaborative_track(api, world) -> int:
    split = sorted([(wallet(MALLORY).lower(), 500_000), (wallet(VICTIM).lower(), 500_000)])
    tid, _ = list_upload(api, world, MALLORY, wav_bytes(2.0, 330.0), price=10 * MILLI, title="Together",
                         split=json.dumps([{"address": a, "share_ppm": s} for a, s in split]))
    return tid


def test_a_tracks_attestation_cannot_list_a_release_of_other_tracks(api, world):
    together = _collaborative_track(api, world)
    # Her own solo upload: its attestation (all to her) is hers to use...
    _, solo = list_upload(api, world, MALLORY, wav_bytes(2.0, 880.0), title="Alone")
    m = world.market
    fn = m.contract.functions.registerRelease(
        solo["metadata_cid"], solo["split_id"], Web3.to_checksum_address(ETH), 1, [together],
        bytes.fromhex(solo["attestation"][2:]))
    # ...but not for a release of the track she shares (nor for any release).
    assert reverts(world, fn, wallet(MALLORY)) == "Marketplace__InvalidAttestation"


def test_the_api_attests_a_release_only_with_a_split_fair_to_its_tracks_payees(api, world):
    together = _collaborative_track(api, world)
    sync(api, world)
    headers = api.login(MALLORY)
    data, files = release_form([together])
    r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["suggested_split"] == [{"address": a, "share_ppm": 500_000}
                                           for a in sorted([wallet(MALLORY).lower(), wallet(VICTIM).lower()])]
    cid = r.json()["metadata_cid"]
    unfair = api.post_json(f"/api/uploads/{cid}/attestation",
                           {"split": [{"address": wallet(MALLORY), "share_ppm": 1_000_000}],
                            "price": str(10 * MILLI)}, headers)
    assert unfair.status_code == 409, unfair.text
    fair = api.post_json(f"/api/uploads/{cid}/attestation",
                         {"split": r.json()["suggested_split"], "price": str(10 * MILLI)}, headers)
    assert fair.status_code == 200, fair.text


def test_under_open_registration_a_fake_release_opens_no_download(api, world):
    together = _collaborative_track(api, world)
    m = world.market
    m.set_catalog_signer(ETH, world.owner)  # open registration: nothing is attested
    solo_split = m.create_split([(wallet(MALLORY), 1_000_000)], wallet(MALLORY))
    fn = m.contract.functions.registerRelease("bafkreinotareleaseofthattrack", solo_split,
                                              Web3.to_checksum_address(ETH), 1, [together], b"")
    fake = int(fn.call({"from": wallet(MALLORY)}))
    m.send(fn, wallet(MALLORY))
    m.send(m.contract.functions.buy(fake, 1), wallet(FAN), value=1)
    sync(api, world)
    r = api.get(f"/api/tracks/{together}/download", headers=api.login(FAN))
    assert r.status_code == 403, r.text
