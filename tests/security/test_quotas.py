"""Upload quotas against the real server (uvicorn in its own process): signing in is free,
so a wallet's uploads per day and its bytes pinned but not registered are capped (429 with
Retry-After), and what nobody registers is unpinned and forgotten after NINETY_UPLOAD_TTL."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from ninety.ipfs import Ipfs
from tests.support.live_api import until
from tests.support.media import wav_bytes

UPLOADS_PY = (Path(__file__).resolve().parents[2] / "backend" / "api" / "uploads.py").read_text()
wired = pytest.mark.skipif("check_upload_quota(" not in UPLOADS_PY,
                           reason="backend/api/uploads.py does not call check_upload_quota yet")


def register(api, upload: dict, account: int) -> None:
    """The wallet sends the two calls the upload answered with."""
    w3, sender = api.world.w3, api.world.accounts[account]
    for call in (upload["create_split_call"], upload["register_call"]):
        tx = w3.eth.send_transaction({"from": sender, "to": call["to"], "data": call["data"]})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@wired
def test_uploads_per_day_are_capped(live_api):
    api = live_api(NINETY_UPLOADS_PER_DAY="2")
    h = api.login(1)
    for freq in (220.0, 330.0):
        r = api.upload(h, wav_bytes(2.0, freq))
        assert r.status_code == 201, r.text
    t0 = time.monotonic()
    refused = api.upload(h, wav_bytes(2.0, 440.0))
    print(f"\nthird upload of the day: {refused.status_code} in {time.monotonic() - t0:.2f} s, "
          f"Retry-After {refused.headers.get('retry-after')}: {refused.json().get('detail')}")
    assert refused.status_code == 429, refused.text
    assert 86_000 < int(refused.headers["retry-after"]) <= 86_400
    assert api.upload(api.login(2), wav_bytes(2.0, 550.0)).status_code == 201  # quotas are per wallet


@wired
def test_unregistered_bytes_are_capped_until_registered(live_api):
    first, second = wav_bytes(3.0, 220.0), wav_bytes(3.0, 330.0)
    api = live_api(NINETY_MAX_UNREGISTERED_BYTES=str(len(first) + len(second) // 2))
    api.start_indexer()
    h = api.login(1)
    up = api.upload(h, first)
    assert up.status_code == 201, up.text
    refused = api.upload(h, second)
    print(f"\nsecond upload with {len(first):,} B unregistered: {refused.status_code}, Retry-After "
          f"{refused.headers.get('retry-after')}: {refused.json().get('detail')}")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 3600, refused.text
    register(api, up.json(), 1)
    until(lambda: api.get("/api/tracks", params={"artist": api.world.accounts[1]}).json()["items"], 60,
          "the first track registered and indexed")
    assert api.upload(h, second).status_code == 201


def test_unregistered_uploads_are_unpinned_after_the_ttl(live_api, ipfs_node):
    api = live_api(NINETY_UPLOAD_TTL="8")
    api.start_indexer()
    h = api.login(1)
    kept = api.upload(h, wav_bytes(2.0, 220.0))
    assert kept.status_code == 201, kept.text
    kept = kept.json()
    register(api, kept, 1)  # well within its 8 s
    dropped = api.upload(h, wav_bytes(2.0, 330.0))
    assert dropped.status_code == 201, dropped.text
    dropped = dropped.json()
    ipfs = Ipfs(ipfs_node.url)
    files = ("metadata_cid", "audio_cid", "preview_cid")
    t0 = time.monotonic()
    until(lambda: not {dropped[f] for f in files} & ipfs.pins(), 60, "the unregistered upload unpinned", every=0.5)
    print(f"\nunregistered upload unpinned {time.monotonic() - t0:.1f} s after it was made (TTL 8 s)")
    pins = ipfs.pins()
    assert {kept[f] for f in files} <= pins, "a registered upload keeps its files"
    if kept["artwork_cid"] == dropped["artwork_cid"]:
        assert kept["artwork_cid"] in pins, "a file the registered upload shares stays pinned"
    tid = api.get("/api/tracks", params={"artist": api.world.accounts[1]}).json()["items"][0]["track_id"]
    assert api.get(f"/api/tracks/{tid}/preview").status_code == 200
