"""Takedowns (issue 13): the owner blocks a track with `ninety moderate block`, with a
public reason pinned to IPFS; the chain refuses sales, the store hides it, its download
answers 451 with the reason, and its recording cannot be uploaded again, by anyone.
Unblocking restores it. Real chain, IPFS node, API server and indexer."""
from __future__ import annotations

import json
import subprocess
import sys

from ninety.ipfs import Ipfs
from tests.support.listings import FAN, MALLORY, VICTIM, list_upload, refused, reverts, sync, wallet
from tests.support.media import music_bytes


def moderate(api, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ninety.cli", "moderate", *args], env=api.env,
                          capture_output=True, text=True, timeout=120)


def test_a_takedown_stops_sales_downloads_and_reuploads_until_lifted(api, world, tmp_path):
    tid, _ = list_upload(api, world, VICTIM, music_bytes(11, 40), title="Disputed")
    world.market.buy(tid, 10**15, wallet(FAN))
    sync(api, world)
    fan = api.login(FAN)
    assert api.get(f"/api/tracks/{tid}/download", headers=fan).status_code == 200

    reason = tmp_path / "reason.txt"
    reason.write_text("Claimed by its label (notice 2026-117); the artist has been told.")
    done = moderate(api, "block", str(tid), "--reason", str(reason))
    assert done.returncode == 0, done.stdout + done.stderr
    m = world.market
    fn = m.contract.functions.buy(tid, 10**15)
    assert reverts(world, fn, wallet(FAN)) == "Marketplace__TrackBlocked"
    sync(api, world)

    assert tid not in [t["track_id"] for t in api.get("/api/tracks").json()["items"]]
    shown = api.get(f"/api/tracks/{tid}").json()
    assert shown["blocked"] is True and shown["block_reason_cid"]
    for what in ("download", "preview"):
        r = api.get(f"/api/tracks/{tid}/{what}", headers=fan)
        assert r.status_code == 451 and r.json()["reason_cid"] == shown["block_reason_cid"], (what, r.text)
    with Ipfs(api.env["NINETY_IPFS_API"]) as ipfs:
        doc = json.loads(ipfs.cat(shown["block_reason_cid"]))
    assert doc["track_id"] == tid and "label" in doc["reason"]
    listed = api.get("/api/moderation/takedowns").json()["items"]
    assert [(t["track_id"], t["blocked"], t["reason_cid"]) for t in listed] == [(tid, True, shown["block_reason_cid"])]

    # The recording is blocked too: nobody uploads it again, its own artist included.
    for index in (VICTIM, MALLORY):
        body = refused(api.upload(api.login(index), music_bytes(11, 40)), tid)
        assert body["track"]["blocked"] is True and "taken down" in body["detail"]
    # The artist answers with a counter-notice; the owner lifts the block.
    notice = {"track_id": tid, "statement": "This is my own recording; the claim is mistaken.", "contact": "a@x.example"}
    assert api.post_json("/api/moderation/counter-notices", notice, headers=api.login(VICTIM)).status_code == 201
    assert api.post_json("/api/moderation/counter-notices", notice, headers=api.login(MALLORY)).status_code == 404
    reason.write_text("Counter-notice accepted.")
    done = moderate(api, "unblock", str(tid), "--reason", str(reason))
    assert done.returncode == 0, done.stdout + done.stderr
    sync(api, world)
    assert tid in [t["track_id"] for t in api.get("/api/tracks").json()["items"]]
    assert api.get(f"/api/tracks/{tid}/download", headers=fan).status_code == 200
    assert [t["blocked"] for t in api.get("/api/moderation/takedowns").json()["items"]] == [False, True]
    # Blocking needs a reason; an unknown track is refused before any transaction.
    reason.write_text("   ")
    assert moderate(api, "block", str(tid), "--reason", str(reason)).returncode != 0
    reason.write_text("x")
    bad = moderate(api, "block", "999", "--reason", str(reason))
    assert bad.returncode != 0 and "UnknownTrack" in bad.stdout + bad.stderr
