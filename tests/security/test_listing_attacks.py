"""Only the artist who uploaded a recording can sell it (issue 13), attacked for real:
`ninety serve` over Anvil, the IPFS node and a ledger indexed from the chain.

- The three-call copy: every metadata CID is public in TrackRegistered, so an attacker
  creates a split of their own and lists the victim's CID; before attestations the store
  listed the copy and served the victim's decrypted original to any signed-in wallet.
- The self-pinned variant: metadata of the attacker's own that names the attacker as
  uploader but points at the victim's audio, preview and artwork.
- A fan who bought the track uploading the file (or a re-encoded copy) from another wallet.
"""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
from web3 import Web3

from ninety.attest import CatalogSigner
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.support.listings import FAN, MALLORY, VICTIM, list_upload, refused, reverts, send, sync, wallet
from tests.support.releases import release_form
from tests.support.media import change_speed, decode, encode, music_bytes, music_samples, prepend, resample, trim_start


def test_copying_another_artists_listing_reverts_and_the_original_still_sells(api, world):
    tid, up = list_upload(api, world, VICTIM, music_bytes(1, 32), title="Original")
    m, mallory = world.market, wallet(MALLORY)
    split = m.create_split([(mallory, 1_000_000)], mallory)
    cid = up["metadata_cid"]
    # The three-call attack, with no attestation and with the victim's (bound to the victim's wallet).
    for attestation in (b"", bytes.fromhex(up["attestation"][2:])):
        fn = m.contract.functions.registerTrack(cid, split, Web3.to_checksum_address(ETH), 0, attestation)
        assert reverts(world, fn, mallory) == "Marketplace__InvalidAttestation"
    assert m.contract.functions.trackCount().call() == tid
    # The original sells and downloads, to its buyer only.
    m.buy(tid, 10**15, wallet(FAN))
    sync(api, world)
    assert [t["track_id"] for t in api.get("/api/tracks").json()["items"]] == [tid]
    got = api.get(f"/api/tracks/{tid}/download", headers=api.login(FAN))
    assert got.status_code == 200 and got.content == music_bytes(1, 32)
    assert api.get(f"/api/tracks/{tid}/download", headers=api.login(MALLORY)).status_code == 403


def test_an_attestation_is_issued_only_to_the_uploader_for_this_chain_and_contract(api, world):
    _, up = list_upload(api, world, VICTIM, music_bytes(2, 3))
    signer = CatalogSigner.load(None, api.data_dir)
    market = world.market.address
    deadline = up["attestation_expires_at"]
    cid, split = up["metadata_cid"], up["split_id"]
    assert up["attestation"] == signer.sign_listing(cid, wallet(VICTIM), split, 31337, market, deadline)
    assert up["attestation"] != signer.sign_listing(cid, wallet(MALLORY), split, 31337, market, deadline)
    assert up["attestation"] != signer.sign_listing(cid, wallet(VICTIM), "0x" + "00" * 32, 31337, market, deadline)
    # Valid for an hour of block time, no more.
    now = world.w3.eth.get_block("latest")["timestamp"]
    assert now < deadline <= now + 3600 + 60


def test_resending_the_listing_after_a_takedown_reverts(api, world, tmp_path):
    """Found by review: an attestation was reusable, so a blocked artist relisted the same
    CID as a new, unblocked track by re-sending its register_call."""
    tid, up = list_upload(api, world, MALLORY, music_bytes(12, 32))
    world.market.block_track(tid, "bafkreitakedown", world.owner)
    m = world.market
    fn = m.contract.functions.registerTrack(up["metadata_cid"], up["split_id"], Web3.to_checksum_address(ETH), 10**15,
                                            bytes.fromhex(up["attestation"][2:]))
    assert reverts(world, fn, wallet(MALLORY)) == "Marketplace__CidAlreadyListed"
    # A second upload of the same recording by the same wallet is refused (blocked).
    sync(api, world)
    body = refused(api.upload(api.login(MALLORY), music_bytes(12, 32)), tid)
    assert body["track"]["blocked"] is True


def test_a_copy_uploaded_before_the_owner_registered_is_refused_at_listing_and_hidden(api, world):
    """Found by review: unregistered uploads claim nothing, so a copier could upload first
    and list after the owner with a saved attestation."""
    recording = music_bytes(13, 40)
    early = api.upload(api.login(MALLORY), recording, title="Copy")
    assert early.status_code == 201, early.text
    tid, _ = list_upload(api, world, VICTIM, recording, title="Original")
    sync(api, world)
    # A fresh attestation re-checks the recording: refused, naming the owner's track.
    solo = {"split": [{"address": wallet(MALLORY), "share_ppm": 1_000_000}]}
    again = api.post_json(f"/api/uploads/{early.json()['metadata_cid']}/attestation", solo, headers=api.login(MALLORY))
    assert again.status_code == 409 and again.json()["track"]["track_id"] == tid, again.text
    # Nobody gets an attestation for another wallet's upload.
    theirs = api.post_json(f"/api/uploads/{early.json()['metadata_cid']}/attestation", solo, headers=api.login(FAN))
    assert theirs.status_code == 404, theirs.text
    # The saved one still lists on chain within its hour; the store does not show the copy.
    m, mallory = world.market, wallet(MALLORY)
    send(world, early.json()["create_split_call"], mallory)
    send(world, early.json()["register_call"], mallory)
    copy = m.contract.functions.trackCount().call()
    sync(api, world)
    assert [t["track_id"] for t in api.get("/api/tracks").json()["items"]] == [tid]
    assert api.get(f"/api/tracks/{copy}").status_code == 404
    # Blocking the copy does not lock the owner out of their own recording.
    m.block_track(copy, "bafkreicopy", world.owner)
    sync(api, world)
    remaster = encode(trim_start(music_samples(13, 40), 44100, 1.0), 44100, "FLAC")
    assert api.upload(api.login(VICTIM), remaster, name="v2.flac", content_type="audio/flac").status_code == 201


def test_self_pinned_metadata_pointing_at_another_artists_files_is_never_listed_or_served(api, world):
    tid, up = list_upload(api, world, VICTIM, music_bytes(3, 32), title="Original")
    m, mallory = world.market, wallet(MALLORY)
    with Ipfs(api.env["NINETY_IPFS_API"]) as ipfs:
        original = json.loads(ipfs.cat(up["metadata_cid"]))
        forged = {**original, "properties": {**original["properties"], "uploaded_by": mallory.lower(),
                                             "artist": "Mallory"}}
        forged_cid = ipfs.add_bytes(json.dumps(forged).encode())
    split = m.create_split([(mallory, 1_000_000)], mallory)
    fn = m.contract.functions.registerTrack(forged_cid, split, Web3.to_checksum_address(ETH), 0, b"")
    assert reverts(world, fn, mallory) == "Marketplace__InvalidAttestation"
    # Defence in depth: on a contract whose registration is open (no signer), the copy
    # reaches the chain, and the API still neither lists nor serves it.
    m.set_catalog_signer(ETH, world.owner)
    copy = m.register(forged_cid, split, ETH, 0, mallory)
    copy3 = m.register(up["metadata_cid"], split, ETH, 0, mallory)  # the plain three-call copy too
    sync(api, world)
    assert [t["track_id"] for t in api.get("/api/tracks").json()["items"]] == [tid]
    fan = api.login(FAN)
    for c in (copy, copy3):
        assert api.get(f"/api/tracks/{c}").status_code == 404
        for what in ("download", "preview", "artwork"):
            r = api.get(f"/api/tracks/{c}/{what}", headers=fan)
            assert r.status_code == 404, (c, what, r.status_code)


# ---------------------------------------------------------------- re-uploads

def test_a_buyer_reuploading_the_file_from_another_wallet_is_refused(api, world):
    tid, _ = list_upload(api, world, VICTIM, music_bytes(4, 40), title="Bought")
    world.market.buy(tid, 10**15, wallet(FAN))
    sync(api, world)
    bought = api.get(f"/api/tracks/{tid}/download", headers=api.login(FAN)).content
    body = refused(api.upload(api.login(FAN), bought, title="Mine now"), tid)
    assert body["match"]["kind"] == "exact" and "Bought" in body["detail"]
    # A tag added (a RIFF LIST/INFO comment) changes the file, not the decoded audio.
    payload = b"INFO" + b"ICMT" + (6).to_bytes(4, "little") + b"mine!\0"
    chunk = b"LIST" + len(payload).to_bytes(4, "little") + payload
    tagged = bought[:4] + (int.from_bytes(bought[4:8], "little") + len(chunk)).to_bytes(4, "little") + bought[8:] + chunk
    assert tagged != bought
    assert refused(api.upload(api.login(MALLORY), tagged), tid)["match"]["kind"] == "exact"


def test_reencoded_copies_are_refused(api, world):
    tid, _ = list_upload(api, world, VICTIM, music_bytes(5, 40), title="Re-encoded")
    sync(api, world)
    samples, rate = music_samples(5, 40), 44100
    copies = {"flac": (encode(samples, rate, "FLAC"), "copy.flac", "audio/flac"),
              "mp3 128k": (encode(samples, rate, "MP3"), "copy.mp3", "audio/mpeg"),
              "22.05 kHz": (encode(resample(samples, 0.5), 22050), "copy.wav", "audio/wav"),
              "trimmed 2 s": (encode(trim_start(samples, rate, 2.0), rate), "copy.wav", "audio/wav"),
              "prepended": (encode(prepend(samples, music_samples(99, 15)), rate), "copy.wav", "audio/wav"),
              "4% faster": (encode(change_speed(samples, 1.04), rate), "copy.wav", "audio/wav")}
    # One wallet each: a wallet's fourth refusal in a day is a 429 (tested below).
    for index, (variant, (data, name, kind)) in zip(range(3, 10), copies.items()):
        body = refused(api.upload(api.login(index), data, name=name, content_type=kind), tid)
        print(f"{variant}: {body['match']}")


def test_distinct_recordings_and_unregistered_uploads_are_not_refused(api, world):
    tid, _ = list_upload(api, world, VICTIM, music_bytes(6, 40))
    sync(api, world)
    assert api.upload(api.login(MALLORY), music_bytes(7, 40)).status_code == 201  # another piece
    # Uploaded but never registered: claims nothing.
    assert api.upload(api.login(VICTIM), music_bytes(8, 40)).status_code == 201
    assert api.upload(api.login(MALLORY), music_bytes(8, 40)).status_code == 201


def test_the_same_artist_may_upload_a_new_version(api, world):
    list_upload(api, world, VICTIM, music_bytes(9, 40))
    sync(api, world)
    remaster = encode(trim_start(music_samples(9, 40), 44100, 1.0), 44100, "FLAC")
    assert api.upload(api.login(VICTIM), remaster, name="v2.flac", content_type="audio/flac").status_code == 201


def test_more_than_three_refused_matches_a_day_answer_429_and_the_owner_can_allow_one(api, world):
    tid, _ = list_upload(api, world, VICTIM, music_bytes(10, 40))
    sync(api, world)
    mallory = api.login(MALLORY)
    copy = music_bytes(10, 40, fmt="FLAC")
    ids = [refused(api.upload(mallory, copy, name="c.flac", content_type="audio/flac"), tid)["refusal_id"]
           for _ in range(3)]
    fourth = api.upload(mallory, copy, name="c.flac", content_type="audio/flac")
    assert fourth.status_code == 429 and int(fourth.headers["retry-after"]) > 0
    # A counter-notice for one's own refusal; never for someone else's.
    notice = {"refusal_id": ids[0], "statement": "I licensed this recording from its label.", "contact": "m@x.example"}
    assert api.post_json("/api/moderation/counter-notices", notice, headers=mallory).status_code == 201
    assert api.post_json("/api/moderation/counter-notices", notice, headers=mallory).status_code == 409  # once
    assert api.post_json("/api/moderation/counter-notices", notice, headers=api.login(FAN)).status_code == 404
    queue = subprocess.run([sys.executable, "-m", "ninety.cli", "moderate", "queue"], env=api.env,
                           capture_output=True, text=True, timeout=60)
    assert queue.returncode == 0 and f"matches track {tid}" in queue.stdout and "licensed" in queue.stdout
    # The owner allows one refused recording for that wallet; the refusals then age out of the day.
    allowed = subprocess.run([sys.executable, "-m", "ninety.cli", "moderate", "allow", str(ids[0]), "--note", "label"],
                             env=api.env, capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0, allowed.stderr
    from sqlalchemy import update

    from backend.models import UploadRefusal
    from ninety.db import make_engine

    engine = make_engine(api.db_url)
    with engine.begin() as conn:  # a day later
        conn.execute(update(UploadRefusal).values(created_at=1.0))
    engine.dispose()
    assert api.upload(mallory, copy, name="c.flac", content_type="audio/flac").status_code == 201


def test_relisting_your_own_recording_cannot_cut_its_collaborators(api, world):
    """Found by review (issue 17): an artist could not cut a collaborator's share of a track
    without their consent, but could delist the track, upload the same recording again
    and list it with a split that leaves the collaborator out. The catalog signer now
    binds the split into the attestation and refuses one that pays the earlier track's
    other payees less; changing that track's split (with their consent) is the way."""
    recording = music_bytes(21, 32)
    artist, collaborator = wallet(VICTIM), wallet(FAN)
    duo = json.dumps([{"address": artist, "share_ppm": 600_000}, {"address": collaborator, "share_ppm": 400_000}])
    tid, up = list_upload(api, world, VICTIM, recording, split=duo, title="Duo")
    m = world.market
    m.update_track(tid, 10**15, False, artist)  # delisting needs nobody's consent
    sync(api, world)
    headers = api.login(VICTIM)
    # The same recording again, alone: refused before anything is pinned, naming who loses.
    solo = json.dumps([{"address": artist, "share_ppm": 1_000_000}])
    r = api.upload(headers, recording, split=solo, title="Duo (solo)")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["title"] == "Collaborators would lose share" and body["track"]["track_id"] == tid
    assert body["losers"] == [{"address": collaborator.lower(), "share_ppm": 400_000, "new_share_ppm": 0}]
    # A smaller cut is a cut too.
    less = json.dumps([{"address": artist, "share_ppm": 700_000}, {"address": collaborator, "share_ppm": 300_000}])
    assert api.upload(headers, recording, split=less).status_code == 409
    # Keeping (or raising) their share is a new version the artist may list.
    more = json.dumps([{"address": artist, "share_ppm": 500_000}, {"address": collaborator, "share_ppm": 500_000}])
    again = api.upload(headers, recording, split=more, title="Duo (remaster)")
    assert again.status_code == 201, again.text
    cid = again.json()["metadata_cid"]
    # The attestation for that upload lists only with that split, not with a solo one...
    mine = m.create_split([(artist, 1_000_000)], artist)
    fn = m.contract.functions.registerTrack(cid, mine, Web3.to_checksum_address(ETH), 10**15,
                                            bytes.fromhex(again.json()["attestation"][2:]))
    assert reverts(world, fn, artist) == "Marketplace__InvalidAttestation"
    # ... and a fresh attestation for the solo split is refused too.
    fresh = api.post_json(f"/api/uploads/{cid}/attestation",
                          {"split": [{"address": artist, "share_ppm": 1_000_000}]}, headers=headers)
    assert fresh.status_code == 409 and fresh.json()["losers"][0]["address"] == collaborator.lower(), fresh.text
    ok = api.post_json(f"/api/uploads/{cid}/attestation", {"split": json.loads(more)}, headers=headers)
    assert ok.status_code == 200 and ok.json()["split_id"] == again.json()["split_id"], ok.text
    send(world, again.json()["create_split_call"], artist)
    fn = m.contract.functions.registerTrack(cid, again.json()["split_id"], Web3.to_checksum_address(ETH), 10**15,
                                            bytes.fromhex(ok.json()["attestation"][2:]))
    # Wait for the receipt: Anvil answers eth_sendTransaction before its miner has run.
    receipt = world.w3.eth.wait_for_transaction_receipt(fn.transact({"from": Web3.to_checksum_address(artist)}))
    assert receipt["status"] == 1
    assert m.contract.functions.trackCount().call() == tid + 1


def test_a_listing_artist_name_cannot_pass_for_another_wallet_or_name(api, world):
    """A listing's artist name is shown wherever the listing is (its JSON, the moderation
    view, third-party clients reading the API), not only through /api/names: it obeys the
    display-name rules profiles do. Before, an upload named itself with another wallet's
    short address, a Cyrillic look-alike of a real artist or a Hangul filler, and got it."""
    h = api.login(MALLORY)
    audio = music_bytes(7, 4)
    for bad in ("0x7099…79C8", "\u0410da Lovetone", "Ada\u3164Lovetone", "\u3164"):
        r = api.upload(h, audio, artist_name=bad)
        assert r.status_code == 422 and "artist_name" in r.text, (bad, r.status_code, r.text)
        data, files = release_form([1], title="Copy", artist_name=bad)
        r = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers=h, timeout=60)
        assert r.status_code == 422 and "artist_name" in r.text, (bad, r.status_code, r.text)
    # Fullwidth letters are kept as the plain ones they show as (NFKC), as profile names are.
    r = api.upload(h, audio, artist_name="\uff2d\uff41\uff4c\uff4c\uff4f\uff52\uff59  Band")
    assert r.status_code == 201, r.text
    doc = json.loads(Ipfs(api.env["NINETY_IPFS_API"]).cat(r.json()["metadata_cid"]))
    assert doc["properties"]["artist"] == "Mallory Band"
